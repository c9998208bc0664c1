"""The ``exactcl`` command line on good input.

Most cases run in-process through :func:`exactcl.interfaces.cli.main` with ``capsys``;
a few go through a real interpreter (``python -m exactcl`` and the
installed console script) to prove the entry point works end to end.

Law strings printed by the CLI are checked independently with SymPy: each
must parse, and its gradient must be orthogonal to the gradient of every
component of phi, where phi is rebuilt here from the model's definition
(not taken from exactcl).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest
import sympy
from sympy.parsing.sympy_parser import parse_expr

from exactcl.interfaces.cli import DEFAULT_SPEC, main

from .helpers import assert_refused

# --------------------------------------------------------------------------- helpers


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the CLI in-process; (exit status, stdout, stderr)."""
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse exits on its own errors and on --help
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys, *argv: str) -> dict:
    rc, out, err = run(capsys, *argv)
    assert rc == 0, err
    data = json.loads(out)  # the whole of stdout is one JSON document
    assert isinstance(data, dict)
    return data


def run_module(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exactcl", *argv],
                          capture_output=True, text=True, check=False, timeout=timeout)


def sym(name: str) -> sympy.Symbol:
    return sympy.Symbol(name)


def parse_law(text: str) -> sympy.Expr:
    """Parse a printed law with every identifier a plain symbol."""
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    return parse_expr(text, local_dict={n: sym(n) for n in names})


def phi_linear(widths: list[int]) -> tuple[list[sympy.Expr], list[sympy.Symbol]]:
    """Entries of W_L ... W_1 with W_l[i, j] named W{l}_{i}_{j} (n_l x n_{l-1})."""
    mats, syms = [], []
    for layer in range(1, len(widths)):
        rows = [[sym(f"W{layer}_{i}_{j}") for j in range(widths[layer - 1])]
                for i in range(widths[layer])]
        syms += [s for row in rows for s in row]
        mats.append(sympy.Matrix(rows))
    prod = mats[0]
    for M in mats[1:]:
        prod = M * prod
    return [sympy.expand(e) for e in prod], syms


def phi_product(D: int) -> tuple[list[sympy.Expr], list[sympy.Symbol]]:
    syms = [sym(f"t{i}") for i in range(1, D + 1)]
    return [sympy.Mul(*syms)], syms


def is_conserved(h: sympy.Expr, phi: list[sympy.Expr], syms: list[sympy.Symbol]) -> bool:
    """grad h . grad phi_i == 0 for every component, as polynomials."""
    return all(sympy.expand(sum(sympy.diff(h, s) * sympy.diff(p, s) for s in syms)) == 0
               for p in phi)


# --------------------------------------------------------------------------- count

COUNT_KEYS = {"parameters", "laws", "bounds", "lie_dimension", "status", "proof",
              "explicit_laws", "seconds"}

# (argv after `count`, D, laws)
COUNT_EXAMPLES = [
    pytest.param(["linear:2,2,2"], 8, 3, id="linear:2,2,2"),
    pytest.param(["product:3"], 3, 2, id="product:3"),
    pytest.param(["relu:3,4,5"], 32, 4, id="relu:3,4,5"),
    pytest.param(["relu-bias:2,3,2"], 15, 3, id="relu-bias:2,3,2"),
    pytest.param(["--phi", "u*v**2"], 2, 1, id="phi=u*v**2"),
    pytest.param(["--phi", "u*v1", "--phi", "u*v2", "--vars", "u,v1,v2"], 3, 1,
                 id="phi=(u*v1,u*v2)"),
    pytest.param(["--phi", "u*v**2", "--degree", "2"], 2, 1, id="phi=u*v**2-degree-2"),
]


@pytest.mark.parametrize("args, D, n_laws", COUNT_EXAMPLES)
def test_count_json(capsys, args, D, n_laws):
    data = run_json(capsys, "count", *args, "--json")
    assert COUNT_KEYS <= set(data)
    assert data["parameters"] == D
    assert data["laws"] == n_laws
    assert data["bounds"] == [n_laws, n_laws]
    assert data["lie_dimension"] == D - n_laws
    assert data["status"] == "certified"
    assert data["proof"] in ("sandwich", "closure")
    assert data["explicit_laws"] == n_laws
    assert isinstance(data["seconds"], (int, float)) and data["seconds"] >= 0


def test_count_json_linear_222_exact_values(capsys):
    data = run_json(capsys, "count", "linear:2,2,2", "--json")
    assert data["model"] == "linear:2,2,2"
    assert (data["parameters"], data["laws"], data["lie_dimension"]) == (8, 3, 5)
    assert (data["status"], data["proof"]) == ("certified", "sandwich")
    assert data["lie_rank_lower_bound"] == 5
    assert data["rejected_candidates"] == []


def test_count_json_is_sorted_and_deterministic(capsys):
    rc1, out1, _ = run(capsys, "count", "product:3", "--json")
    rc2, out2, _ = run(capsys, "count", "product:3", "--json")
    assert rc1 == rc2 == 0
    keys = list(json.loads(out1))
    assert keys == sorted(keys)

    def drop_time(text: str) -> dict:
        d = json.loads(text)
        d.pop("seconds")
        return d

    assert drop_time(out1) == drop_time(out2)


def test_count_human_readable(capsys):
    rc, out, err = run(capsys, "count", "linear:2,2,2")
    assert rc == 0
    assert err == ""
    assert "linear:2,2,2" in out and "D = 8" in out
    assert re.search(r"^laws\s+3\b", out, re.MULTILINE), out
    assert "certified" in out and "sandwich" in out
    assert re.search(r"^proof\s+Proven by sandwich", out, re.MULTILINE), out
    assert "8 - 5 = 3" in out


def test_count_human_readable_custom_phi(capsys):
    rc, out, _ = run(capsys, "count", "--phi", "u*v1", "--phi", "u*v2", "--vars", "u,v1,v2")
    assert rc == 0
    assert "D = 3" in out
    assert re.search(r"^laws\s+1\b", out, re.MULTILINE), out
    assert "sandwich" in out


def test_count_without_spec_uses_default(capsys):
    rc, out, err = run(capsys, "count")
    assert rc == 0
    assert DEFAULT_SPEC in err  # the note says which model was chosen
    assert DEFAULT_SPEC in out
    assert re.search(r"^laws\s+\d+", out, re.MULTILINE)


def test_count_without_spec_json_matches_explicit_default(capsys):
    implicit = run_json(capsys, "count", "--json")
    explicit = run_json(capsys, "count", DEFAULT_SPEC, "--json")
    implicit.pop("seconds")
    explicit.pop("seconds")
    assert implicit["model"] == DEFAULT_SPEC
    assert implicit == explicit


def test_count_seed_does_not_change_the_count(capsys):
    a = run_json(capsys, "count", "relu:2,3,2", "--json", "--seed", "0")
    b = run_json(capsys, "count", "relu:2,3,2", "--json", "--seed", "12345")
    assert (a["laws"], a["lie_dimension"]) == (b["laws"], b["lie_dimension"])


# --------------------------------------------------------------------------- laws

LAWS_KEYS = {"laws", "independent", "degree", "homogeneous", "model", "parameters"}

U, V = sym("u"), sym("v")

# (argv after `laws`, exact law strings, independent, (phi, symbols) for the SymPy check)
LAWS_EXAMPLES = [
    pytest.param(["--phi", "u*v**2", "--degree", "2"], ["2*u**2 - v**2"], 1,
                 ([U * V**2], [U, V]), id="phi=u*v**2-deg2"),
    pytest.param(["--phi", "u+v", "--degree", "2"], ["u**2 - 2*u*v + v**2", "u - v"], 1,
                 ([U + V], [U, V]), id="phi=u+v-deg2"),
    pytest.param(["product:2", "--degree", "2"], ["t1**2 - t2**2"], 1,
                 phi_product(2), id="product:2-deg2"),
    pytest.param(["product:3", "--degree", "3"], ["t1**2 - t3**2", "t2**2 - t3**2"], 2,
                 phi_product(3), id="product:3-deg3"),
    pytest.param(["linear:2,2,2", "--degree", "2"],
                 ["W1_0_0**2 + W1_0_1**2 - W2_0_0**2 - W2_1_0**2",
                  "W1_0_0*W1_1_0 + W1_0_1*W1_1_1 - W2_0_0*W2_0_1 - W2_1_0*W2_1_1",
                  "W1_1_0**2 + W1_1_1**2 - W2_0_1**2 - W2_1_1**2"], 3,
                 phi_linear([2, 2, 2]), id="linear:2,2,2-deg2"),
    pytest.param(["product:3", "--degree", "1"], [], 0, phi_product(3), id="product:3-deg1"),
    pytest.param(["product:3", "--degree", "0"], [], 0, phi_product(3), id="product:3-deg0"),
]


@pytest.mark.parametrize("args, expected, independent, phi_syms", LAWS_EXAMPLES)
def test_laws_json(capsys, args, expected, independent, phi_syms):
    data = run_json(capsys, "laws", *args, "--json")
    assert LAWS_KEYS <= set(data)
    assert data["laws"] == expected
    assert all(isinstance(s, str) for s in data["laws"])
    assert data["independent"] == independent
    assert data["homogeneous"] is False
    assert data["degree"] == int(args[args.index("--degree") + 1])
    # independent check with SymPy: every printed law is conserved
    phi, syms = phi_syms
    assert data["parameters"] == len(syms)
    for text in data["laws"]:
        h = parse_law(text)
        assert h.free_symbols <= set(syms)
        assert is_conserved(h, phi, syms), text


def test_laws_custom_phi_exact_output(capsys):
    data = run_json(capsys, "laws", "--phi", "u*v**2", "--degree", "2", "--json")
    assert data["laws"] == ["2*u**2 - v**2"]
    assert data["independent"] == 1
    assert data["model"] == "custom"


def test_laws_vars_fix_the_order_and_extra_parameters(capsys):
    # an unused declared parameter w is itself a law
    data = run_json(capsys, "laws", "--phi", "u*v**2", "--vars", "u,v,w", "--degree", "1",
                    "--json")
    assert data["parameters"] == 3
    assert data["laws"] == ["w"]


def test_laws_human_readable(capsys):
    rc, out, err = run(capsys, "laws", "product:3", "--degree", "2")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert "product:3" in lines[0] and "D = 3" in lines[0]
    assert "2 polynomial laws" in lines[0] and "of degree <= 2" in lines[0]
    assert "2 functionally independent" in lines[0]
    assert [ln.strip() for ln in lines[1:]] == ["t1**2 - t3**2", "t2**2 - t3**2"]


def test_laws_latex_human(capsys):
    rc, out, _ = run(capsys, "laws", "--phi", "u*v**2", "--degree", "2", "--latex")
    assert rc == 0
    assert [ln.strip() for ln in out.splitlines()[1:]] == ["2 u^{2} - v^{2}"]


@pytest.mark.parametrize("args", [
    pytest.param(["--phi", "u*v**2", "--degree", "2"], id="phi=u*v**2"),
    pytest.param(["linear:2,2,2", "--degree", "2"], id="linear:2,2,2"),
])
def test_laws_latex_json_matches_sympy(capsys, args):
    data = run_json(capsys, "laws", *args, "--latex", "--json")
    assert len(data["latex"]) == len(data["laws"]) > 0
    assert data["latex"] == [sympy.latex(parse_law(s)) for s in data["laws"]]


def test_laws_without_latex_has_no_latex_key(capsys):
    data = run_json(capsys, "laws", "product:2", "--degree", "2", "--json")
    assert "latex" not in data


def test_laws_homogeneous(capsys):
    full = run_json(capsys, "laws", "--phi", "u+v", "--degree", "2", "--json")
    homo = run_json(capsys, "laws", "--phi", "u+v", "--degree", "2", "--homogeneous", "--json")
    assert full["homogeneous"] is False and homo["homogeneous"] is True
    assert homo["laws"] == ["u**2 - 2*u*v + v**2"]
    assert set(homo["laws"]) < set(full["laws"])
    for text in homo["laws"]:
        h = sympy.Poly(parse_law(text), U, V)
        assert h.is_homogeneous and h.total_degree() == 2


def test_laws_homogeneous_product(capsys):
    two = run_json(capsys, "laws", "product:3", "--degree", "2", "--homogeneous", "--json")
    three = run_json(capsys, "laws", "product:3", "--degree", "3", "--homogeneous", "--json")
    assert two["laws"] == ["t1**2 - t3**2", "t2**2 - t3**2"]
    assert three["laws"] == [] and three["independent"] == 0


def test_laws_homogeneous_human(capsys):
    rc, out, _ = run(capsys, "laws", "product:3", "--degree", "2", "--homogeneous")
    assert rc == 0
    assert "homogeneous of degree 2" in out.splitlines()[0]


# --------------------------------------------------------------------------- real entry point


def test_module_entry_point_count_json():
    proc = run_module("count", "linear:2,2,2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    data = json.loads(proc.stdout)
    assert (data["parameters"], data["laws"], data["proof"]) == (8, 3, "sandwich")


def test_module_entry_point_laws():
    proc = run_module("laws", "--phi", "u*v**2", "--degree", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["laws"] == ["2*u**2 - v**2"]


def test_module_entry_point_bad_input_is_one_line():
    proc = run_module("count", "linear:0,3")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("exactcl: error:") and "'SPEC'" in proc.stderr


#: Prints which of the heavy packages a fresh interpreter has loaded so far.
LOADED_HEAVY = ("import sys; print(sorted({m.split('.')[0] for m in sys.modules}"
                " & {'networkx', 'sympy'}))")


@pytest.mark.parametrize("code", [
    "from exactcl.interfaces.cli import main; main(['count', 'product:3'])",
    "from exactcl.interfaces.cli import main; main(['count', 'linear:2,2,2', '--json'])",
    "import exactcl; exactcl.count(exactcl.product(3))",
    "import exactcl; exactcl.certify(exactcl.linear([2, 2, 2]), {path!r}, reproducible=True)",
], ids=["cli-count", "cli-count-json", "api-count", "api-certify"])
def test_count_on_a_built_in_spec_imports_neither_networkx_nor_sympy(code, tmp_path):
    # the provenance graph (networkx) is built only when asked for, and SymPy
    # only converts at the edge: neither is needed to count or certify
    code = code.format(path=str(tmp_path / "c.json"))
    proc = subprocess.run([sys.executable, "-c", f"{code}\n{LOADED_HEAVY}"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"


def test_module_entry_point_count_imports_neither_networkx_nor_sympy():
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "exactcl", "count",
                           "product:3"], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0]
                for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert {"exactcl", "flint"} <= imported  # the listing was read
    assert not imported & {"networkx", "sympy"}


@pytest.mark.skipif(shutil.which("exactcl") is None, reason="console script not on PATH")
def test_console_script():
    proc = subprocess.run(["exactcl", "count", "product:3", "--json"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["laws"] == 2


#: Modules that ``exactcl --version`` must not load (it answers at once).
HEAVY = ("flint", "sympy", "networkx", "matplotlib", "numpy")

VERSION_PROBE = """
import sys
from exactcl.interfaces.cli import main
try:
    main(["--version"])
except SystemExit as exc:
    code = exc.code
print(code, sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:])), file=sys.stderr)
"""


def test_version_is_the_package_version_and_loads_nothing_heavy():
    import exactcl
    proc = subprocess.run([sys.executable, "-c", VERSION_PROBE, *HEAVY], capture_output=True,
                          text=True, check=True, timeout=60)
    assert proc.stdout == f"exactcl {exactcl.__version__}\n"
    assert proc.stderr.split() == ["0", "[]"], proc.stderr
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    from pathlib import Path
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    assert tomllib.loads(pyproject.read_text())["project"]["version"] == exactcl.__version__


def test_python_dash_m_exactcl_is_the_command():
    import exactcl
    proc = subprocess.run([sys.executable, "-m", "exactcl", "--version"], capture_output=True,
                          text=True, check=False, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, f"exactcl {exactcl.__version__}\n")
    as_package = subprocess.run([sys.executable, "-m", "exactcl", "count", "linear:2,2,2",
                                 "--json"], capture_output=True, text=True, check=True,
                                timeout=60)
    as_module = run_module("count", "linear:2,2,2", "--json")
    drop = lambda out: {k: v for k, v in json.loads(out).items() if k != "seconds"}  # noqa: E731
    assert drop(as_package.stdout) == drop(as_module.stdout)
    bad = subprocess.run([sys.executable, "-m", "exactcl", "count", "linear:0,3"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("exactcl: error:"), bad.stderr
    usage = subprocess.run([sys.executable, "-m", "exactcl"], capture_output=True, text=True,
                           check=False, timeout=60)
    assert usage.returncode == 2 and usage.stdout.startswith("usage: exactcl ")


@pytest.mark.skipif(shutil.which("exactcl") is None, reason="console script not on PATH")
def test_console_script_version():
    import exactcl
    proc = subprocess.run(["exactcl", "--version"], capture_output=True, text=True,
                          check=False, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, f"exactcl {exactcl.__version__}\n")


def test_help_exits_zero(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0
    assert "count" in out and "laws" in out


def test_no_command_prints_usage_and_exits_2(capsys):
    rc, out, err = run(capsys)
    assert rc == 2
    assert "usage" in (out + err).lower()
    assert "Traceback" not in out + err


@pytest.mark.parametrize("argv, fragments", [
    (["count", "linear:2,2,2", "--flow", "momentum:1", "--flow", "nesterov"],
     ["'--flow' is given twice ('momentum:1' and 'nesterov')"]),
    (["count", "linear:2,2,2", "--flow", "momentum:1", "--subset", "W1"],
     ["'--subset' and '--flow' do not go together"]),
    (["certify", "linear:2,2,2", "--flow", "metric:diag", "--subset", "W1", "-o", "x.json"],
     ["'--subset' and '--flow' do not go together"]),
    (["laws", "nmf:2,2,1", "--subset", "U", "--degree", "2"],
     ["'--subset' is for the gradient flow", "add --flow gradient"]),
    (["count", "linear:2,2,2", "--flow", "momentum:+1"],
     ["'--flow' must give momentum its damping as momentum:TAU", "not 'momentum:+1'"]),
    (["count", "linear:2,2,2", "--flow", "momentum:" + "1" * 5000],
     ["'--flow' gives momentum a damping of 5000 characters"]),
    (["count", "linear:2,2,2", "--flow", "momentum:1/" + "7" * 101],
     ["more than 100 digits"]),
], ids=["flow-twice", "flow-and-subset", "certify-flow-and-subset", "own-metric-and-subset",
        "signed-damping", "damping-of-5000-digits", "denominator-of-101-digits"])
def test_flow_and_subset_options_are_refused_up_front(capsys, tmp_path, monkeypatch, argv,
                                                      fragments):
    monkeypatch.chdir(tmp_path)
    assert_refused(capsys, argv, fragments)
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_with_a_bad_flow_writes_nothing(capsys, tmp_path):
    out = tmp_path / "sweep"
    assert_refused(capsys, ["sweep", "--spec", "linear:2,2,2", "--spec", "relu:2,2,2",
                            "--flow", "metric:diag:W9", "-o", str(out)],
                   ["'--flow' names the tensor 'W9'", "(case linear:2,2,2)"])
    assert not out.exists()
    assert_refused(capsys, ["sweep", "--spec", "linear:2,2,2", "--flow", "momentum:1",
                            "--flow", "gradient", "-o", str(out)], ["given twice"])
    assert not out.exists()

"""Inputs that used to hang or crash: refused up front, with one line.

Requests that would run for minutes (huge powers in --phi, law searches
of huge degree, millions of gradient steps) are refused before any work,
naming the argument and the bound. Inputs that made FLINT abort the
process (a composite or unit prime) are tried in a child interpreter, so
this one survives if they ever crash again. No test measures time: the
children run under a generous timeout and a memory limit.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import exactcl
import exactcl.models.symbolic
from exactcl.errors import InputError, ResourceError
from exactcl.interfaces.cli import main
from tests.helpers import assert_refused, run_cli

# --------------------------------------------------------------------------- helpers




def _limit_memory():  # pragma: no cover - runs in the child
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def run_child(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """The command line in a child with 1 GiB of address space."""
    preexec = _limit_memory if sys.platform.startswith("linux") else None
    try:
        return subprocess.run([sys.executable, "-m", "exactcl", *argv], capture_output=True,
                              text=True, check=False, timeout=timeout, preexec_fn=preexec)
    except subprocess.TimeoutExpired:
        pytest.fail(f"exactcl {' '.join(argv)} was still running after {timeout} s")


def assert_child_refuses(argv, fragments):
    proc = run_child(argv)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert proc.stderr.startswith("exactcl: error: ") and proc.stderr.count("\n") == 1
    for frag in fragments:
        assert frag in proc.stderr, (frag, proc.stderr)


# --------------------------------------------------------------------------- 6. parsing


@pytest.mark.parametrize("phi, fragments", [
    pytest.param("9**9**9", ["'--phi'", "'9**9**9'", "387420489"], id="9**9**9"),
    pytest.param("u*9**9**9", ["'--phi'", "'9**9**9'"], id="u*9**9**9"),
    pytest.param("exp(9**9**9)*u", ["'--phi'", "'9**9**9'"], id="inside-a-call"),
    pytest.param("u*v^(9^9^9)", ["'--phi'", "9**9**9"], id="caret"),
    pytest.param("u*(10**999)**5", ["'--phi'", "'(10**999)**5'", "digits"], id="huge-constant"),
])
def test_cli_refuses_huge_powers_before_evaluating_them(phi, fragments):
    assert_child_refuses(["count", "--phi", phi], fragments)


@pytest.mark.parametrize("text, piece", [
    ("u**2000", "'u**2000'"), ("u^1001*v", "'u**1001'"), ("u**(-5000)", "'u**(-5000)'"),
    ("u**(10**9/3)", "'u**(10**9/3)'"), ("2**100000*u", "'2**100000'"),
    ("u*(" + "*".join(["10**900"] * 6) + ")", "10**900*10**900"),
])
def test_parse_names_the_piece_that_is_too_large(text, piece):
    with pytest.raises(InputError) as info:
        exactcl.models.symbolic.parse(text, "--phi")
    assert "'--phi'" in str(info.value) and piece in str(info.value)


@pytest.mark.parametrize("text", ["u**1000*v", "2**1000*u*v", "(u+v)**3", "u**(1/2)", "u**v",
                                  "(10**999)**4*u"])
def test_parse_keeps_what_is_within_the_bounds(text):
    exactcl.models.symbolic.parse(text, "--phi")  # refused later, if at all, for what it is


def test_api_from_phi_bounds_powers_in_strings():
    with pytest.raises(InputError, match="exponent"):
        exactcl.from_phi(["u*v**5000"])


# --------------------------------------------------------------------------- 6. law searches


@pytest.mark.parametrize("argv", [
    ["laws", "--phi", "u*v**2", "--degree", "1000"],
    ["count", "--phi", "u*v**2", "--degree", "1000"],
    ["certify", "--phi", "u*v**2", "--degree", "1000", "-o", "c.json"],
], ids=["laws", "count", "certify"])
def test_cli_refuses_a_law_search_of_huge_degree(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_child_refuses(argv, ["'--degree'", "1000", "200", "501,500 candidate monomials"])
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_search_of_too_many_monomials(capsys):
    assert_refused(capsys, ["laws", "linear:4,4,4", "--degree", "150"],
                   ["'--degree'", "candidate monomials", "2,000,000"])


def test_api_refuses_a_law_search_beyond_max_degree():
    from exactcl.engine.counting import MAX_DEGREE
    m = exactcl.product(2)
    with pytest.raises(InputError, match=f"'degree' must be at most {MAX_DEGREE}"):
        exactcl.laws(m, MAX_DEGREE + 1)
    with pytest.raises(InputError, match="'search_degree'"):
        exactcl.count(m, search_degree=MAX_DEGREE + 1)
    with pytest.raises(ResourceError, match="candidate monomials"):
        exactcl.laws(exactcl.linear([4, 4, 4]), 150)
    assert "t1**2 - t2**2" in exactcl.laws(m, 4).strings()


# --------------------------------------------------------------------------- 6. training


def test_drift_refuses_too_many_steps_before_any_work(monkeypatch):
    pytest.importorskip("numpy")
    import exactcl.engine.counting
    from exactcl.workflows.training import MAX_STEP_SIZES, MAX_STEPS, drift
    monkeypatch.setattr(exactcl.engine.counting, "count", None)  # no count may start
    m = exactcl.linear([2, 2, 2])
    with pytest.raises(InputError, match=f"'steps'.*{MAX_STEPS:,}.*100000000"):
        drift(m, steps=100_000_000)
    with pytest.raises(InputError, match="'step_sizes'"):
        drift(m, step_sizes=[1e-4 * (k + 1) for k in range(MAX_STEP_SIZES + 1)])


def test_cli_plot_drift_refuses_too_many_steps(tmp_path):
    pytest.importorskip("matplotlib")
    proc = subprocess.run([sys.executable, "-m", "exactcl", "plot", "drift", "linear:2,2,2",
                           "-o", "d.png", "--steps", "100000000"], cwd=tmp_path,
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc
    assert "'steps'" in proc.stderr and "100000000" in proc.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 7. primes

BAD_PRIMES = ["4", "1", "9", "2**62", "0", "-7", "10**30 + 57", "2**64 + 13", "True", "2.0",
              "'7'", "None"]

PRIME_CALLS = """
import sys
import exactcl
from exactcl.kernel.brackets import closure_deterministic
from exactcl.engine.search import gradient_rank
m = exactcl.product(2)
call = {
    "count": lambda p: exactcl.count(m, prime=p),
    "certify": lambda p: exactcl.certify(m, prime=p),
    "laws": lambda p: exactcl.laws(m, 2, prime=p),
    "find_laws": lambda p: exactcl.find_laws(m.generators, 2, prime=p),
    "grow": lambda p: exactcl.grow(m.generators, [1, 2], p),
    "gradient_rank": lambda p: gradient_rank(m.ring, list(m.candidates) or [m.ring.gens[0]],
                                             [1, 2], p),
    "closure_deterministic": lambda p: closure_deterministic(m.generators, m.generators[:1],
                                                             [1, 2], p),
}[sys.argv[1]]
for text in sys.argv[2:]:
    try:
        call(eval(text))
        print("accepted", text, flush=True)
    except exactcl.InputError as err:
        print("InputError", err, flush=True)
    except Exception as err:
        print("other", type(err).__name__, err, flush=True)
"""


@pytest.mark.parametrize("function", ["count", "certify", "laws", "find_laws", "grow",
                                      "gradient_rank", "closure_deterministic"])
def test_every_public_function_refuses_a_bad_prime(function):
    """A composite prime aborted the process inside FLINT and 1 died of
    SIGFPE: each value is tried in a child interpreter."""
    proc = subprocess.run([sys.executable, "-c", PRIME_CALLS, function, *BAD_PRIMES],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-500:])
    lines = proc.stdout.splitlines()
    assert len(lines) == len(BAD_PRIMES)
    for text, line in zip(BAD_PRIMES, lines):
        assert line.startswith("InputError Argument 'prime' must be a prime"), (text, line)
        assert "2**64" in line


def test_good_primes_are_accepted_and_small_ones_stay_sound():
    m = exactcl.product(3)
    for p in (2, 3, 2**61 - 1, 2**64 - 59):
        r = exactcl.count(m, prime=p)
        assert r.lower <= 2 <= r.upper  # a rank mod p is a lower bound: still sound


def test_a_prime_dividing_a_denominator_is_refused():
    m = exactcl.from_phi(["u*v/3 + u**2/5"])
    for call in (lambda: exactcl.count(m, prime=5), lambda: exactcl.laws(m, 2, prime=3),
                 lambda: exactcl.grow(m.generators, [1, 2], 5)):
        with pytest.raises(InputError, match="'prime' must not divide a denominator"):
            call()
    assert exactcl.count(m, prime=7).laws == 1


# --------------------------------------------------------------------------- 8. names


@pytest.mark.parametrize("constant", ["pi", "E", "I", "oo", "zoo", "nan", "S", "N", "O", "Q",
                                      "EulerGamma"])
def test_cli_refuses_a_sympy_name_unless_it_is_in_vars(capsys, constant):
    phi = f"{constant}*x*y"
    assert_refused(capsys, ["count", "--phi", phi], ["'--phi'", f"'{constant}'", "--vars"])
    rc, out, err = run_cli(capsys, "count", "--phi", phi, "--vars", f"{constant},x,y", "--json")
    assert rc == 0, err
    import json
    assert json.loads(out)["parameters"] == 3


def test_cli_and_api_agree_on_sympy_names(capsys):
    import sympy
    x, y = sympy.symbols("x y")
    with pytest.raises(InputError, match="'pi'.*symbols"):
        exactcl.from_phi(["pi*x*y"])
    with pytest.raises(InputError, match="not rational"):
        exactcl.from_phi([sympy.pi * x * y])  # the constant itself: still refused
    m = exactcl.from_phi(["pi*x*y"], sympy.symbols("pi x y"))
    assert m.D == 3 and m.ring.names == ("pi", "x", "y")
    assert exactcl.from_fields([["pi", "x"]], sympy.symbols("x pi")).D == 2
    rc, out, _ = run_cli(capsys, "laws", "--phi", "pi*x*y", "--vars", "pi,x,y", "--degree", "2")
    assert rc == 0 and "pi**2 - y**2" in out


def test_sweep_config_names_follow_the_same_rule():
    from exactcl.workflows.grid import Case
    assert Case(name="c", phi=("pi*u",), variables=("pi", "u")).model().D == 2
    with pytest.raises(InputError, match="'pi'.*vars"):
        Case(name="c", phi=("pi*u",)).model()


@pytest.mark.parametrize("argv, D", [
    (["--phi", "θ*x", "--phi", "θ*y"], 3),
    (["--phi", "θ*φ**2", "--vars", "θ,φ"], 2),
    (["--phi", "α_1*β"], 2),
], ids=["theta", "theta-vars", "greek-with-index"])
def test_cli_accepts_unicode_names(capsys, argv, D):
    import json
    rc, out, err = run_cli(capsys, "count", *argv, "--json")
    assert rc == 0, err
    assert json.loads(out)["parameters"] == D


def test_a_unicode_name_round_trips_through_a_certificate(capsys, tmp_path):
    path = tmp_path / "theta.json"
    assert main(["certify", "--phi", "θ*x**2", "-o", str(path), "-q"]) == 0
    capsys.readouterr()
    import json
    assert json.loads(path.read_text())["model"]["variables"] == ["x", "θ"]
    assert exactcl.verify(path).ok
    rc, out, _ = run_cli(capsys, "laws", "--phi", "θ*x**2", "--degree", "2")
    assert rc == 0 and "x**2 - 2*θ**2" in out


@pytest.mark.parametrize("name, ok", [("θ", True), ("é", True), ("W1_0_2", True),
                                      ("θ_2", True), ("x\u0661", False), ("\ufb01", False),
                                      ("e\u0301", False), ("_x", False), ("for", False)])
def test_ring_names_are_unicode_letters_and_ascii_digits(name, ok):
    from exactcl.kernel.rings import Ring
    if ok:
        assert Ring((name, "z")).names == (name, "z")
    else:
        with pytest.raises(InputError, match="'names'"):
            Ring((name, "z"))

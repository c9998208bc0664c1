"""Sweeps: grids, TOML grid files, sweeps into a folder (in this process and
with the local pool), resume, failures and time limits, the process pool on
its own, interrupts, the folder lock, ``exactcl verify`` on folders, the
command line's errors, the three tables and the progress bar.

Independent references: law counts come from :func:`exactcl.count` on models
built with the Python API (not through SPEC strings or the sweep); every
certificate is re-checked by :func:`exactcl.kernel.verifier.verify`; expected case
lists are enumerated here with plain loops; the tables are parsed back (the
``csv`` module, Markdown cells split by hand).
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

import exactcl
from exactcl.engine.progress import Progress
from exactcl.errors import InputError
from exactcl.kernel import certformat
from exactcl.kernel.verifier import verify
from exactcl.workflows.engines import Failure, ProcessPool
from exactcl.workflows.grid import MAX_CASES, Case, grid_cases, load_config, parse_range, unique
from exactcl.workflows.sweep import LOCK, folder_certificates, sweep, write_tables
from exactcl.workflows.tables import CSV_COLUMNS, csv_table, latex_table, markdown_table
from tests.helpers import run_cli

DATA = Path(__file__).resolve().parent.parent / "data"
#: What an id may contain to be a safe file name on every system.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
TABLES = ("results.md", "results.tex", "results.csv")

#: The sweep most tests share: 16 two-layer models and one law search, each
#: certified in milliseconds.
CASES = grid_cases("linear,relu", depth=2, width="1..2") + [Case(spec="relu:2,2,2", degree=2)]


# --------------------------------------------------------------------------- helpers


def pool_task(command):
    """A task of the ProcessPool tests (module level: spawn pickles it by name)."""
    if command == "exit":
        os._exit(3)
    if command == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if isinstance(command, tuple) and command[0] == "sleep":
        time.sleep(command[1])
        return ("slept", command[1], os.getpid())
    return ("done", command, os.getpid())


def run_sweep(cases, out, **kwargs):
    kwargs.setdefault("jobs", 1)
    kwargs.setdefault("progress", False)
    return sweep(cases, out, **kwargs)



def read_json(path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def file_bytes(folder: Path) -> dict[str, bytes]:
    """Every regular file below ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def inodes(folder: Path) -> dict[str, int]:
    """File name -> inode: an atomic rewrite (temporary file, rename) changes it."""
    return {p.name: p.stat().st_ino for p in folder.iterdir()}


def tmp_files(folder: Path) -> list[str]:
    return [os.path.join(root, f) for root, _, files in os.walk(folder) for f in files
            if f.endswith(".tmp")]


def markdown(folder: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a Markdown table, cells split on unescaped pipes."""
    lines = (folder / "results.md").read_text().strip().splitlines()
    return md_split(lines[0]), [md_split(line) for line in lines[2:]]


def md_split(line: str) -> list[str]:
    assert line.startswith("| ") and line.endswith(" |"), line
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line[1:-1])]


def md_rows_by_label(text: str) -> dict[str, dict[str, str]]:
    lines = text.strip().splitlines()
    header = md_split(lines[0])
    rows = [dict(zip(header, md_split(line))) for line in lines[2:]]
    return {r["model"]: r for r in rows}


def latex_rows(text: str) -> list[str]:
    lines = text.splitlines()
    assert lines.count(r"\toprule") == lines.count(r"\midrule") == 1
    assert lines.count(r"\bottomrule") == 1
    start, stop = lines.index(r"\midrule"), lines.index(r"\bottomrule")
    assert lines.index(r"\toprule") < start < stop
    rows = lines[start + 1:stop]
    assert all(r.endswith(r" \\") for r in rows), rows
    return rows


def csv_rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames) == CSV_COLUMNS
    rows = list(reader)
    assert all(None not in r for r in rows)  # no row has extra fields
    return rows


def expected_error(case: Case) -> tuple[str, str]:
    """The error building the case's model raises, found without the sweep."""
    with pytest.raises(exactcl.ExactclError) as info:
        case.model()
    return type(info.value).__name__, str(info.value)


@pytest.fixture(autouse=True)
def _restore_signal_handlers():
    """`exactcl sweep` in-process installs a SIGTERM handler: put ours back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


# --------------------------------------------------------------------------- 1. grids


def widths_loops(depth: int, first, inner, last) -> list[tuple[int, ...]]:
    """Every width tuple, first width slowest (plain recursion, no itertools)."""
    out = [(w,) for w in first]
    for _ in range(depth - 1):
        out = [t + (w,) for t in out for w in inner]
    return [t + (w,) for t in out for w in last]


def test_grid_linear_depth_2_3_width_1_3_counts_and_order():
    cases = grid_cases("linear", depth="2..3", width="1..3")
    assert len(cases) == 3**3 + 3**4 == 108
    r = (1, 2, 3)
    expected = [f"linear:{','.join(map(str, t))}"
                for d in (2, 3) for t in widths_loops(d, r, r, r)]
    assert [c.spec for c in cases] == expected
    assert all(c.degree is None and c.phi is None for c in cases)


def test_grid_input_output_override_the_first_and_last_width():
    cases = grid_cases("relu", depth=3, width="1..2", input="4", output="1,3")
    assert len(cases) == 1 * 2 * 2 * 2
    assert [c.spec for c in cases] == [
        "relu:4,{},{},{}".format(*t[1:]) for t in widths_loops(3, (4,), (1, 2), (1, 3))]
    assert {c.spec.split(":")[1].split(",")[0] for c in cases} == {"4"}
    assert {c.spec.split(",")[-1] for c in cases} == {"1", "3"}


def test_grid_explicit_widths():
    cases = grid_cases(["relu-bias", "linear"], widths=[[2, 3, 2], [4, 4, 4, 1]])
    assert [c.label for c in cases] == ["relu-bias:2,3,2", "relu-bias:4,4,4,1",
                                        "linear:2,3,2", "linear:4,4,4,1"]


def test_grid_product_factors_and_families_in_the_given_order():
    cases = grid_cases("product,linear", depth=2, width=1, factors="2..4")
    assert [c.label for c in cases] == ["product:2", "product:3", "product:4",
                                        "linear:1,1,1"]


def test_grid_repeated_family_counts_once():
    assert grid_cases(["relu", "relu,relu"], depth=2, width=1) == [Case(spec="relu:1,1,1")]


def test_grid_degree_range_multiplies_the_cases():
    plain = grid_cases("linear", depth=2, width="1..2")
    cases = grid_cases("linear", depth=2, width="1..2", degree="0..2")
    assert len(cases) == 3 * len(plain) == 24
    # the degrees of one model are adjacent, in increasing order
    assert [(c.spec, c.degree) for c in cases] == [(p.spec, k) for p in plain for k in (0, 1, 2)]
    assert len({c.id for c in cases}) == len(cases)
    assert all(c.id.endswith(f"_deg{c.degree}") for c in cases)


@pytest.mark.parametrize("value, expected", [
    pytest.param(3, (3,), id="int"),
    pytest.param([4, 1, 4], (1, 4), id="list-sorted-unique"),
    pytest.param((2, 5), (2, 5), id="tuple"),
    pytest.param("2..4", (2, 3, 4), id="a..b"),
    pytest.param("4..4", (4,), id="a..a"),
    pytest.param(" 2 .. 3 ", (2, 3), id="a..b-with-spaces"),
    pytest.param("3,1", (1, 3), id="comma-list"),
    pytest.param("5", (5,), id="one-int-string"),
])
def test_parse_range_forms(value, expected):
    assert parse_range(value, "width") == expected


@pytest.mark.parametrize("value", [
    pytest.param("3..1", id="reversed"),
    pytest.param(0, id="zero"),
    pytest.param(-2, id="negative"),
    pytest.param("0..2", id="range-from-zero"),
    pytest.param("a..b", id="letters"),
    pytest.param("1..2..3", id="two-dots-twice"),
    pytest.param("1..", id="open-range"),
    pytest.param("", id="empty-string"),
    pytest.param("1,,2", id="empty-item"),
    pytest.param([], id="empty-list"),
    pytest.param([1, "2"], id="list-with-string"),
    pytest.param([1, True], id="list-with-bool"),
    pytest.param(True, id="bool"),
    pytest.param(2.0, id="float"),
    pytest.param(None, id="None"),
])
def test_parse_range_errors_name_the_argument_and_the_value(value):
    with pytest.raises(InputError) as info:
        parse_range(value, "--width")
    msg = str(info.value)
    assert msg.startswith("Argument '--width' must be ")
    assert msg.endswith(f"not {value!r}.")


def test_parse_range_minimum_zero_allows_degree_zero():
    assert parse_range("0..1", "--degree", minimum=0) == (0, 1)
    with pytest.raises(InputError, match=r"'--degree' must be an int >= 0"):
        parse_range(-1, "--degree", minimum=0)


@pytest.mark.parametrize("kwargs, argument, bad", [
    pytest.param(dict(families="conv", depth=2, width=1), "--family", "conv", id="family"),
    pytest.param(dict(families="relu,cnn", depth=2, width=1), "--family", "cnn",
                 id="family-in-list"),
    pytest.param(dict(families="relu", depth="0", width=1), "--depth", "0", id="depth-0"),
    pytest.param(dict(families="relu", depth="x", width=1), "--depth", "x", id="depth-x"),
    pytest.param(dict(families="relu", depth=2, width="3..1"), "--width", "3..1",
                 id="width-reversed"),
    pytest.param(dict(families="relu", depth=2, width=1, input=0), "--input", 0, id="input"),
    pytest.param(dict(families="relu", depth=2, width=1, output="-1"), "--output", "-1",
                 id="output"),
    pytest.param(dict(families="product", factors="5..2"), "--factors", "5..2", id="factors"),
    pytest.param(dict(families="relu", depth=2, width=1, degree=-1), "--degree", -1,
                 id="degree"),
    pytest.param(dict(families="relu", widths=[[2]]), "--widths", [2], id="widths-short"),
    pytest.param(dict(families="relu", widths=[[2, 0]]), "--widths", [2, 0], id="widths-zero"),
    pytest.param(dict(families="relu", widths="2,3"), "--widths", "2,3", id="widths-string"),
])
def test_grid_bad_values_name_the_argument(kwargs, argument, bad):
    with pytest.raises(InputError) as info:
        grid_cases(kwargs.pop("families"), **kwargs)
    msg = str(info.value)
    assert f"Argument {argument!r}" in msg
    assert f"not {bad!r}" in msg


@pytest.mark.parametrize("kwargs, argument", [
    pytest.param(dict(width="1..2"), "--depth", id="no-depth"),
    pytest.param(dict(depth=2), "--width", id="no-width"),
])
def test_grid_layered_family_needs_depth_and_width(kwargs, argument):
    with pytest.raises(InputError, match=f"'{argument}' is required"):
        grid_cases("relu", **kwargs)


def test_grid_product_needs_factors_and_widths_exclude_ranges():
    with pytest.raises(InputError, match="'--factors' is required"):
        grid_cases("product")
    with pytest.raises(InputError, match="'--widths'"):
        grid_cases("relu", depth=2, widths=[[1, 1, 1]])


def test_grid_refuses_more_than_max_cases_without_expanding():
    with pytest.raises(InputError) as info:
        grid_cases("relu", depth=6, width="1..7")  # 7**7 = 823,543 cases
    msg = str(info.value)
    assert f"{7**7:,}" in msg and f"{MAX_CASES:,}" in msg


def test_grid_limit_applies_to_families_and_degrees_together(monkeypatch):
    monkeypatch.setattr("exactcl.workflows.grid.MAX_CASES", 10)
    assert len(grid_cases("linear", depth=2, width="1..2")) == 8  # at the limit: fine
    with pytest.raises(InputError, match="16 cases"):
        grid_cases("linear", depth=2, width="1..2", degree="1..2")
    with pytest.raises(InputError, match="16 cases"):
        grid_cases("linear,relu", depth=2, width="1..2")


def test_unique_drops_repeats_and_keeps_the_first():
    a, b = Case(spec="relu:2,2"), Case(spec="linear:2,2")
    assert unique([a, b, a, Case(spec="relu:2,2"), b]) == [a, b]


def test_unique_refuses_two_cases_with_one_id():
    first = Case(name="uv", phi=("u*v",))
    other = Case(name="uv", phi=("u*v**2",))
    assert first.id == other.id
    with pytest.raises(InputError, match="'phi_uv'"):
        unique([first, other])
    # a law search of degree 2 and a model whose name ends in _deg2 collide too
    with pytest.raises(InputError, match="'phi_x_deg2'"):
        unique([Case(name="x", phi=("u",), degree=2), Case(name="x_deg2", phi=("u",))])


@pytest.mark.parametrize("case", [
    pytest.param(Case(spec="relu-bias:2,3,3,2", degree=2), id="spec-degree"),
    pytest.param(Case(spec="product:4"), id="spec"),
    pytest.param(Case(name="uv", phi=("u*v1", "u*v2"), variables=("u", "v1", "v2"),
                      degree=0), id="phi-vars-degree-0"),
    pytest.param(Case(name="w", phi=("u**2",)), id="phi"),
])
def test_case_dict_round_trip_through_json(case):
    data = json.loads(json.dumps(case.as_dict()))
    back = Case.from_dict(data)
    assert back == case
    assert back.id == case.id and back.label == case.label
    assert set(data) == {"spec", "phi", "variables", "name", "degree"}


def test_case_ids_are_file_name_safe_and_distinct():
    cases = (grid_cases("linear,relu,relu-bias", depth="2..3", width="1..3", degree="0..1")
             + grid_cases("product", factors="1..12")
             + [Case(name="a.b+c-d_e", phi=("u",)), Case(name="Z9", phi=("u",), degree=3)])
    assert all(SAFE_ID.match(c.id) for c in cases), [c.id for c in cases
                                                      if not SAFE_ID.match(c.id)]
    assert len({c.id for c in cases}) == len(cases)
    assert len({c.id.lower() for c in cases}) == len(cases)  # case-insensitive file systems


@pytest.mark.parametrize("kwargs, needles", [
    pytest.param(dict(name="a/b", phi=("u*v",)), ["'name'", "'a/b'"], id="slash-in-name"),
    pytest.param(dict(name=None, phi=("u*v",)), ["'name'", "None"], id="no-name"),
    pytest.param(dict(spec="relu:2, 3"), ["'spec'", "'relu:2,3'", "'relu:2, 3'"],
                 id="spec-not-canonical"),
    pytest.param(dict(spec="relu:2/3"), ["'spec'", "'relu:2/3'"], id="spec-with-slash"),
    pytest.param(dict(), ["exactly one of 'spec' and 'phi'"], id="neither"),
    pytest.param(dict(spec="relu:2,3", name="x", phi=("u",)), ["exactly one"], id="both"),
    pytest.param(dict(spec="relu:2,3", degree=-1), ["'degree'", "-1"], id="degree"),
])
def test_case_refuses_what_would_not_make_a_safe_file_name(kwargs, needles):
    with pytest.raises(InputError) as info:
        Case(**kwargs)
    assert all(n in str(info.value) for n in needles), str(info.value)


# --------------------------------------------------------------------------- 2. TOML

FULL_TOML = """\
specs = ["product:3", "linear:1,1"]    # product:3 (degree 1) repeats grid[2]

[sweep]
degree = 1
seed = 7
timeout = 60
closure = "deterministic"
closure_rounds = 3

[[grid]]
family = ["relu", "relu-bias"]
depth = "2"
width = "1..2"
output = 1

[[grid]]
family = "linear"
widths = [[2, 3, 2], [1, 2]]
degree = "0..1"

[[grid]]
family = "product"
factors = "2..3"

[[phi]]
name = "uv"
phi = ["u*v1", "u*v2"]
vars = ["u", "v1", "v2"]

[[phi]]
name = "w"
phi = ["u*v**2"]
degree = 2
"""


def write(tmp_path: Path, text: str, name: str = "grid.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_config_full_example(tmp_path):
    cases, options = load_config(write(tmp_path, FULL_TOML))
    assert options == {"seed": 7, "timeout": 60, "closure": "deterministic",
                       "closure_rounds": 3}
    relu = [f"{f}:{a},{b},1" for f in ("relu", "relu-bias") for a in (1, 2) for b in (1, 2)]
    expected = ([(s, 1) for s in relu]
                + [(s, k) for s in ("linear:2,3,2", "linear:1,2") for k in (0, 1)]
                + [("product:2", 1), ("product:3", 1)]
                + [("linear:1,1", 1)])
    assert [(c.spec, c.degree) for c in cases if c.spec] == expected
    phis = [c for c in cases if c.spec is None]
    assert phis == [Case(name="uv", phi=("u*v1", "u*v2"), variables=("u", "v1", "v2"),
                         degree=1),
                    Case(name="w", phi=("u*v**2",), degree=2)]
    assert cases[-2:] == phis  # custom models come last
    assert len({c.id for c in cases}) == len(cases)


def test_load_config_without_sweep_table_has_no_degree(tmp_path):
    cases, options = load_config(write(tmp_path, 'specs = ["relu:2,2,2"]\n'))
    assert options == {}
    assert cases == [Case(spec="relu:2,2,2")]


def test_load_config_custom_model_runs_in_a_sweep(tmp_path):
    path = write(tmp_path, '[[phi]]\nname = "uv"\nphi = ["u*v1", "u*v2"]\n'
                           'vars = ["u", "v1", "v2"]\n')
    cases, options = load_config(path)
    result = run_sweep(cases, tmp_path / "s", **options)
    assert result.ok
    reference = exactcl.count(exactcl.from_phi(["u*v1", "u*v2"],
                                               __import__("sympy").symbols("u v1 v2")))
    record = result.records["phi_uv"]
    assert (record["parameters"], record["laws"]) == (3, reference.laws)
    assert verify(tmp_path / "s" / record["certificate"]).ok


@pytest.mark.parametrize("text, needles", [
    pytest.param("specs = [\n", ["'--config'", "TOML"], id="invalid-toml"),
    pytest.param('colour = "blue"\n', ["unknown key 'colour'", "top level"], id="top-level-key"),
    pytest.param('[sweep]\njobs = 4\n', ["unknown key 'jobs'", "[sweep]"], id="sweep-key"),
    pytest.param('[[grid]]\nfamily = "relu"\ndepth = 2\nwidth = 1\n'
                 '[[grid]]\nfamily = "relu"\ndepht = 2\nwidth = 1\n',
                 ["unknown key 'depht'", "grid[1]"], id="grid[1]-key"),
    pytest.param('[[grid]]\ndepth = 2\nwidth = 1\n', ["grid[0]", "'family'"],
                 id="grid-without-family"),
    pytest.param('[[grid]]\nfamily = "relu"\ndepth = 2\nwidth = "3..1"\n',
                 ["grid[0].width", "'3..1'"], id="grid-bad-width"),
    pytest.param('[[grid]]\nfamily = "conv"\ndepth = 2\nwidth = 1\n',
                 ["grid[0].family", "'conv'"], id="grid-bad-family"),
    pytest.param('[[phi]]\nname = "bad name"\nphi = ["u"]\n', ["phi[0].name", "'bad name'"],
                 id="phi-bad-name"),
    pytest.param('[[phi]]\nname = "../up"\nphi = ["u"]\n', ["phi[0].name", "'../up'"],
                 id="phi-name-with-slash"),
    pytest.param('[[phi]]\nname = "uv"\nphi = "u*v"\n', ["phi[0].phi", "'u*v'"],
                 id="phi-not-a-list"),
    pytest.param('[[phi]]\nname = "uv"\nphi = []\n', ["phi[0].phi"], id="phi-empty"),
    pytest.param('[[phi]]\nname = "uv"\nphi = ["u"]\nvars = "u"\n', ["phi[0].vars"],
                 id="phi-vars-not-a-list"),
    pytest.param('[[phi]]\nname = "uv"\nphi = ["u"]\ncolour = 1\n',
                 ["unknown key 'colour'", "phi[0]"], id="phi-key"),
    pytest.param('phi = 3\n', ["'phi'", "[[phi]]"], id="phi-not-tables"),
    pytest.param('grid = "relu"\n', ["'grid'", "[[grid]]"], id="grid-not-tables"),
    pytest.param('specs = "relu:2,2"\n', ["'specs'"], id="specs-not-a-list"),
    pytest.param('specs = ["conv:3"]\n', ["specs", "'conv:3'"], id="specs-bad-spec"),
])
def test_load_config_errors_name_the_file_and_the_key(tmp_path, text, needles):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_load_config_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(InputError) as info:
        load_config(path)
    msg = str(info.value)
    assert "'--config'" in msg and repr(str(path)) in msg


def test_load_config_bad_sweep_degree_names_the_sweep_table(tmp_path):
    path = write(tmp_path, '[sweep]\ndegree = -1\n\n[[grid]]\nfamily = "relu"\n'
                           'depth = 2\nwidth = 1\n')
    with pytest.raises(InputError) as info:
        load_config(path)
    assert "[sweep]" in str(info.value) and "grid[0]" not in str(info.value)


def test_load_config_checks_the_sweep_options(tmp_path):
    path = write(tmp_path, 'specs = ["relu:2,2,2"]\n[sweep]\nseed = "x"\n')
    with pytest.raises(InputError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "seed" in str(info.value)


# --------------------------------------------------------------------------- 3. sweeps


@pytest.fixture(scope="module")
def inproc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inproc") / "sweep"
    return folder, run_sweep(CASES, folder, jobs=1)


@pytest.fixture(scope="module")
def pooled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pooled") / "sweep"
    return folder, run_sweep(CASES, folder, jobs=2)


@pytest.fixture(params=[1, 2], ids=["jobs=1", "jobs=2"])
def swept(request):
    return request.getfixturevalue("inproc" if request.param == 1 else "pooled")


def test_sweep_result_and_engine(swept, inproc, pooled):
    folder, result = swept
    assert result.ok and not result.failed and not result.pending and not result.interrupted
    assert (result.ran, result.resumed) == (len(CASES), 0)
    assert result.cases == CASES
    assert result.tables == [str(folder / name) for name in TABLES]
    assert inproc[1].engine == "one process"
    assert pooled[1].engine == "local pool of 2 processes"
    assert result.summary().startswith(f"{len(CASES)} of {len(CASES)} cases done, "
                                       f"{len(CASES)} certified, 0 failed;")


def test_sweep_folder_layout(swept):
    folder, _ = swept
    visible = {n for n in os.listdir(folder) if not n.startswith(".")}
    assert visible == {"sweep.json", "certificates", "cases", *TABLES}
    ids = {f"{c.id}.json" for c in CASES}
    assert set(os.listdir(folder / "certificates")) == ids
    assert set(os.listdir(folder / "cases")) == ids
    assert tmp_files(folder) == []
    manifest = read_json(folder / "sweep.json")
    assert manifest["schema"] == "exactcl-sweep"
    assert manifest["cases"] == [c.as_dict() for c in CASES]  # in table order
    assert manifest["options"] == {"seed": 0, "closure": "auto", "closure_rounds": 2}


def test_every_certificate_verifies(swept):
    folder, _ = swept
    for case in CASES:
        report = verify(folder / "certificates" / f"{case.id}.json")
        assert report.ok, str(report)


def test_records_state_the_certificates_claims(swept):
    folder, result = swept
    for case in CASES:
        record = read_json(folder / "cases" / f"{case.id}.json")
        assert result.records[case.id] == record  # what is returned is what is saved
        assert record["status"] == "ok" and record["case"] == case.as_dict()
        assert record["certificate"] == f"certificates/{case.id}.json"
        text = (folder / record["certificate"]).read_bytes()
        assert hashlib.sha256(text).hexdigest() == record["sha256"]
        cert = json.loads(text)
        claim = cert["claim"]
        for key in ("parameters", "laws", "lie_dimension", "proof"):
            assert record[key] == claim[key], key
        assert record["bounds"] == list(claim["bounds"])
        assert record["certified"] == claim["status"]
        assert record["lie_rank"] == cert["lie"]["rank"]
        assert record["exhibited"] == cert["laws"]["rank"]
        assert cert["model"]["name"] == case.label
        assert cert["seconds"] is None  # reproducible: the time is in the record
        assert isinstance(record["seconds"], (int, float)) and record["seconds"] >= 0


def test_certificates_are_byte_identical_for_one_and_two_jobs(inproc, pooled):
    one = file_bytes(inproc[0] / "certificates")
    two = file_bytes(pooled[0] / "certificates")
    assert len(one) == len(CASES) and one == two
    for case in CASES:
        a, b = (dict(r.records[case.id]) for r in (inproc[1], pooled[1]))
        for rec in (a, b):
            rec.pop("seconds"), rec.pop("host")
        assert a == b


@pytest.mark.parametrize("spec, model", [
    pytest.param("linear:2,2,2", lambda: exactcl.linear([2, 2, 2]), id="linear:2,2,2"),
    pytest.param("relu:2,2,2", lambda: exactcl.relu([2, 2, 2]), id="relu:2,2,2"),
    pytest.param("linear:1,2,1", lambda: exactcl.linear([1, 2, 1]), id="linear:1,2,1"),
    pytest.param("relu:2,1,2", lambda: exactcl.relu([2, 1, 2]), id="relu:2,1,2"),
    pytest.param("relu:1,1,1", lambda: exactcl.relu([1, 1, 1]), id="relu:1,1,1"),
])
def test_sweep_counts_agree_with_count(inproc, spec, model):
    reference = exactcl.count(model())
    record = inproc[1].records[Case(spec=spec).id]
    assert reference.laws is not None
    assert (record["parameters"], record["laws"], record["lie_dimension"]) == (
        reference.parameters, reference.laws, reference.lie_dimension)


def test_two_layer_counts_match_the_paper(swept):
    """Marcotte, Gribonval, Peyre (NeurIPS 2023), Corollary 4.4: a two-layer network
    with r hidden neurons has r(r+1)/2 laws when linear (for r <= n + m, true for
    every shape here) and r laws with ReLU; D = n r + r m."""
    _, result = swept
    two_layer = [c for c in CASES if c.degree is None]
    assert len(two_layer) == 16
    for case in two_layer:
        family, _, body = case.spec.partition(":")
        n, r, m = (int(w) for w in body.split(","))
        record = result.records[case.id]
        assert record["parameters"] == n * r + r * m, case
        assert record["laws"] == (r * (r + 1) // 2 if family == "linear" else r), case


def test_law_search_degree_is_kept_apart(inproc):
    folder, result = inproc
    plain, searched = result.records["relu_2-2-2"], result.records["relu_2-2-2_deg2"]
    assert searched["case"]["degree"] == 2 and plain["case"]["degree"] is None
    assert searched["laws"] == plain["laws"] == exactcl.count(exactcl.relu([2, 2, 2])).laws
    header, rows = markdown(folder)
    assert header[1] == "degree"
    degrees = {(r[0], r[1]) for r in rows}
    assert ("relu:2,2,2", "2") in degrees and ("relu:2,2,2", "") in degrees


def test_tables_follow_the_case_order(swept):
    folder, _ = swept
    _, rows = markdown(folder)
    assert [(r[0], r[1]) for r in rows] == [
        (c.label, "" if c.degree is None else str(c.degree)) for c in CASES]
    table = csv_rows((folder / "results.csv").read_text())
    assert [r["model"] for r in table] == [c.label for c in CASES]
    assert all(r["status"] == "certified" for r in table)
    assert len(latex_rows((folder / "results.tex").read_text())) == len(CASES)


def test_log_gets_one_line_per_case_run(tmp_path):
    lines: list[str] = []
    cases = CASES[:3] + [Case(spec="relu:300,300,300")]
    run_sweep(cases, tmp_path / "s", log=lines.append)
    assert len(lines) == len(cases)
    assert sorted(ln.split()[0] for ln in lines) == ["failed", "ok", "ok", "ok"]
    for case in cases[:3]:
        assert any(case.label in ln for ln in lines)


# --------------------------------------------------------------------------- 4. resume


@pytest.fixture
def copy(inproc, tmp_path) -> Path:
    """A copy of the shared in-process sweep, to change freely."""
    return Path(shutil.copytree(inproc[0], tmp_path / "copy"))


def test_second_run_keeps_everything(copy):
    before = file_bytes(copy)
    untouched = {sub: inodes(copy / sub) for sub in ("certificates", "cases")}
    lines: list[str] = []
    result = run_sweep(CASES, copy, log=lines.append)
    assert (result.resumed, result.ran) == (len(CASES), 0)
    assert result.ok and lines == []
    assert {sub: inodes(copy / sub) for sub in untouched} == untouched  # nothing rewritten
    after = file_bytes(copy)
    for sub in ("certificates", "cases"):
        assert {k: v for k, v in after.items() if k.startswith(sub)} == \
               {k: v for k, v in before.items() if k.startswith(sub)}
    assert f"{len(CASES)} kept from an earlier run" in result.summary()


@pytest.mark.parametrize("damage", ["deleted", "one-byte-edited"])
def test_damaged_certificate_reruns_exactly_that_case(copy, damage):
    victim = Case(spec="relu:2,2,2", degree=2)
    path = copy / "certificates" / f"{victim.id}.json"
    original = path.read_bytes()
    records_before = file_bytes(copy / "cases")
    inodes_before = inodes(copy / "cases")
    if damage == "deleted":
        path.unlink()
    else:
        data = bytearray(original)
        i = len(data) // 2
        data[i] = ord("7") if data[i] != ord("7") else ord("8")
        path.write_bytes(bytes(data))
    lines: list[str] = []
    result = run_sweep(CASES, copy, log=lines.append)
    assert (result.ran, result.resumed) == (1, len(CASES) - 1)
    assert len(lines) == 1 and victim.label in lines[0]
    assert path.read_bytes() == original  # reproducible: the same bytes again
    # only the victim's record was written again (a new file replaced it)
    inodes_after = inodes(copy / "cases")
    assert {k for k in inodes_before if inodes_before[k] != inodes_after[k]} == {
        f"{victim.id}.json"}
    records_after = file_bytes(copy / "cases")
    assert {k for k in records_before if records_before[k] != records_after[k]} <= {
        f"{victim.id}.json"}


def test_record_with_other_options_is_rerun(copy):
    victim = CASES[5]
    path = copy / "cases" / f"{victim.id}.json"
    record = read_json(path)
    record["options"]["seed"] = 12345
    path.write_text(json.dumps(record))
    lines: list[str] = []
    result = run_sweep(CASES, copy, log=lines.append)
    assert (result.ran, result.resumed) == (1, len(CASES) - 1)
    assert len(lines) == 1 and victim.label in lines[0]
    assert read_json(path)["options"]["seed"] == 0


def test_record_of_another_case_is_rerun(copy):
    victim, other = CASES[2], CASES[3]
    shutil.copy(copy / "cases" / f"{other.id}.json", copy / "cases" / f"{victim.id}.json")
    result = run_sweep(CASES, copy)
    assert (result.ran, result.resumed) == (1, len(CASES) - 1)
    assert read_json(copy / "cases" / f"{victim.id}.json")["case"] == victim.as_dict()


def test_new_seed_reruns_every_case(copy):
    before = file_bytes(copy / "certificates")
    result = run_sweep(CASES, copy, seed=1)
    assert (result.ran, result.resumed) == (len(CASES), 0)
    after = file_bytes(copy / "certificates")
    assert after.keys() == before.keys() and after != before  # a new point
    assert all(verify(copy / "certificates" / name).ok for name in after)
    assert read_json(copy / "sweep.json")["options"]["seed"] == 1


def test_failed_cases_are_kept_unless_retried(tmp_path):
    good, big = Case(spec="relu:1,1,1"), Case(spec="relu:300,300,300")
    out = tmp_path / "s"
    first = run_sweep([good, big], out)
    assert first.failed == [big.id] and not first.ok
    again = run_sweep([good, big], out)
    assert (again.ran, again.resumed) == (0, 2)
    assert again.failed == [big.id] and not again.ok
    assert again.records[big.id] == first.records[big.id]
    retried = run_sweep([good, big], out, retry_failed=True)
    assert (retried.ran, retried.resumed) == (1, 1)
    assert retried.failed == [big.id]


def test_cli_list_says_what_a_resume_would_run(copy, capsys):
    victim = Case(spec="relu:1,2,1")
    (copy / "certificates" / f"{victim.id}.json").unlink()
    before = file_bytes(copy)
    rc, out, _ = run_cli(capsys, "sweep", "--family", "linear,relu", "--depth", "2",
                         "--width", "1..2", "--spec", "relu:9,9,9", "--out", str(copy),
                         "--list")
    assert rc == 0
    lines = out.splitlines()
    states = {line.split()[1]: line.split()[0] for line in lines[:-2]}
    expected = {c.id: ("todo" if c == victim else "ok") for c in CASES if c.degree is None}
    assert states == expected | {"relu_9-9-9": "todo"}
    assert lines[-2] == "17 cases: 15 done, 0 failed, 2 to run"
    # the case with a degree is another grid's: kept in the folder and its tables
    assert lines[-1].startswith("1 more case in the folder from another grid")
    assert file_bytes(copy) == before  # nothing written


def test_stale_temporaries_are_removed_and_never_results(copy, capsys):
    real = (copy / "certificates" / f"{CASES[0].id}.json").read_text()
    stale = [copy / ".exactcl-abc123.tmp", copy / "certificates" / ".exactcl-def456.tmp",
             copy / "cases" / ".exactcl-ghi789.tmp"]
    for path in stale:
        path.write_text(real)
    result = run_sweep(CASES, copy)
    assert result.resumed == len(CASES)
    assert not any(p.exists() for p in stale)
    assert tmp_files(copy) == []
    found, notes = folder_certificates(copy)
    assert sorted(os.path.basename(f) for f, _ in found) == sorted(f"{c.id}.json"
                                                                   for c in CASES)
    assert notes == []
    for name in TABLES:
        assert ".tmp" not in (copy / name).read_text()


def test_stale_temporaries_in_a_plain_folder_are_not_certificates(tmp_path):
    src = DATA / "section_4_deep_relu" / "relu_2_2_2.json"
    shutil.copy(src, tmp_path / "a.json")
    shutil.copy(src, tmp_path / ".exactcl-xyz.tmp")
    shutil.copy(src, tmp_path / ".hidden.json")
    found, _ = folder_certificates(tmp_path)
    assert [os.path.basename(f) for f, _ in found] == ["a.json"]


# --------------------------------------------------------------------------- 5. failures

BIG = Case(spec="relu:300,300,300")
BAD = Case(name="bad", phi=("1/u",))


@pytest.mark.parametrize("jobs", [1, 2], ids=["jobs=1", "jobs=2"])
def test_failed_cases_are_recorded_and_tabled(tmp_path, jobs):
    quick = grid_cases("relu", depth=2, width="1..2")
    cases = quick[:3] + [BIG] + quick[3:] + [BAD]
    errors = {BIG.id: expected_error(BIG), BAD.id: expected_error(BAD)}
    assert errors[BIG.id][0] == "ResourceError" and errors[BAD.id][0] == "InputError"
    out = tmp_path / "s"
    result = run_sweep(cases, out, jobs=jobs)
    assert not result.ok
    assert sorted(result.failed) == sorted(errors)
    assert all(result.records[c.id]["status"] == "ok" for c in quick)
    assert ", 2 failed" in result.summary()
    for case in (BIG, BAD):
        record = read_json(out / "cases" / f"{case.id}.json")
        assert record["status"] == "failed"
        assert (record["error"]["kind"], record["error"]["message"]) == errors[case.id]
        assert not (out / "certificates" / f"{case.id}.json").exists()
    # Markdown: the row says failed and shows the error kind
    md = md_rows_by_label((out / "results.md").read_text())
    assert list(md) == [c.label for c in cases]
    for case in (BIG, BAD):
        row = md[case.label]
        assert row["laws"] == "failed"
        assert row["proved by"].startswith(errors[case.id][0] + ":")
        assert row["certificate"] == ""
    # CSV: status failed and the whole message
    table = {r["model"]: r for r in csv_rows((out / "results.csv").read_text())}
    assert len(table) == len(cases)
    for case in (BIG, BAD):
        kind, message = errors[case.id]
        assert table[case.label]["status"] == "failed"
        assert table[case.label]["error"] == f"{kind}: {message}"
    assert {table[c.label]["status"] for c in quick} == {"certified"}
    # LaTeX: one row per case, the failed ones say so
    rows = latex_rows((out / "results.tex").read_text())
    assert len(rows) == len(cases)
    for case in (BIG, BAD):
        (row,) = [r for r in rows if r.startswith(rf"\texttt{{{case.label}}}")]
        assert "failed" in row and errors[case.id][0] in row


def test_csv_keeps_a_long_message_whole_where_markdown_shortens_it():
    long = "x" * 300 + " end"
    record = {"case": BIG.as_dict(), "status": "failed", "parameters": None,
              "error": {"kind": "ResourceError", "message": long}, "seconds": 1.0,
              "host": "h"}
    md = md_rows_by_label(markdown_table([(BIG, record)]))[BIG.label]
    assert len(md["proved by"]) < len(long) and md["proved by"].endswith("...")
    (row,) = csv_rows(csv_table([(BIG, record)]))
    assert row["error"] == f"ResourceError: {long}"


#: A case that takes minutes (its count on the program engine did not finish in
#: 40 s on the machine that wrote this), so that a 1 s limit stops it on any
#: machine, however fast. (linear:8,8,8,8,8,8 took minutes while its certificate
#: expanded phi; written as its program it is certified in about a second.)
SLOW_SPEC = "relu:24,24,24,24,24"


def test_timeout_stops_a_slow_case(tmp_path):
    quick = grid_cases("relu", depth=2, width="1..2")
    slow = Case(spec=SLOW_SPEC)
    # 1 s, not less: a fresh worker's start-up counts against the limit (see the xfail below)
    result = run_sweep([slow] + quick, tmp_path / "s", jobs=2, timeout=1.0)
    record = result.records[slow.id]
    assert record["status"] == "failed"
    assert record["error"]["kind"] == "timeout"
    assert "1 s" in record["error"]["message"]
    assert all(result.records[c.id]["status"] == "ok" for c in quick)
    assert result.failed == [slow.id] and not result.ok
    row = {r["model"]: r for r in csv_rows((tmp_path / "s" / "results.csv").read_text())}
    assert row[slow.label]["status"] == "failed"
    assert row[slow.label]["error"].startswith("timeout: ")


SLOW_IMPORT = """
import time
time.sleep(1.5)          # a worker start-up far longer than the time limit


def quick(x):
    return ("done", x)
"""


def test_time_limit_does_not_count_worker_start_up(tmp_path, monkeypatch):
    # the task's module takes 1.5 s to import in the fresh worker, the task itself
    # microseconds: under a 0.5 s limit it must not time out
    (tmp_path / "slow_import_helper.py").write_text(SLOW_IMPORT)
    monkeypatch.syspath_prepend(str(tmp_path))
    from slow_import_helper import quick
    pool = ProcessPool(1)
    try:
        (key, outcome), = pool.run(quick, [("first", "q")], timeout=0.5)
    finally:
        pool.close()
    assert not isinstance(outcome, Failure), outcome
    assert outcome == ("done", "q")


@pytest.mark.parametrize("kwargs, argument", [
    pytest.param(dict(jobs=0), "'jobs'", id="jobs-0"),
    pytest.param(dict(jobs=True), "'jobs'", id="jobs-bool"),
    pytest.param(dict(timeout=0), "'timeout'", id="timeout-0"),
    pytest.param(dict(timeout=-1.5), "'timeout'", id="timeout-negative"),
    pytest.param(dict(timeout="5"), "'timeout'", id="timeout-string"),
    pytest.param(dict(seed=-1), "'seed'", id="seed-negative"),
    pytest.param(dict(closure="fast"), "'closure'", id="closure"),
    pytest.param(dict(closure_rounds=0), "'closure_rounds'", id="closure-rounds"),
    pytest.param(dict(engine="threads"), "'engine'", id="engine"),
    pytest.param(dict(engine="dask", timeout=5), "'timeout'", id="dask-with-timeout"),
])
def test_sweep_bad_options_name_the_argument_and_write_nothing(tmp_path, kwargs, argument):
    out = tmp_path / "s"
    with pytest.raises(InputError) as info:
        run_sweep(CASES[:1], out, **kwargs)
    assert argument in str(info.value)
    assert not out.exists()


def test_sweep_without_cases_is_refused(tmp_path):
    with pytest.raises(InputError, match="no case"):
        run_sweep([], tmp_path / "s")


# --------------------------------------------------------------------------- 6. ProcessPool


def test_pool_returns_every_key_once_from_long_lived_workers():
    pool = ProcessPool(2)
    try:
        tasks = [(f"k{i}", i) for i in range(12)]
        out = list(pool.run(pool_task, tasks))
    finally:
        pool.close()
    assert sorted(k for k, _ in out) == sorted(k for k, _ in tasks)
    results = dict(out)
    assert all(results[k][:2] == ("done", i) for k, i in tasks)
    pids = {r[2] for r in results.values()}
    assert len(pids) <= 2 and os.getpid() not in pids


@pytest.mark.parametrize("command, words", [
    pytest.param("exit", ["status 3"], id="os._exit(3)"),
    pytest.param("kill", ["SIGKILL"], id="SIGKILL"),
])
def test_pool_crash_costs_only_that_task(command, words):
    pool = ProcessPool(2)
    try:
        tasks = [("a", "x"), ("crash", command), ("b", "y"), ("c", "z")]
        out = list(pool.run(pool_task, tasks))
        assert sorted(k for k, _ in out) == ["a", "b", "c", "crash"]
        results = dict(out)
        failure = results["crash"]
        assert isinstance(failure, Failure) and failure.kind == "crash"
        for word in words:
            assert word in failure.message
        assert [results[k][:2] for k in "abc"] == [("done", "x"), ("done", "y"), ("done", "z")]
        # the pool keeps working after the crash
        again = dict(pool.run(pool_task, [("d", 1), ("e", 2)]))
        assert again["d"][:2] == ("done", 1) and again["e"][:2] == ("done", 2)
    finally:
        pool.close()


def test_pool_timeout_stops_only_the_sleeping_task():
    pool = ProcessPool(2)
    ticks: list[float] = []
    try:
        out = list(pool.run(pool_task, [("slow", ("sleep", 60)), ("quick", "q")],
                            timeout=2.0, tick=lambda: ticks.append(time.monotonic())))
        results = dict(out)
        assert sorted(results) == ["quick", "slow"]
        assert isinstance(results["slow"], Failure) and results["slow"].kind == "timeout"
        assert "2 s" in results["slow"].message
        assert results["quick"][:2] == ("done", "q")
        assert len(ticks) >= 3  # the caller could redraw while waiting
        again = dict(pool.run(pool_task, [("after", ("sleep", 0.01))], timeout=10))
        assert again["after"][:2] == ("slept", 0.01)
    finally:
        pool.close()


@pytest.mark.parametrize("jobs", [0, -1, True, 1.5, "2"])
def test_pool_refuses_bad_jobs(jobs):
    with pytest.raises(InputError) as info:
        ProcessPool(jobs)
    assert str(info.value) == f"Argument 'jobs' must be an int >= 1, not {jobs!r}."


# --------------------------------------------------------------------------- 7. interrupt

SWEEP_BRIEF = ["--family", "relu", "--depth", "4", "--width", "5..6"]
SWEEP_QUICK = ["--family", "relu", "--depth", "4", "--width", "4..5"]


def cli_command() -> list[str]:
    return [sys.executable, "-m", "exactcl"]


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_and_resume(tmp_path: Path, sig: signal.Signals, grid: list[str]) -> None:
    out = tmp_path / "sweep"
    argv = [*cli_command(), "sweep", *grid, "--out", str(out), "-q"]
    cases = grid_cases(grid[1], depth=grid[3], width=grid[5])
    # a shell starts background jobs with SIGINT ignored, and Python keeps it ignored:
    # give the sweep the default disposition, as in a terminal
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not (out / "cases").is_dir() or not any(
                n.endswith(".json") for n in os.listdir(out / "cases")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no case finished in time"
            time.sleep(0.01)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (stdout, stderr)
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert tmp_files(out) == []
    records = {n: read_json(out / "cases" / n) for n in os.listdir(out / "cases")
               if n.endswith(".json")}
    assert 1 <= len(records) < len(cases)
    for name in os.listdir(out / "certificates"):
        assert name in records, f"certificate {name} without a record"
        assert records[name]["status"] == "ok"
        assert verify(out / "certificates" / name).ok
    md = md_rows_by_label((out / "results.md").read_text())
    assert list(md) == [c.label for c in cases]
    for case in cases:
        if f"{case.id}.json" in records:
            assert md[case.label]["laws"] == str(records[f"{case.id}.json"]["laws"])
        else:
            assert md[case.label]["proved by"] == "not run yet"
    kept = len(records)

    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{kept} kept from an earlier run" in done.stdout
    assert f"{len(cases)} of {len(cases)} cases done" in done.stdout
    assert "not run yet" not in (out / "results.md").read_text()
    script = shutil.which("exactcl")
    verify_cmd = [script] if script else cli_command()
    checked = subprocess.run([*verify_cmd, "verify", str(out), "-q"], capture_output=True,
                             text=True, check=False, timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(cases)} certificates: {len(cases)} verified" in checked.stdout


@pytest.mark.parametrize("sig, grid", [
    pytest.param(signal.SIGTERM, SWEEP_QUICK, id="SIGTERM-relu-4-width-4..5"),
    pytest.param(signal.SIGINT, SWEEP_QUICK, id="SIGINT-relu-4-width-4..5"),
    pytest.param(signal.SIGTERM, SWEEP_BRIEF, id="SIGTERM-relu-4-width-5..6",
                 marks=pytest.mark.slow),
    pytest.param(signal.SIGINT, SWEEP_BRIEF, id="SIGINT-relu-4-width-5..6",
                 marks=pytest.mark.slow),
])
def test_interrupted_sweep_resumes(tmp_path, sig, grid):
    interrupt_and_resume(tmp_path, sig, grid)


# --------------------------------------------------------------------------- 8. lock


def test_a_locked_folder_is_refused(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    with open(out / LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError) as info:
            run_sweep(CASES[:2], out)
        assert "'--out'" in str(info.value) and str(out) in str(info.value)
        assert not (out / "sweep.json").exists()
        assert os.listdir(out / "cases") == []
    result = run_sweep(CASES[:2], out)  # the lock is free again
    assert result.ok and result.ran == 2


# --------------------------------------------------------------------------- 9. verify folders


def summary_line(out: str, folder) -> str:
    (line,) = [ln for ln in out.splitlines() if ln.startswith(f"{folder}: ")]
    return line


def test_verify_a_sweep_folder(capsys, inproc):
    folder = inproc[0]
    rc, out, err = run_cli(capsys, "verify", str(folder), "-q")
    assert rc == 0, out + err
    n = len(CASES)
    assert f"{n} certificates: {n} verified, 0 false, 0 unreadable" in summary_line(out, folder)


def test_verify_a_tampered_record_fails_on_the_sweep_table(capsys, copy):
    victim = Case(spec="linear:2,2,2")
    path = copy / "cases" / f"{victim.id}.json"
    record = read_json(path)
    record["laws"] += 1
    path.write_text(json.dumps(record))
    rc, out, _ = run_cli(capsys, "verify", str(copy), "-q")
    assert rc == 1
    assert re.search(r"FAILED\s+sweep table", out), out
    assert f"{victim.id}.json: FALSE" in out
    assert "1 false, 0 unreadable" in summary_line(out, copy)


def reports_by_file(out: str) -> dict[str, list[str]]:
    """The lines of each file's report in verify's output (head line first)."""
    reports: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        if not line.startswith(" "):
            head = re.match(r"(.*): (VERIFIED|FALSE|UNREADABLE)$", line)
            current = head.group(1) if head else None
            if current is not None:
                reports[current] = [line]
        elif current is not None:
            reports[current].append(line)
    return reports


@pytest.mark.parametrize("key,value", [("exhibited", 99), ("model", "linear:9,9"),
                                       ("lie_rank", 0), ("bounds", [0, 9])])
def test_verify_compares_all_a_record_shows_of_its_certificate(capsys, copy, key, value):
    victim = Case(spec="linear:2,2,2")
    path = copy / "cases" / f"{victim.id}.json"
    record = read_json(path)
    record[key] = value
    path.write_text(json.dumps(record))
    rc, out, _ = run_cli(capsys, "verify", str(copy), "-q")
    assert rc == 1
    assert re.search(rf"FAILED\s+sweep table: the sweep's record says {key} = ", out), out
    assert "3 tables: 3 verified, 0 false" in summary_line(out, copy)  # they show the cert


def test_verify_gives_one_verdict_per_file_of_a_sweep(capsys, copy):
    """A certificate that verifies but disagrees with its record is FALSE in its
    head, its summary and its JSON object alike: never "FAILED sweep table"
    followed by "VERIFIED"."""
    victim = Case(spec="relu:2,2,2")
    path = copy / "cases" / f"{victim.id}.json"
    record = read_json(path)
    record["lie_dimension"] += 1
    path.write_text(json.dumps(record))
    rc, out, _ = run_cli(capsys, "verify", str(copy))
    assert rc == 1
    cert = str(copy / "certificates" / f"{victim.id}.json")
    lines = reports_by_file(out)[cert]
    assert lines[0] == f"{cert}: FALSE"
    assert any(re.match(r"\s+FAILED\s+sweep table: ", ln) for ln in lines), lines
    assert lines[-1] == "  NOT VERIFIED: false claim(s): sweep table"
    assert not any("VERIFIED:" in ln and "NOT VERIFIED" not in ln for ln in lines), lines
    for report in reports_by_file(out).values():  # every other file is consistent too
        failed = any(re.match(r"\s+FAILED\s", ln) for ln in report)
        assert report[0].endswith(": FALSE" if failed else ": VERIFIED"), report
        assert report[-1].startswith("  NOT VERIFIED" if failed else "  VERIFIED"), report
    rc, out, _ = run_cli(capsys, "verify", str(copy), "--json")
    (obj,) = [json.loads(ln) for ln in out.splitlines() if json.loads(ln)["file"] == cert]
    assert obj["status"] == "false"
    assert obj["summary"] == "NOT VERIFIED: false claim(s): sweep table"


def _cell_edit(name: str, label: str, column: int | str, new: str) -> Callable[[str], str]:
    """An edit of one cell of a table file: the first row of ``label``, a
    column counted from 0 (Markdown and LaTeX) or named (CSV)."""
    def edit(text: str) -> str:
        lines = text.splitlines(keepends=True)
        for n, line in enumerate(lines):
            if name == "results.md" and line.startswith(f"| {label} |"):
                cells = line.split(" | ")
                cells[column] = new
                lines[n] = " | ".join(cells)
                return "".join(lines)
            if name == "results.tex" and line.startswith(f"\\texttt{{{label}}} &"):
                cells = line.split(" & ")
                cells[column] = new
                lines[n] = " & ".join(cells)
                return "".join(lines)
            if name == "results.csv" and line.startswith(f'"{label}",'):
                row = next(csv.reader([line]))
                row[CSV_COLUMNS.index(column)] = new
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerow(row)
                lines[n] = buf.getvalue()
                return "".join(lines)
        raise AssertionError(f"no row of {label} in {name}")
    return edit


#: (file, edit, text the report shows of the first line that differs); the
#: tables of CASES have a degree column: laws is cell 4, seconds cell 7 (a
#: time no case of the grid takes, so the edit changes the file on any machine).
TABLE_EDITS = [
    pytest.param("results.md", _cell_edit("results.md", "linear:2,2,2", 4, "7"),
                 "| linear:2,2,2 |  | 8 | 5 | 7 |", id="md-laws-3-to-7"),
    pytest.param("results.md", _cell_edit("results.md", "linear:2,2,2", 7, "98765.43"),
                 "linear:2,2,2", id="md-seconds"),
    pytest.param("results.md", lambda t: "".join(ln for ln in t.splitlines(keepends=True)
                                                 if not ln.startswith("| relu:1,2,2 |")),
                 "'| relu:1,2,2 |", id="md-row-removed"),
    pytest.param("results.md", lambda t: t + "| relu:9,9,9 |  | 162 | 9 | 153 | 153 | "
                                             "sandwich | 0.01 | certificates/relu_9-9-9.json |\n",
                 "the rebuilt table nothing (the file ends)", id="md-row-added"),
    pytest.param("results.tex", _cell_edit("results.tex", "linear:2,2,2", 4, "4"),
                 "linear:2,2,2", id="tex-laws"),
    pytest.param("results.csv", _cell_edit("results.csv", "linear:2,2,2", "laws", "4"),
                 "linear:2,2,2", id="csv-laws"),
    pytest.param("results.csv", _cell_edit("results.csv", "linear:2,2,2", "seconds", "98765.43"),
                 "linear:2,2,2", id="csv-seconds"),
    pytest.param("results.csv", lambda t: t.replace("\n", "\r\n"), "line 1 differs",
                 id="csv-line-ends"),
]


@pytest.mark.parametrize("name,edit,shown", TABLE_EDITS)
def test_verify_catches_an_edited_table(capsys, copy, name, edit, shown):
    """An edited table file is FALSE (exit 1), naming the file and its first line
    that differs from the table rebuilt from the certificates and records; the
    other tables and every certificate still verify."""
    path = copy / name
    before = path.read_bytes().decode()
    path.write_bytes(edit(before).encode())
    assert path.read_bytes().decode() != before
    rc, out, _ = run_cli(capsys, "verify", str(copy))
    assert rc == 1, out
    reports = reports_by_file(out)
    lines = reports[str(path)]
    assert lines[0] == f"{path}: FALSE"
    (failed,) = [ln for ln in lines if re.match(r"\s+FAILED\s", ln)]
    assert re.match(r"\s+FAILED\s+table: line \d+ differs from the table rebuilt from the "
                    r"certificates and records: the file has ", failed), failed
    assert shown in failed, failed
    assert lines[-1] == "  NOT VERIFIED: false claim(s): table"
    for other in TABLES:
        if other != name:
            assert reports[str(copy / other)][0] == f"{copy / other}: VERIFIED"
    n = len(CASES)
    assert (f"{n} certificates: {n} verified, 0 false, 0 unreadable; 3 tables: 2 verified, "
            f"1 false") in summary_line(out, copy)
    rc, out, _ = run_cli(capsys, "verify", str(copy), "-q")  # quiet still names it
    assert rc == 1 and f"{path}: FALSE" in out and "VERIFIED" not in out.replace("NOT VER", "")


def test_verify_checks_the_tables_of_an_untouched_sweep(capsys, inproc):
    folder = inproc[0]
    rc, out, err = run_cli(capsys, "verify", str(folder))
    assert rc == 0, out + err
    reports = reports_by_file(out)
    for name in TABLES:
        lines = reports[str(folder / name)]
        assert lines[0] == f"{folder / name}: VERIFIED"
        assert lines[1] == (f"  passed  table: the bytes of the table rebuilt from the manifest, "
                            f"the {len(CASES)} certificates and the records")
        assert lines[2] == (f"  passed  table rows: every row showing a certificate "
                            f"({len(CASES)}) shows one that verified")
    assert summary_line(out, folder).endswith("; 3 tables: 3 verified, 0 false")


def test_verify_a_sweep_whose_table_is_missing(capsys, copy):
    (copy / "results.csv").unlink()
    rc, out, _ = run_cli(capsys, "verify", str(copy), "-q")
    assert rc == 1
    assert re.search(r"FAILED\s+table: cannot read it \(No such file or directory\)", out), out


def test_verify_fails_the_tables_of_a_certificate_that_does_not_verify(capsys, copy):
    """A row showing a false certificate makes every table FALSE too (the row is
    not backed), besides the certificate itself."""
    victim = Case(spec="linear:2,2,2")
    cert_path = copy / "certificates" / f"{victim.id}.json"
    cert = read_json(cert_path)
    cert["laws"]["polynomials"][0][0][1] = "2/1"
    text = certformat.dumps(cert)
    cert_path.write_text(text)
    record_path = copy / "cases" / f"{victim.id}.json"  # the record follows, sha and all
    record = read_json(record_path)
    record["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    record_path.write_text(json.dumps(record))
    rc, out, _ = run_cli(capsys, "verify", str(copy), "-q")
    assert rc == 1
    reports = reports_by_file(out)
    assert reports[str(cert_path)][0] == f"{cert_path}: FALSE"
    for name in TABLES:
        lines = reports[str(copy / name)]
        assert lines[0] == f"{copy / name}: FALSE"
        assert "  passed  table: the bytes of the table rebuilt" in lines[1]
        assert lines[2] == ("  FAILED  table rows: 1 row(s) show a certificate that did not "
                            "verify: linear:2,2,2")


def test_verify_a_sweep_folder_missing_a_certificate(capsys, copy):
    victim = CASES[1]
    (copy / "certificates" / f"{victim.id}.json").unlink()
    assert read_json(copy / "cases" / f"{victim.id}.json")["status"] == "ok"
    rc, out, _ = run_cli(capsys, "verify", str(copy), "-q")
    assert rc == 3
    assert "0 false, 1 unreadable" in summary_line(out, copy)


def test_verify_a_sweep_with_failed_and_pending_cases(capsys, tmp_path):
    out = tmp_path / "s"
    run_sweep([Case(spec="relu:1,1,1"), BIG], out)
    # a case the manifest lists but that was never run: the tables do not show it
    manifest = read_json(out / "sweep.json")
    manifest["cases"].append(Case(spec="relu:1,2,1").as_dict())
    (out / "sweep.json").write_text(json.dumps(manifest))
    rc, text, _ = run_cli(capsys, "verify", str(out))
    assert rc == 1
    assert "1 certificates: 1 verified, 0 false, 0 unreadable; 3 tables: 0 verified, 3 false" \
        in summary_line(text, out)
    assert "the rebuilt table '| relu:1,2,1 |  |  |  |  | not run yet |  |  |'" in text
    # as an interrupted sweep leaves them: tables with the case not run yet
    cases = [Case.from_dict(c) for c in manifest["cases"]]
    records = {c.id: read_json(out / "cases" / f"{c.id}.json") for c in cases[:2]}
    write_tables(str(out), cases, records)
    rc, text, _ = run_cli(capsys, "verify", str(out))
    assert rc == 0, text
    assert "1 certificates: 1 verified, 0 false, 0 unreadable; 3 tables: 3 verified, 0 false" \
        in summary_line(text, out)
    assert f"note: {BIG.label}: failed in the sweep (ResourceError)" in text
    assert "note: relu:1,2,1: not run yet" in text


def test_verify_a_plain_folder_of_certificates(capsys, tmp_path):
    sources = [DATA / "section_4_deep_relu" / "relu_2_2_2.json",
               DATA / "section_4_deep_linear" / "linear_2_2_2.json",
               DATA / "theorem_3_3_analytic_examples" / "product_3.json"]
    (tmp_path / "sub").mkdir()
    for i, src in enumerate(sources):
        shutil.copy(src, (tmp_path / "sub" if i == 2 else tmp_path) / src.name)
    (tmp_path / "notes.txt").write_text("not a certificate")
    rc, out, err = run_cli(capsys, "verify", str(tmp_path), "-q")
    assert rc == 0, out + err
    assert "3 certificates: 3 verified, 0 false, 0 unreadable" in summary_line(out, tmp_path)


def test_verify_an_empty_folder_exits_3(capsys, tmp_path):
    rc, out, _ = run_cli(capsys, "verify", str(tmp_path))
    assert rc == 3
    assert "0 certificates" in summary_line(out, tmp_path)
    assert "no certificate found" in out


def test_verify_two_jobs_gives_the_same_statuses(capsys, copy):
    record_path = copy / "cases" / f"{CASES[0].id}.json"
    record = read_json(record_path)
    record["lie_dimension"] += 1
    record_path.write_text(json.dumps(record))
    (copy / "certificates" / f"{CASES[4].id}.json").unlink()
    statuses = {}
    for jobs in ("1", "2"):
        rc, out, err = run_cli(capsys, "verify", str(copy), "--json", "--jobs", jobs)
        lines = [json.loads(ln) for ln in out.splitlines()]
        statuses[jobs] = (rc, {d["file"]: d["status"] for d in lines})
        assert len(lines) == len(CASES) + len(TABLES)  # the tables are files with a verdict
        assert f"{len(CASES)} certificates: {len(CASES) - 2} verified, 1 false, " \
               f"1 unreadable; 3 tables: 0 verified, 3 false" in err
    assert statuses["1"] == statuses["2"]
    rc, by_file = statuses["1"]
    assert rc == 3
    assert sorted(by_file.values()).count("verified") == len(CASES) - 2


# --------------------------------------------------------------------------- 10. CLI sweep


def test_cli_sweep_runs_and_prints_a_line_per_case(capsys, tmp_path):
    out = tmp_path / "s"
    rc, text, err = run_cli(capsys, "sweep", "--family", "relu", "--depth", "2", "--width",
                            "1..2", "--spec", "linear:2,2,2", "--out", str(out), "-j", "1")
    assert rc == 0, err
    lines = text.splitlines()
    assert sum(ln.startswith("ok ") for ln in lines) == 9
    assert lines[-2].startswith("9 of 9 cases done, 9 certified, 0 failed")
    assert lines[-1].startswith("tables: ")
    assert (out / "results.csv").exists()
    rc, text, _ = run_cli(capsys, "sweep", "--family", "relu", "--depth", "2", "--width",
                          "1..2", "--spec", "linear:2,2,2", "--out", str(out), "-q")
    assert rc == 0
    assert "9 kept from an earlier run" in text and not text.startswith("ok")


def test_cli_sweep_with_a_failure_exits_1(capsys, tmp_path):
    rc, text, _ = run_cli(capsys, "sweep", "--spec", "relu:1,1,1", "--spec",
                          "relu:300,300,300", "--out", str(tmp_path / "s"), "-q")
    assert rc == 1
    assert "1 failed" in text


def test_cli_sweep_from_a_config(capsys, tmp_path):
    path = write(tmp_path, 'specs = ["product:3"]\n[sweep]\nseed = 3\n[[grid]]\n'
                           'family = "linear"\nwidths = [[1, 2, 1]]\n[[phi]]\nname = "uv"\n'
                           'phi = ["u*v**2"]\n')
    out = tmp_path / "s"
    rc, _, err = run_cli(capsys, "sweep", "--config", str(path), "--out", str(out), "-q")
    assert rc == 0, err
    manifest = read_json(out / "sweep.json")
    assert [Case.from_dict(c).label for c in manifest["cases"]] == ["linear:1,2,1",
                                                                    "product:3", "uv"]
    assert manifest["options"]["seed"] == 3
    rc, _, _ = run_cli(capsys, "verify", str(out), "-q")
    assert rc == 0


CLI_ERRORS = [
    pytest.param(["--depth", "2"], ["'--depth'", "'--family'"], id="depth-without-family"),
    pytest.param(["--width", "1..2"], ["'--width'", "'--family'"], id="width-without-family"),
    pytest.param(["--family", "relu", "--depth", "2", "--width", "3..1"], ["'--width'", "'3..1'"],
                 id="width-3..1"),
    pytest.param(["--family", "relu", "--depth", "0..2", "--width", "1"], ["'--depth'", "'0..2'"],
                 id="depth-0..2"),
    pytest.param(["--family", "relu", "--width", "1..2"], ["'--depth'", "required"],
                 id="family-without-depth"),
    pytest.param(["--family", "conv", "--depth", "2", "--width", "1"], ["'--family'", "'conv'"],
                 id="unknown-family"),
    pytest.param(["--family", "product"], ["'--factors'"], id="product-without-factors"),
    pytest.param(["--spec", "conv:3"], ["'--spec'", "'conv:3'"], id="bad-spec"),
    pytest.param(["--spec", "relu:2,2", "--degree", "-1"], ["'--degree'", "'-1'"],
                 id="bad-degree"),
    pytest.param(["--family", "relu", "--depth", "2", "--width", "1", "--engine", "dask",
                  "--timeout", "5"], ["timeout", "Dask"], id="dask-with-timeout"),
    pytest.param(["--family", "relu", "--depth", "2", "--width", "1", "--jobs", "0"],
                 ["'--jobs'", "0"], id="jobs-0"),
    pytest.param(["--family", "relu", "--depth", "2", "--width", "1", "--timeout", "0"],
                 ["'--timeout'", "0"], id="timeout-0"),
    pytest.param([], ["no case"], id="no-case"),
]


@pytest.mark.parametrize("args, needles", CLI_ERRORS)
def test_cli_sweep_errors(capsys, tmp_path, args, needles):
    out = tmp_path / "s"
    rc, text, err = run_cli(capsys, "sweep", *args, "--out", str(out))
    assert rc == 2
    assert text == ""
    assert err.startswith("exactcl: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not out.exists()  # refused before anything was written


def test_cli_sweep_out_is_a_file(capsys, tmp_path):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    rc, text, err = run_cli(capsys, "sweep", "--spec", "relu:2,2", "--out", str(target))
    assert rc == 2 and text == ""
    assert err.count("\n") == 1 and "'--out'" in err and str(target) in err
    assert target.read_text() == "keep me"


def test_cli_sweep_missing_config(capsys, tmp_path):
    missing = tmp_path / "grid.toml"
    rc, _, err = run_cli(capsys, "sweep", "--config", str(missing), "--out",
                         str(tmp_path / "s"))
    assert rc == 2
    assert "'--config'" in err and str(missing) in err and err.count("\n") == 1


def test_cli_sweep_error_through_the_real_entry_point(tmp_path):
    proc = subprocess.run([*cli_command(), "sweep", "--family", "relu", "--depth", "2",
                           "--width", "3..1", "--out", str(tmp_path / "s")],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "'--width'" in proc.stderr


# --------------------------------------------------------------------------- 11. tables


def ok_record(case: Case, **changes) -> dict:
    record = {"case": case.as_dict(), "options": {"seed": 0}, "status": "ok",
              "parameters": 6, "laws": 2, "bounds": [2, 2], "lie_dimension": 4,
              "lie_rank": 4, "exhibited": 2, "certified": "certified", "proof": "sandwich",
              "closure_mode": None, "error_bound": None, "seconds": 1.25,
              "certificate": f"certificates/{case.id}.json", "host": "node_1"}
    record.update(changes)
    return record


BOUNDS = Case(name="bounds_only", phi=("u",))
MONTE_CARLO = Case(name="mc_closure", phi=("u",))
EXACT = Case(name="exact_closure", phi=("u",))
PENDING = Case(spec="relu:3,3,3")
HAND_ROWS = [
    (BOUNDS, ok_record(BOUNDS, certified="bounds", laws=None, bounds=[1, 3],
                       lie_dimension=None, lie_rank=2, exhibited=1, proof="bounds only")),
    (MONTE_CARLO, ok_record(MONTE_CARLO, proof="closure", closure_mode="monte-carlo",
                            error_bound="2^-118", laws=3, lie_dimension=3)),
    (EXACT, ok_record(EXACT, proof="closure", closure_mode="deterministic",
                      error_bound="0/1")),
    (BAD, {"case": BAD.as_dict(), "status": "failed", "parameters": None, "seconds": 0.5,
           "host": "h", "error": {"kind": "InputError",
                                  "message": 'bad "phi", 50% of {x} & y_z #1 | $\nnext'}}),
    (PENDING, None),
]


def test_markdown_bounds_closure_failed_and_pending_rows():
    md = md_rows_by_label(markdown_table(HAND_ROWS))
    assert list(md) == [c.label for c, _ in HAND_ROWS]
    b = md["bounds_only"]
    assert (b["dim Lie"], b["laws"], b["exhibited"], b["proved by"]) == (
        ">= 2", "1-3", "1", "bounds only")
    assert md["mc_closure"]["proved by"] == "closure (Monte Carlo, error <= 2^-118)"
    assert md["exact_closure"]["proved by"] == "closure (exact)"
    bad = md["bad"]
    assert bad["laws"] == "failed"
    assert bad["proved by"] == 'InputError: bad "phi", 50% of {x} & y_z #1 | $ next'
    assert md[PENDING.label]["proved by"] == "not run yet"
    assert md["bounds_only"]["certificate"] == "certificates/phi_bounds_only.json"


def test_latex_bounds_closure_failed_and_pending_rows():
    text = latex_table(HAND_ROWS)
    rows = latex_rows(text)
    assert len(rows) == len(HAND_ROWS)
    bounds, mc, exact, bad, pending = rows
    assert bounds.startswith(r"\texttt{bounds\_only} & ")
    assert r"$\geq 2$" in bounds and r"$1$--$3$" in bounds and "bounds only" in bounds
    assert r"closure (Monte Carlo, error $\leq 2^{-118}$)" in mc
    assert "closure (exact)" in exact
    assert "failed: InputError" in bad and "failed &" in bad  # the kind; the CSV has the rest
    assert "not run yet" in pending
    assert pending.startswith(r"\texttt{relu:3,3,3} & ")
    for row in rows:
        assert not re.search(r"(?<!\\)_", row), row  # every underscore escaped
        assert row.count("&") - row.count(r"\&") == 7  # eight columns, no degree column


def test_latex_escapes_labels_and_certificate_names():
    case = Case(name="x_y.z+1", phi=("u",))
    (row,) = latex_rows(latex_table([(case, ok_record(case))]))
    escaped = r"x\_y.z+1"
    assert row.startswith(rf"\texttt{{{escaped}}} & ")
    assert rf"phi\_{escaped}" in row  # the certificate cell
    assert row.count("&") - row.count(r"\&") == 7


def test_csv_bounds_closure_failed_and_pending_rows():
    rows = csv_rows(csv_table(HAND_ROWS))
    assert len(rows) == len(HAND_ROWS)
    bounds, mc, exact, bad, pending = rows
    assert (bounds["status"], bounds["laws"], bounds["laws_lower"], bounds["laws_upper"],
            bounds["lie_dimension"], bounds["lie_rank"]) == ("bounds", "", "1", "3", "", "2")
    assert (mc["status"], mc["proof"], mc["closure_mode"], mc["error_bound"]) == (
        "certified", "closure", "monte-carlo", "2^-118")
    assert exact["closure_mode"] == "deterministic"
    assert bad["status"] == "failed"
    assert bad["error"] == 'InputError: bad "phi", 50% of {x} & y_z #1 | $\nnext'
    assert pending["status"] == "not run" and pending["error"] == ""
    assert all(r["host"] == "node_1" for r in (bounds, mc, exact))


def test_real_latex_table_escapes_and_counts_rows(inproc):
    folder = inproc[0]
    text = (folder / "results.tex").read_text()
    assert r"\begin{tabular}" in text and text.rstrip().endswith(r"\end{tabular}")
    rows = latex_rows(text)
    assert len(rows) == len(CASES)
    for case, row in zip(CASES, rows):
        assert row.startswith(rf"\texttt{{{case.label}}} & ")
        assert case.id.replace("_", r"\_") in row  # the certificate, escaped
        assert not re.search(r"(?<!\\)_", row), row
    csv_text = (folder / "results.csv").read_text()
    assert len(csv_rows(csv_text)) == len(CASES)
    assert len(list(csv.reader(io.StringIO(csv_text)))) == len(CASES) + 1


def test_latex_monte_carlo_bound_of_a_real_sweep_is_a_true_power_of_two(tmp_path):
    case = Case(spec="linear:1,2,2,1")  # its count is proved by closure
    result = run_sweep([case], tmp_path / "s", closure="monte-carlo")
    record = result.records[case.id]
    assert (record["proof"], record["closure_mode"]) == ("closure", "monte-carlo")
    cert = read_json(tmp_path / "s" / record["certificate"])
    bound = Fraction(cert["closure"]["error_bound"])
    assert 0 < bound < 1
    (row,) = latex_rows((tmp_path / "s" / "results.tex").read_text())
    exponent = re.search(r"\\leq 2\^\{-([^}]*)\}", row).group(1)
    assert exponent.isdigit(), row
    assert bound <= Fraction(1, 2 ** int(exponent))


# --------------------------------------------------------------------------- 12. progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def exercise(bar: Progress) -> None:
    bar.draw(force=True)
    bar.advance()
    bar.advance(failed=True)
    bar.write("a message", stream=io.StringIO())
    bar.clear()
    bar.advance()
    bar.close()


def test_progress_disabled_never_writes_even_on_a_terminal():
    stream = FakeTerminal()
    exercise(Progress(3, "sweep", stream=stream, enabled=False))
    assert stream.getvalue() == ""


def test_progress_is_silent_when_the_stream_is_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(3, "sweep", stream=stream)
    assert bar.enabled is False
    exercise(bar)
    assert stream.getvalue() == ""


def test_progress_draws_on_a_terminal():
    stream = FakeTerminal()
    bar = Progress(3, "sweep", stream=stream)
    assert bar.enabled is True
    exercise(bar)
    text = stream.getvalue()
    assert "3/3 cases, 1 failed" in text and text.endswith("\n")


def test_progress_estimate_counts_only_the_cases_run_now():
    bar = Progress(10, "sweep", stream=io.StringIO(), enabled=True, initial=6, failed=1)
    assert "left" not in bar.line(elapsed=4.0)  # nothing run yet: no estimate
    bar.advance()
    line = bar.line(elapsed=4.0)
    assert "7/10 cases, 1 failed" in line
    # one case in 4 s, 3 to go: about 12 s (not 4 / 7 * 3, as if the 6 kept ones had run)
    assert line.endswith("~0:12 left")


def test_sweep_progress_is_silent_on_a_pipe(tmp_path, capsys):
    run_sweep(CASES[:2], tmp_path / "s", progress=None)
    out, err = capsys.readouterr()
    assert out == "" and err == ""

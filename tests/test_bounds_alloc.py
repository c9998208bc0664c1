"""Every request is sized from its numbers before anything is allocated.

Each oversized spec, program, grid and certificate program is refused with
one line naming the argument, the size and the limit: on the command line
in a child with 1 GiB of address space whose layout builders and ring raise
if reached (exit status 2, never 70), in Python with the same steps patched
to raise. Hangs are tested by the size that refuses them, never by a clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import exactcl
import exactcl.kernel.blocks
import exactcl.kernel.evaluator
import exactcl.kernel.rings
import exactcl.layers.program
import exactcl.limits
import exactcl.models.builtin
import exactcl.workflows.grid
import exactcl.workflows.sweep
from exactcl import Attention, Conv1d, Conv2d, Linear, ReLU, Residual, net
from exactcl.errors import CertificateFormatError, InputError, ResourceError
from exactcl.kernel.blocks import (
    MAX_ACTIVATIONS,
    MAX_LAYERS,
    MAX_NESTING,
    MAX_PATCH_ENTRIES,
    MAX_POSITIONS,
    MAX_TOKENS,
    check_blocks,
    count_layers,
    size_problem,
)
from exactcl.limits import MAX_INT_DIGITS, MAX_PARAMETERS, MAX_SPEC_CHARS

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs RLIMIT_AS")

DIGITS = "1" * 5000
NESTED = "net:" + "Residual(" * 1000 + "Linear(2,2)" + ")" * 1000
LAYERS_9000 = "net:" + ",".join(["Linear(2,2)"] * 9000)

#: The child: 1 GiB of address space, every step that builds names,
#: layouts or matrices made to raise, then the command line.
CHILD = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
import exactcl.models.builtin, exactcl.layers.program
import exactcl.kernel.blocks, exactcl.kernel.evaluator, exactcl.kernel.rings

def forbidden(*args, **kwargs):
    raise SystemExit("allocating step reached")

exactcl.kernel.blocks.BlockLayout.__init__ = forbidden
exactcl.kernel.evaluator.Layout.__init__ = forbidden
exactcl.kernel.rings.Ring.__init__ = forbidden
exactcl.models.builtin._weight_names = forbidden
exactcl.kernel.blocks.Words._build_constants = forbidden
from exactcl.interfaces.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_child(argv: list[str], cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True,
                          check=False, timeout=120, cwd=cwd)


def assert_refused(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err and "allocating step reached" not in err, err
    assert err.startswith("exactcl: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


# -- the command line ---------------------------------------------------------------------

SPECS = {
    "Conv2d size 10^5 x 10^5": ("net:Conv2d(1,1,3x3,size=100000x100000)",
                                ["'SPEC'", "'size'", "10,000,000,000 positions",
                                 f"limit is {MAX_POSITIONS:,}"]),
    "Conv1d length 10^9": ("net:Conv1d(1,1,1,length=1000000000)",
                           ["'SPEC'", "'length'", "1,000,000,000 positions",
                            f"limit is {MAX_POSITIONS:,}"]),
    "Linear(99999,99999)": ("net:Linear(99999,99999)",
                            ["'SPEC'", "'in_features' and 'out_features'",
                             "9,999,800,001 parameters", f"limit is {MAX_PARAMETERS:,}"]),
    "Attention(100000,1)": ("net:Attention(100000,1)",
                            ["'SPEC'", "'d', 'heads' and 'head_dim'", "40,000,000,000 parameters",
                             f"limit is {MAX_PARAMETERS:,}"]),
    "9000 Linear(2,2) layers": (LAYERS_9000, ["'SPEC'", f"{len(LAYERS_9000):,} characters",
                                              f"limit is {MAX_SPEC_CHARS:,}"]),
    "1001 Linear(2,2) layers": ("net:" + ",".join(["Linear(2,2)"] * 1001),
                                ["'SPEC'", "1,001 layers", f"limit is {MAX_LAYERS:,}"]),
    "Conv2d size 1000 x 1000": ("net:Conv2d(1,1,3x3,size=1000x1000)",
                                ["'SPEC'", "'size'", "1,000,000 positions",
                                 f"limit is {MAX_POSITIONS:,}"]),
    "Conv2d 1000 channels": ("net:Conv2d(1000,1000,3x3,size=10x10)",
                             ["'SPEC'", "'in_channels', 'out_channels' and 'kernel_size'",
                              "9,000,000 parameters", f"limit is {MAX_PARAMETERS:,}"]),
    "Attention 10^6 tokens": ("net:Attention(4,2,tokens=1000000)",
                              ["'SPEC'", "'tokens'", "1,000,000", f"limit is {MAX_TOKENS}"]),
    "1000 nested Residual": (NESTED, ["'SPEC'", "nests residual blocks 9 deep",
                                      f"limit is {MAX_NESTING}"]),
    "Conv1d length of 5000 digits": (f"net:Conv1d(1,1,1,length={DIGITS})",
                                     ["'SPEC'", "5,000 digits", f"limit is {MAX_INT_DIGITS}"]),
    "linear width of 5000 digits": (f"linear:2,{DIGITS},2",
                                    ["'SPEC'", "5,000 digits", f"limit is {MAX_INT_DIGITS}"]),
    "relu width of 5000 digits": (f"relu:{DIGITS},2",
                                  ["'SPEC'", "5,000 digits", f"limit is {MAX_INT_DIGITS}"]),
    "relu-bias width of 5000 digits": (f"relu-bias:2,{DIGITS},2",
                                       ["'SPEC'", "5,000 digits", f"limit is {MAX_INT_DIGITS}"]),
    "product of 5000 digits": (f"product:{DIGITS}", ["'SPEC'", "5,000 digits"]),
    "linear of 9001 widths": ("linear:" + ",".join(["2"] * 9001),
                              ["'SPEC'", "9,000 layers", f"limit is {MAX_LAYERS:,}"]),
    "relu:1,50000,1": ("relu:1,50000,1", ["'SPEC'", "width of 50,000",
                                          f"limit is {MAX_PARAMETERS:,}"]),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_an_oversized_spec_is_refused_before_anything_is_built(name):
    spec, fragments = SPECS[name]
    err = assert_refused(run_child(["count", spec]), *fragments)
    assert len(err) < 600, err  # quoted text is cut


def test_a_net_spec_at_the_limits_is_still_read():
    prog = exactcl.layers.program.parse_net(",".join(["Linear(2,2)"] * MAX_LAYERS), "net:...")
    assert prog.D == 4 * MAX_LAYERS
    deepest = "Residual(" * MAX_NESTING + "Linear(2,2)" + ")" * MAX_NESTING
    assert exactcl.layers.program.parse_net(deepest, "net:...").D == 4
    conv = exactcl.layers.program.parse_net("Conv2d(1,1,3x3,size=64x64)", "net:...")
    assert conv.D == 9 and conv.layout.probe_sizes()[0] == MAX_POSITIONS


def test_nesting_is_bounded_by_a_counter_not_by_the_recursion_limit():
    """5000 levels, far past the interpreter's recursion limit: refused at
    the ninth by the parser's depth counter."""
    deep = "net:" + "Residual(" * 5000 + "Linear(2,2)" + ")" * 5000
    assert 5000 > sys.getrecursionlimit()
    with pytest.raises(InputError, match="nests residual blocks 9 deep; the limit is 8"):
        exactcl.layers.program.parse_net(deep[4:], deep)


# -- sweeps ---------------------------------------------------------------------------------

def _config(tmp_path, text: str) -> str:
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, fragments", [
    (f"specs = [{json.dumps(LAYERS_9000)}]\n",
     ["'", f"{len(LAYERS_9000):,} characters", f"limit is {MAX_SPEC_CHARS:,}"]),
    (f"[[grid]]\nfamily = \"linear\"\nwidths = [[2, {DIGITS}, 2]]\n",
     ["'--config'", "more digits"]),
    (f"[[grid]]\nfamily = \"linear\"\nwidths = [[2, {'7' * 4000}, 2]]\n",
     ["widths", "about 10^3999", f"limit is {MAX_PARAMETERS:,}"]),
    ("[[grid]]\nfamily = \"linear\"\ndepth = 5000\nwidth = 1\n",
     ["depth", "5000", f"limit is {MAX_LAYERS:,}"]),
    (f"[[grid]]\nfamily = \"linear\"\ndepth = 2\nwidth = \"1..{DIGITS}\"\n",
     ["width", "5,000 digits", f"limit is {MAX_INT_DIGITS}"]),
    (f"specs = [\"relu:2,{DIGITS},2\"]\n", ["5,000 digits"]),
], ids=["9000-layers", "5000-digit-int", "4000-digit-width", "depth-5000", "5000-digit-range",
        "5000-digit-spec"])
def test_an_oversized_sweep_config_is_refused_before_the_folder_is_made(tmp_path, text,
                                                                        fragments):
    out = tmp_path / "sweep"
    proc = run_child(["sweep", "--config", _config(tmp_path, text), "--out", str(out)])
    assert_refused(proc, *fragments)
    assert not out.exists()


def test_a_long_case_id_names_a_file_that_can_be_written(tmp_path):
    spec = "net:" + ",".join(["Linear(1,1,bias)"] * 12)
    case = exactcl.workflows.grid.Case(spec=spec)
    assert len(case.id) <= exactcl.workflows.grid.MAX_ID_CHARS < 255 - len(".json")
    result = exactcl.workflows.sweep.sweep([case], tmp_path / "s", jobs=1, progress=False)
    assert result.ok, result.records
    assert os.listdir(tmp_path / "s" / "certificates") == [case.id + ".json"]


# -- Python --------------------------------------------------------------------------------

@pytest.fixture
def nothing_built(monkeypatch):
    """Layouts, rings and weight names raise if reached."""
    def forbidden(*args, **kwargs):
        raise AssertionError("an allocating step was reached before the size check")
    monkeypatch.setattr(exactcl.kernel.blocks.BlockLayout, "__init__", forbidden)
    monkeypatch.setattr(exactcl.kernel.evaluator.Layout, "__init__", forbidden)
    monkeypatch.setattr(exactcl.kernel.rings.Ring, "__init__", forbidden)
    monkeypatch.setattr(exactcl.models.builtin, "_weight_names", forbidden)


@pytest.mark.parametrize("build, error, fragments", [
    (lambda: Conv2d(1, 1, 3, size=(100000, 100000)), ResourceError,
     ["'size' of Conv2d(1, 1, 3)", "10,000,000,000 positions", "4,096"]),
    (lambda: Conv1d(1, 1, 1, length=10**9), ResourceError,
     ["'length' of Conv1d(1, 1, 1)", "1,000,000,000 positions"]),
    (lambda: Linear(99999, 99999), ResourceError,
     ["'in_features' and 'out_features' of Linear(99999, 99999)", "9,999,800,001"]),
    (lambda: Attention(100000, 1), ResourceError,
     ["'d', 'heads' and 'head_dim' of Attention(100000, 1)", "40,000,000,000"]),
    (lambda: Attention(4, 2, tokens=10**6), ResourceError,
     ["'tokens' of Attention(4, 2)", "1,000,000", f"limit is {MAX_TOKENS}"]),
    (lambda: Conv2d(1, 1, 3, size=(1000, 1000)), ResourceError, ["'size'", "1,000,000"]),
    (lambda: Conv2d(1000, 1000, 3, size=(10, 10)), ResourceError,
     ["'in_channels', 'out_channels' and 'kernel_size'", "9,000,000 parameters"]),
    (lambda: Conv1d(1, 1, 1, stride=10**5000, length=4), ResourceError,
     ["'stride'", "about 10^5000", "4,096"]),
    (lambda: Linear(10**5000, 2), ResourceError, ["Linear(about 10^5000, 2)", "parameters"]),
    (lambda: Linear(-10**5000, 2), InputError, ["'in_features'", "-about 10^5000"]),
    (lambda: net(*[Linear(2, 2)] * 9000), ResourceError,
     ["'layers' of net has 9,000 layers", f"limit is {MAX_LAYERS:,}"]),
    (lambda: net(*[Residual(Linear(2, 2))] * 600), ResourceError,
     ["'layers' of net has 1,200 layers", "residual blocks included"]),
    (lambda: net(Attention(2500, 1, 1)), ResourceError,
     ["'layers' of net is too large", "activations", f"{MAX_ACTIVATIONS:,}"]),
    (lambda: net(Conv1d(4, 1, 1024, length=4096)), ResourceError,
     ["'layers' of net is too large", "unfolded convolution patches",
      f"{MAX_PATCH_ENTRIES:,}"]),
    (lambda: exactcl.linear([2] * 9001), ResourceError, ["'widths'", "9,000 layers"]),
    (lambda: exactcl.relu([2, 10**5000, 2]), ResourceError, ["'widths'", "about 10^5000"]),
    (lambda: exactcl.layers.program.from_family("linear", [2] * 9001), ResourceError,
     ["'widths'", "9,000 layers"]),
], ids=["Conv2d-10^10-positions", "Conv1d-10^9-positions", "Linear(99999,99999)",
        "Attention(100000,1)", "Attention-10^6-tokens", "Conv2d-10^6-positions",
        "Conv2d-1000-channels", "stride-of-5000-digits", "width-of-5000-digits",
        "negative-width-of-5000-digits", "net-of-9000-layers", "net-of-600-blocks",
        "attention-d-2500", "convolution-patches", "linear-of-9001-widths",
        "relu-width-of-5000-digits", "from_family-of-9001-widths"])
def test_an_oversized_program_in_python_is_refused_before_anything_is_built(
        nothing_built, build, error, fragments):
    with pytest.raises(error) as info:
        build()
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_residual_blocks_nest_at_most_max_nesting_deep_in_python():
    block = Linear(2, 2)
    for _ in range(MAX_NESTING):
        block = Residual(block)
    assert net(block).D == 4
    with pytest.raises(InputError, match=f"nests residual blocks {MAX_NESTING + 1} deep; the "
                                         f"limit is {MAX_NESTING}"):
        Residual(block)


def test_a_program_built_without_net_is_checked_before_its_layout(nothing_built):
    prog = exactcl.layers.program.Program((Linear(2, 2),) * 5000)
    with pytest.raises(ResourceError, match="'layers' of Program has 5,000 layers"):
        _ = prog.layout


@pytest.fixture
def half_of_24_gb(monkeypatch):
    monkeypatch.setattr(exactcl.limits, "_meminfo", lambda: {"MemTotal": 24 * 2**30,
                                                             "MemAvailable": 22 * 2**30})


def test_a_model_whose_candidate_laws_exceed_the_memory_is_refused_before_its_ring(
        half_of_24_gb, nothing_built):
    """linear:100,100,100 took more than 60 s and 6.7 GB building its
    candidate laws (20 GB in all) before anything refused it."""
    with pytest.raises(ResourceError, match=r"linear:100,100,100 would take an estimated "
                                            r"19\.5 GB to build .* 5,050 candidate laws"):
        exactcl.linear([100, 100, 100])


def test_a_program_model_whose_candidate_laws_exceed_the_memory_is_refused_before_its_ring(
        half_of_24_gb, monkeypatch):
    """Its layout (the parameters' names) is built, not its ring."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the ring was built before the size check")
    monkeypatch.setattr(exactcl.kernel.rings.Ring, "__init__", forbidden)
    with pytest.raises(ResourceError, match=r"Linear\(100,100,bias\),Linear\(100,100\) would "
                                            r"take an estimated 19\.\d GB"):
        exactcl.models.builtin.from_program(net(Linear(100, 100, bias=True), Linear(100, 100)))
    prog = net(Conv1d(1, 150, 1, length=4), Conv1d(150, 150, 1))
    with pytest.raises(ResourceError, match=r"would take an estimated .* 11,325 candidate laws"):
        exactcl.models.builtin.from_program(prog)


@pytest.mark.parametrize("prog", [
    net(Linear(2, 3), ReLU(), Residual(Linear(3, 4), ReLU(), Linear(4, 3)), Linear(3, 2)),
    net(Conv1d(1, 2, 2, length=5, bias=True), Conv1d(2, 3, 2), ReLU(), Linear(9, 2)),
    net(Conv2d(2, 2, 2, size=(3, 3)), Residual(Conv2d(2, 2, 1), Conv2d(2, 2, 1))),
    net(Attention(4, 2)), net(exactcl.LinearAttention(4, 2)),
], ids=["residual", "conv1d", "conv2d-residual", "attention", "linear-attention"])
def test_the_candidate_estimate_of_a_block_program_bounds_its_laws(prog):
    from exactcl.models.blocks import block_candidates, candidate_sizes
    model = exactcl.models.builtin.from_program(prog)
    laws, terms = candidate_sizes(prog.layout)
    assert laws >= len(model.candidates)
    assert terms >= sum(len(model.candidate_terms(k)) for k in range(len(model.candidates)))
    assert len(block_candidates(prog.layout, model.ring)[0]) == len(model.candidates)


def test_the_candidate_estimate_of_a_chain_is_its_laws():
    from exactcl.models.builtin import _program_candidate_sizes
    prog = net(Linear(2, 3), ReLU(), Linear(3, 2, bias=True), Linear(2, 4), ReLU(), Linear(4, 1))
    model = exactcl.models.builtin.from_program(prog)
    assert _program_candidate_sizes(prog.layout) == (
        len(model.candidates),
        sum(len(model.candidate_terms(k)) for k in range(len(model.candidates))))


# -- certificates ---------------------------------------------------------------------------

def _nested(depth: int) -> list:
    program = [["linear", 2, 2, False]]
    for _ in range(depth):
        program = [["residual", program]]
    return program


@pytest.mark.parametrize("layers, fragment", [
    (_nested(1000), f"residual blocks nest deeper than {MAX_NESTING}"),
    ([["residual", [["linear", 2, 2, False]] * 400]] * 3, "more than 1,000 layers"),
    ([["linear", 10**5000, 2, False]], "about 10^5000 parameters"),
    ([["linear", 10**4000, 10**4000, False]], "about 10^8000 parameters"),
    ([["conv", 1, 1, [1], [1], False, [10**5000]]], "reads about 10^5000 positions"),
    ([["attention", "softmax", 2, 1, 1, 10**5000]], "about 10^5000 tokens"),
    ([["conv", 4, 1, [2048], [1], False, [4096]]], "unfold to 16,785,408"),
], ids=["nested-1000", "1200-layers-in-blocks", "5000-digit-width", "8000-digit-parameters",
        "5000-digit-size", "5000-digit-tokens", "patches"])
def test_a_certificate_program_is_sized_before_it_is_laid_out(monkeypatch, layers, fragment):
    from exactcl.kernel import programs

    def forbidden(*args, **kwargs):
        raise AssertionError("the layout was built before the size check")
    monkeypatch.setattr(programs, "Layout", forbidden)
    monkeypatch.setattr(programs, "BlockLayout", forbidden)
    if "nest" in fragment or "layers" in fragment:  # counted before they are checked
        monkeypatch.setattr(programs, "check_blocks", forbidden)
    with pytest.raises(CertificateFormatError) as info:
        programs.program_layout({"program": layers})
    assert fragment in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_count_layers_walks_levels_without_recursion():
    assert count_layers(_nested(MAX_NESTING)) == MAX_NESTING + 1
    with pytest.raises(ValueError, match="nest deeper than 8"):
        count_layers(_nested(100_000))


def test_size_problem_names_the_first_size_over_its_limit():
    chain = check_blocks([["linear", 1, 1, False]] * 1001)
    assert "more than 1,000 layers" in size_problem(chain, MAX_PARAMETERS)
    relus = check_blocks([["linear", 1, 40000, False], ["relu"], ["linear", 40000, 1, False]])
    assert "brings the parameters to 80,000" in size_problem(relus, MAX_PARAMETERS)
    assert size_problem(check_blocks([["linear", 1, 20000, False], ["relu"],
                                      ["linear", 20000, 1, False]]), MAX_PARAMETERS) is None


@pytest.mark.parametrize("spec", ["relu:96,96,96,96", "relu:1,19999,1"])
def test_a_count_too_large_for_memory_is_refused_before_its_model_is_built(spec, monkeypatch,
                                                                          capsys):
    """The program engine's estimate is read from the program: neither the
    ring nor the candidate laws of the model are built."""
    from exactcl.interfaces.cli import main
    from exactcl.models import builtin as models

    def built(*args, **kwargs):
        raise AssertionError("the model was built")

    monkeypatch.setattr(models, "relu", built)
    rc = main(["count", spec, "--max-memory", "2G"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"The count of {spec} needs an estimated" in err

"""Pooling layers (AvgPool1d/2d, MaxPool1d/2d, AdaptiveAvgPool1d/2d): a
layer family added as one user module, one kernel module and a registry
line per type on each side.

Checked against independent computations: phi written by hand in SymPy
(the mean of each window; the max on a fixed pattern, one selection per
channel, window element and output position), the two engines against
each other, the rank of the probe fields against the expanded generators',
certificates against the verifier (and mutated ones refused), and torch
modules against their own forward (the output check of from_torch)."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
import sympy
from flint import nmod_mat

import exactcl
from exactcl import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    Linear,
    MaxPool1d,
    MaxPool2d,
    ReLU,
    Residual,
    net,
)
from exactcl.certificates.build import certify
from exactcl.errors import InputError, ResourceError
from exactcl.kernel import blocks, certformat
from exactcl.kernel.evaluator import Probe, probe_family
from exactcl.kernel.verifier import verify_text
from exactcl.layers.forward import output, relu_patterns
from exactcl.layers.program import parse_net
from exactcl.models.blocks import block_model

from .helpers import reverse_pass_and_expansion

#: (layers, laws): one law per channel or neuron across a ReLU or a max
#: pooling, balancedness of the channels across an average pooling.
NETWORKS = {
    "conv1d-relu-maxpool": ([Conv1d(1, 2, 2, length=5), ReLU(), MaxPool1d(2), Linear(4, 1)], 2),
    "conv2d-avgpool-bias": ([Conv2d(1, 2, 2, size=(3, 3), bias=True), AvgPool2d(2),
                             Linear(2, 1, bias=True)], 3),
    "conv2d-maxpool-relu-bias": ([Conv2d(1, 2, 2, size=(5, 5), bias=True), MaxPool2d(2), ReLU(),
                                  Linear(8, 2, bias=True)], 2),
    "overlapping-maxpool": ([Conv1d(1, 2, 2, length=6), MaxPool1d(3, stride=1), ReLU(),
                             Linear(6, 1)], 2),
    "adaptive-head": ([Conv1d(1, 3, 2, length=5, bias=True), ReLU(), AdaptiveAvgPool1d(1),
                       Linear(3, 2)], 3),
    "pool-between-convs": ([Conv1d(1, 2, 2, length=9), ReLU(), MaxPool1d(2), Conv1d(2, 2, 2),
                            ReLU(), AvgPool1d(3), Linear(2, 1)], 4),
    "lenet-like": ([Conv2d(1, 2, 3, size=(8, 8)), ReLU(), MaxPool2d(2), Conv2d(2, 3, 2), ReLU(),
                    AdaptiveAvgPool2d(1), Linear(3, 2)], 5),
    "residual-after-pool": ([Conv1d(1, 2, 2, length=7), AvgPool1d(2),
                             Residual(Conv1d(2, 2, 1), ReLU(), Conv1d(2, 2, 1)), Linear(6, 1)],
                            2 + 3),
}


@pytest.mark.parametrize("engine", ["expanded", "program"])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_pooled_networks_are_certified_alike_on_both_engines(name, engine):
    layers, laws = NETWORKS[name]
    r = exactcl.count(net(*layers), engine=engine)
    assert r.proof in ("sandwich", "closure"), r.explanation
    assert r.laws == laws, r.explanation


def test_the_candidate_laws_see_channels_through_a_pooling():
    avg = block_model(net(Conv1d(1, 2, 2, length=5), AvgPool1d(2), Linear(4, 1)))
    assert avg.candidate_labels == ("balancedness of layers 1, 2 [0,0]",
                                    "balancedness of layers 1, 2 [0,1]",
                                    "balancedness of layers 1, 2 [1,1]")
    # the dense layer reads channel c at both pooled positions: W2_0_{2c}, W2_0_{2c+1}
    assert str(avg.candidates[1]) == ("K1_0_0_0*K1_1_0_0 + K1_0_0_1*K1_1_0_1 - W2_0_0*W2_0_2 - "
                                      "W2_0_1*W2_0_3")
    mx = block_model(net(Conv1d(1, 2, 2, length=5), MaxPool1d(2), ReLU(), Linear(4, 1)))
    assert mx.candidate_labels == ("channel 0 of layer 1", "channel 1 of layer 1")


# -- phi written by hand ------------------------------------------------------------------

def _conv1d(K, x, length_out):
    """y[c][q] = sum_t K[c][t] x[q + t] (one input channel)."""
    return [[sum(K[c][t] * x[q + t] for t in range(len(K[c]))) for q in range(length_out)]
            for c in range(len(K))]


def _hand_max_phi():
    """phi of Conv1d(1,2,2,length=5), ReLU, MaxPool1d(2), Linear(4,1): the
    coefficients of u W2 . (sum_k s_{c,k,o} r_{c,2o+k})_{c,o} in x, the ReLU's
    indicators r and the selections s."""
    K = [[sympy.Symbol(f"K1_{c}_0_{t}") for t in range(2)] for c in range(2)]
    W = [sympy.Symbol(f"W2_0_{j}") for j in range(4)]
    x, u = sympy.symbols("x0:5"), sympy.Symbol("u")
    r = [[sympy.Symbol(f"r{c}_{q}") for q in range(4)] for c in range(2)]
    s = [[[sympy.Symbol(f"s{c}_{k}_{o}") for o in range(2)] for k in range(2)] for c in range(2)]
    y = _conv1d(K, x, 4)
    pooled = [[sum(s[c][k][o] * r[c][2 * o + k] * y[c][2 * o + k] for k in range(2))
               for o in range(2)] for c in range(2)]
    F = u * sum(W[2 * c + o] * pooled[c][o] for c in range(2) for o in range(2))
    gens = list(x) + [v for row in r for v in row] + [v for a in s for b in a for v in b] + [u]
    return [v for row in K for v in row] + W, sympy.Poly(sympy.expand(F), *gens).coeffs()


def _hand_avg_phi():
    """phi of Conv1d(1,2,2,length=5,bias), AvgPool1d(2), ReLU, Linear(4,1,bias):
    the coefficients of u (W2 . r (mean of each window of y + b1) + b2)."""
    K = [[sympy.Symbol(f"K1_{c}_0_{t}") for t in range(2)] for c in range(2)]
    b1 = [sympy.Symbol(f"b1_{c}") for c in range(2)]
    W = [sympy.Symbol(f"W2_0_{j}") for j in range(4)]
    b2 = sympy.Symbol("b2_0")
    x, u = sympy.symbols("x0:5"), sympy.Symbol("u")
    r = [[sympy.Symbol(f"r{c}_{o}") for o in range(2)] for c in range(2)]
    y = _conv1d(K, x, 4)
    mean = [[sympy.Rational(1, 2) * sum(y[c][2 * o + k] + b1[c] for k in range(2))
             for o in range(2)] for c in range(2)]
    F = u * (sum(W[2 * c + o] * r[c][o] * mean[c][o] for c in range(2) for o in range(2)) + b2)
    gens = list(x) + [v for row in r for v in row] + [u]
    return ([v for row in K for v in row] + W + b1 + [b2],
            sympy.Poly(sympy.expand(F), *gens).coeffs())


@pytest.mark.parametrize("hand,layers", [
    (_hand_max_phi, [Conv1d(1, 2, 2, length=5), ReLU(), MaxPool1d(2), Linear(4, 1)]),
    (_hand_avg_phi, [Conv1d(1, 2, 2, length=5, bias=True), AvgPool1d(2), ReLU(),
                     Linear(4, 1, bias=True)]),
], ids=["maxpool", "avgpool"])
def test_the_count_and_laws_are_those_of_phi_written_by_hand(hand, layers):
    program = net(*layers)
    symbols, phi = hand()
    assert tuple(map(str, symbols)) == program.parameters
    by_hand = exactcl.from_phi(phi, symbols)
    assert exactcl.count(program).laws == exactcl.count(by_hand).laws == 2
    assert sorted(exactcl.laws(program, 2).strings()) == sorted(exactcl.laws(by_hand, 2).strings())


# -- probes --------------------------------------------------------------------------------

def _probe_rank(program, family: str) -> int:
    """The rank at a random point of the first 2 D + 64 probe fields of ``family``."""
    lay = program.layout
    p = 4611686018427387847
    rng = random.Random(0)
    point = [rng.randrange(1, p) for _ in range(lay.D)]
    probes = [blocks.random_probe(lay, family, k) for k in range(2 * lay.D + 64)]
    words = blocks.Words(lay, probes, {}, point, p)
    rows = [[v.get(i, 0) for i in range(lay.D)] for v in map(words.value, range(len(probes)))]
    return nmod_mat(rows, p).rank()


@pytest.mark.parametrize("spec", [
    "Conv1d(1,2,3,length=12),ReLU,MaxPool1d(2),Linear(10,4),ReLU,Linear(4,2)",
    "Conv2d(1,2,3,size=8x8),ReLU,MaxPool2d(2),Linear(18,4),ReLU,Linear(4,2)",
])
def test_dense_probes_span_what_the_generators_span_and_one_hot_probes_do_not(spec):
    program = parse_net(spec, "net:" + spec)
    assert program.layout.dense_probes
    expanded = exactcl.count(program, engine="expanded")
    assert expanded.proof == "sandwich" and expanded.lie_rank == program.D - 6
    assert _probe_rank(program, blocks.DENSE + "0") == expanded.lie_rank
    # one active unit per layer: the ReLU's unit and the window element kept rarely meet
    covering = probe_family(program.layout.relu_widths, 0)
    assert _probe_rank(program, covering) < expanded.lie_rank // 4


def test_a_program_with_pooling_or_convolution_draws_dense_probes_and_others_do_not():
    pooled = exactcl.count(net(Conv2d(1, 3, 3, size=(12, 12)), ReLU(), MaxPool2d(2),
                               Linear(75, 8), ReLU(), Linear(8, 3)), engine="program")
    assert pooled.proof == "sandwich" and pooled.laws == 3 + 8
    assert "family 'exactcl-dense-0'" in pooled.explanation
    assert net(Conv1d(1, 2, 2, length=5), ReLU(), Linear(8, 1)).layout.dense_probes
    plain = exactcl.count(net(Linear(3, 4), ReLU(), Residual(Linear(4, 4), ReLU(), Linear(4, 4)),
                              Linear(4, 2)), engine="program")
    assert "family 'exactcl-cover-0'" in plain.explanation, plain.explanation
    assert not getattr(net(Linear(3, 4), ReLU(), Linear(4, 1)).layout, "dense_probes", False)


def test_two_padded_convolutions_with_relus_are_counted_by_sandwich():
    # covering probes (one active unit per layer) left bounds 4 to 82 here
    r = exactcl.count(net(Conv2d(1, 2, 3, padding=1, bias=True, size=(4, 4)), ReLU(),
                          Conv2d(2, 2, 3, padding=1, bias=True), ReLU(),
                          Linear(32, 3, bias=True)), engine="program")
    assert (r.laws, r.proof) == (4, "sandwich"), r.explanation
    assert "family 'exactcl-dense-0'" in r.explanation


@pytest.mark.parametrize("layers", [
    [["conv", 1, 2, [2], [1], True, [6]], ["relu"], ["maxpool", 2, [2], [1], [5]],
     ["avgpool", 2, [2], [2], [4]], ["linear", 4, 2, True]],
    [["conv", 2, 2, [2, 2], [1, 1], False, [4, 5]], ["maxpool", 2, [2, 2], [1, 2], [3, 4]],
     ["relu"], ["avgpool", 2, [2, 1], [1, 1], [2, 2]], ["linear", 4, 1, False]],
    [["conv", 1, 2, [2], [1], False, [7]], ["maxpool", 2, [2], [2], [6]], ["linear", 6, 1, True]],
], ids=["1d-overlapping", "2d", "1d-disjoint"])
def test_the_reverse_pass_is_the_gradient_of_the_exact_expansion(layers):
    """grad F of a probe, by the rules' forward and reverse passes mod p,
    against F built from the rules' exact expansion over Q and derived."""
    got, want = reverse_pass_and_expansion(layers, 5)
    assert got == want and got


# -- certificates ---------------------------------------------------------------------------

def _refit(cert: dict) -> dict:
    cert["model"]["fingerprint"] = certformat.fingerprint(cert["model"])
    return cert


@pytest.mark.parametrize("layers,name", [
    ([Conv1d(1, 2, 2, length=5), ReLU(), MaxPool1d(2), Linear(4, 1)],
     "net:Conv1d(1,2,2,length=5),ReLU,MaxPool1d(2),Linear(4,1)"),
    ([Conv2d(1, 2, 2, size=(5, 5), bias=True), AvgPool2d(2, stride=1), ReLU(),
      Linear(18, 1)],
     "net:Conv2d(1,2,2x2,bias,size=5x5),AvgPool2d(2x2,stride=1x1),ReLU,Linear(18,1)"),
    ([Conv2d(1, 2, 2, size=(5, 5)), AdaptiveAvgPool2d(2), Linear(8, 1)],
     "net:Conv2d(1,2,2x2,size=5x5),AdaptiveAvgPool2d(2x2),Linear(8,1)"),
], ids=["maxpool", "avgpool", "adaptive"])
def test_a_certificate_with_pooling_verifies_and_its_name_is_read_back(layers, name):
    cert, result = certify(net(*layers), reproducible=True, engine="program")
    assert cert["model"]["name"] == name
    assert cert["lie"]["generators"]["family"] == "exactcl-dense-0"
    report = verify_text(certformat.dumps(cert), rng=random.Random(3))
    assert report.ok, str(report)
    (check,) = [c for c in report.checks if c.claim == "model name"]
    assert "the layers parsed from the name are the program in the file" in check.detail


def test_the_adaptive_pooling_of_a_file_is_its_average_pooling():
    cert, _ = certify(net(Conv2d(1, 2, 2, size=(5, 5)), AdaptiveAvgPool2d(2), Linear(8, 1)),
                      reproducible=True)
    assert cert["model"]["program"][1] == ["avgpool", 2, [2, 2], [2, 2], [4, 4]]


def test_the_verifier_refuses_a_window_changed_in_the_file():
    model = net(Conv1d(1, 2, 2, length=5), AvgPool1d(2), Linear(4, 1))
    cert, _ = certify(model, reproducible=True)
    cert["model"]["program"][1] = ["avgpool", 2, [3], [1], [4]]  # the name still says 2
    report = verify_text(certformat.dumps(cert), rng=random.Random(3))
    assert not report.ok  # the fingerprint no longer matches
    report = verify_text(certformat.dumps(_refit(cert)), rng=random.Random(3))
    assert not report.ok and "model name" in [c.claim for c in report.checks if not c.passed]
    # the name changed too: windows of 3 give another model, whose rank is lower
    cert["model"]["name"] = "net:Conv1d(1,2,2,length=5),AvgPool1d(3,stride=1),Linear(4,1)"
    report = verify_text(certformat.dumps(_refit(cert)), rng=random.Random(3))
    assert not report.ok and [c.claim for c in report.checks if not c.passed] == ["Lie rank"]


@pytest.mark.parametrize("layers,fragment", [
    ([["linear", 2, 4, False], ["maxpool", 4, [2], [2], [1]], ["linear", 4, 1, False]],
     "layer 2 (maxpool) must follow a layer that gives channels x positions (a convolution, or "
     "a pooling or an activation after one), not a vector of 4 entries"),
    ([["avgpool", 1, [2], [2], [4]], ["linear", 2, 1, False]],
     "layer 1 (avgpool) must follow a layer that gives channels x positions"),
    ([["conv", 1, 2, [2], [1], False, [5]], ["maxpool", 3, [2], [2], [4]],
      ["linear", 4, 1, False]],
     "layer 2 (maxpool) takes 3 channels of size 4 but the layer before it gives 2 channels of "
     "size 4"),
    ([["conv", 1, 2, [2], [1], False, [5]], ["avgpool", 2, [5], [1], [4]],
      ["linear", 2, 1, False]], "layer 2 (avgpool) has window 5 larger than its input (size 4)"),
    ([["conv", 1, 2, [2, 2], [1, 1], False, [3, 3]], ["maxpool", 2, [2], [2], [2, 2]],
      ["linear", 2, 1, False]],
     "layer 2 (maxpool) has a 1-D window but its input has 2-D positions (size 2x2)"),
    ([["conv", 1, 2, [2], [1], False, [5]], ["maxpool", 2, [2], [0], [4]],
      ["linear", 4, 1, False]], "layer 2 (maxpool) must have a positive stride, not 0"),
    ([["conv", 1, 2, [2], [1], False, [5]], ["maxpool", 2, [2], [2]], ["linear", 4, 1, False]],
     "layer 2 (maxpool) must be ['maxpool', channels, kernel, stride, size]"),
    ([["conv", 1, 2, [2], [1], False, [5]], ["avgpool", 2, 2, [2], [4]], ["linear", 4, 1, False]],
     "layer 2 (avgpool) must be ['avgpool', channels, kernel, stride, size]"),
])
def test_the_kernel_refuses_a_pooling_not_in_canonical_form_or_out_of_place(layers, fragment):
    with pytest.raises(ValueError) as info:
        blocks.check_blocks(layers)
    assert fragment in str(info.value)


def test_a_certificate_bounds_the_entries_its_poolings_unfold():
    from exactcl.errors import CertificateFormatError
    from exactcl.kernel.programs import program_layout
    with pytest.raises(CertificateFormatError, match="convolutions and poolings unfold"):
        program_layout({"program": [["conv", 1, 64, [1, 1], [1, 1], False, [64, 64]],
                                    ["maxpool", 64, [32, 32], [1, 1], [64, 64]],
                                    ["linear", 64 * 33 * 33, 1, False]]})


def test_the_kernel_refuses_a_prime_dividing_the_window_size():
    lay = blocks.BlockLayout([["conv", 1, 1, [1], [1], False, [6]], ["avgpool", 1, [3], [3], [6]],
                              ["linear", 2, 1, False]])
    probe = Probe((1, 2, 3, 4, 5, 6), (), [], (1,))
    assert blocks.Words(lay, [probe], {}, [1, 1, 1], 11).value(0)  # 3 is invertible mod 11
    with pytest.raises(ValueError, match="the prime 3 divides the window size 3 of an average"):
        blocks.Words(lay, [probe], {}, [1, 1, 1], 3).value(0)


# -- exact forward ----------------------------------------------------------------------------

def test_the_exact_forward_takes_the_rational_mean_and_the_max_with_its_pattern():
    layers = [["conv", 1, 1, [1], [1], False, [6]], ["maxpool", 1, [2], [2], [6]],
              ["avgpool", 1, [3], [3], [3]], ["linear", 1, 1, False]]
    values = {"K1_0_0_0": Fraction(1, 2), "W2_0_0": 1}
    x = [1, 4, 4, 0, -1, -3]
    # conv: x / 2; max of pairs: 2, 2, -1/2 (the first of equal ones); mean: 7/6
    assert output(layers, values, x) == [Fraction(7, 6)]
    # one selection per channel, window element and output position: element 0 of each
    # window then element 1 (window 1 takes its first of equal ones, window 2 its first)
    assert relu_patterns(layers, values, x) == [[0, 1, 1, 1, 0, 0]]


def test_pooling_2d_reads_windows_row_by_row():
    layers = [["conv", 1, 1, [1, 1], [1, 1], False, [2, 4]],
              ["avgpool", 1, [2, 2], [2, 2], [2, 4]], ["linear", 2, 2, False]]
    values = {"K1_0_0_0_0": 1, "W2_0_0": 1, "W2_0_1": 0, "W2_1_0": 0, "W2_1_1": 1}
    assert output(layers, values, [1, 2, 3, 4, 5, 6, 7, 8]) == [Fraction(7, 2), Fraction(11, 2)]


# -- user classes and specs ----------------------------------------------------------------------

@pytest.mark.parametrize("text,canonical", [
    ("MaxPool1d(2)", ["maxpool", 2, [2], [2], [4]]),
    ("maxpool1d(3,stride=1)", ["maxpool", 2, [3], [1], [4]]),
    ("AvgPool1d(2,stride=2)", ["avgpool", 2, [2], [2], [4]]),
    ("AdaptiveAvgPool1d(2)", ["avgpool", 2, [2], [2], [4]]),
    ("AdaptiveAvgPool1d(1)", ["avgpool", 2, [4], [4], [4]]),
])
def test_the_spec_gives_the_canonical_pooling(text, canonical):
    _, channels, kernel, stride, size = canonical
    outputs = channels * ((size[0] - kernel[0]) // stride[0] + 1)
    prog = parse_net(f"Conv1d(1,2,2,length=5),{text},Linear({outputs},1)", "net:...")
    assert prog.canonical()[1] == canonical
    assert parse_net(prog.spec[len("net:"):], prog.spec) == prog


def test_2d_specs_take_one_int_for_both_axes():
    prog = parse_net("Conv2d(1,2,2,size=7x7),MaxPool2d(2,stride=1x2),AvgPool2d(2),"
                     "AdaptiveAvgPool2d(1),Linear(2,1)", "net:...")
    assert prog.layers[1] == MaxPool2d(2, stride=(1, 2))
    assert prog.spec == ("net:Conv2d(1,2,2x2,size=7x7),MaxPool2d(2x2,stride=1x2),AvgPool2d(2x2),"
                         "AdaptiveAvgPool2d(1x1),Linear(2,1)")
    assert [layer[:2] for layer in prog.canonical()[1:4]] == [["maxpool", 2], ["avgpool", 2],
                                                              ["avgpool", 2]]


@pytest.mark.parametrize("text,fragment", [
    ("MaxPool1d", "must be MaxPool1d(k[,stride=s])"),
    ("MaxPool1d(2,3)", "must be MaxPool1d(k[,stride=s])"),
    ("MaxPool1d(2,padding=1)", "must be MaxPool1d(k[,stride=s])"),
    ("MaxPool1d(2x2)", "must have a positive kernel of 1 int, not '2x2'"),
    ("AvgPool2d(0)", "must have a positive kernel of 2 ints (or one for both), not '0'"),
    ("AvgPool1d(2,stride=0)", "must have a positive stride of 1 int, not '0'"),
    ("AdaptiveAvgPool1d(0)", "must be AdaptiveAvgPool1d(n) with a positive output size"),
    ("AdaptiveAvgPool2d(1,2)", "must be AdaptiveAvgPool2d(hxw) with a positive output size"),
])
def test_the_spec_refuses_a_pooling_it_cannot_read(text, fragment):
    spec = f"Conv1d(1,2,2,length=5),{text},Linear(4,1)"
    with pytest.raises(InputError, match=None) as info:
        parse_net(spec, "net:" + spec)
    assert fragment in str(info.value)


def test_an_adaptive_pooling_that_does_not_divide_its_input_is_refused():
    with pytest.raises(InputError, match="Argument 'output_size' of AdaptiveAvgPool1d\\(3\\) must "
                                         "divide the size of its input, 4"):
        net(Conv1d(1, 2, 2, length=5), AdaptiveAvgPool1d(3), Linear(6, 1))
    with pytest.raises(InputError, match="layer 2 \\(avgpool\\) must follow a layer that gives "
                                         "channels x positions"):
        net(Linear(3, 4), AdaptiveAvgPool1d(1), Linear(4, 1))
    with pytest.raises(InputError, match="Argument 'output_size' of AdaptiveAvgPool1d\\(1\\) must "
                                         "have one size per axis of its input's positions, 3x3"):
        net(Conv2d(1, 2, 2, size=(4, 4)), AdaptiveAvgPool1d(1), Linear(2, 1))


def test_the_classes_check_their_arguments():
    with pytest.raises(InputError, match="Argument 'kernel_size' of MaxPool2d\\(\\(2, 0\\)\\) "
                                         "must be a positive int or a pair of them"):
        MaxPool2d((2, 0))
    with pytest.raises(InputError, match="Argument 'stride' of AvgPool1d\\(2\\) must be a "
                                         "positive int"):
        AvgPool1d(2, stride=0)
    with pytest.raises(ResourceError, match="Argument 'kernel_size' of MaxPool1d\\(5000\\) is "
                                            "5000; the limit is 4,096"):
        MaxPool1d(5000)
    assert AvgPool1d(2) == AvgPool1d(2, stride=2) and AvgPool2d(2).kernel_size == (2, 2)
    with pytest.raises(InputError, match="write MaxPool1d\\(k\\)"):
        net(Conv1d(1, 2, 2, length=5), MaxPool1d, Linear(4, 1))


# -- torch ---------------------------------------------------------------------------------------

def test_a_lenet_is_read_from_torch_and_checked_against_its_forward():
    torch = pytest.importorskip("torch")
    from torch import nn

    from .helpers import translated
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 3, 2),
                           nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 4), nn.ReLU(),
                           nn.Linear(4, 2))
    tm = translated(module, (1, 12, 12))
    assert tm.program.spec == ("net:Conv2d(1,2,3x3,bias,size=12x12),ReLU,MaxPool2d(2x2),"
                               "Conv2d(2,3,2x2,bias),ReLU,AvgPool2d(2x2),Linear(12,4,bias),ReLU,"
                               "Linear(4,2,bias)")
    r = tm.count()
    assert r.proof == "sandwich" and r.laws == 2 + 3 + 4


def test_a_global_average_pooling_head_is_read_from_torch():
    torch = pytest.importorskip("torch")
    from torch import nn

    from .helpers import translated
    torch.manual_seed(1)
    module = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Conv2d(3, 4, 2),
                           nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    tm = translated(module, (2, 6, 6))
    assert tm.program.layers[3] == AdaptiveAvgPool2d(1)
    assert tm.program.canonical()[3] == ["avgpool", 4, [3, 3], [3, 3], [3, 3]]
    assert tm.count().laws == 3 + 10  # channels across the ReLU, balancedness across the head


def test_the_functional_poolings_are_read_from_torch():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    from torch import nn

    from .helpers import translated

    class Net1d(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.out = nn.Conv1d(1, 3, 3), nn.Linear(3, 2)

        def forward(self, x):
            x = F.max_pool1d(F.relu(self.conv(x)), 2)
            x = F.avg_pool1d(x, 2, 1)
            return self.out(F.adaptive_avg_pool1d(x, 1).flatten(1))

    class Net2d(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.out = nn.Conv2d(1, 2, 2), nn.Linear(2, 1)

        def forward(self, x):
            x = F.max_pool2d(self.conv(x), kernel_size=2, stride=1)
            x = F.avg_pool2d(x, (2, 2))
            return self.out(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))

    torch.manual_seed(2)
    assert [type(s).__name__ for s in translated(Net1d(), (1, 9)).program.layers] == [
        "Conv1d", "ReLU", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "Linear"]
    assert translated(Net2d(), (1, 7, 7)).program.layers[1:4] == (
        MaxPool2d(2, stride=1), AvgPool2d(2), AdaptiveAvgPool2d(1))


@pytest.mark.parametrize("pool,shape,message", [
    (lambda nn: nn.MaxPool2d(2, padding=1), (1, 6, 6), "is a MaxPool2d with padding=1; exactcl "
     "expected a MaxPool2d with padding 0, dilation 1, ceil_mode=False, return_indices=False."),
    (lambda nn: nn.MaxPool2d(2, ceil_mode=True), (1, 5, 5), "is a MaxPool2d with ceil_mode=True"),
    (lambda nn: nn.MaxPool1d(2, dilation=2), (1, 6), "is a MaxPool1d with dilation=2"),
    (lambda nn: nn.MaxPool2d(2, return_indices=True), (1, 6, 6),
     "is a MaxPool2d with return_indices=True"),
    (lambda nn: nn.AvgPool2d(2, divisor_override=3), (1, 6, 6), "is an AvgPool2d with "
     "divisor_override=3; exactcl expected an AvgPool2d with padding 0, ceil_mode=False, "
     "divisor_override=None."),
    (lambda nn: nn.AvgPool1d(2, padding=1), (1, 6), "is an AvgPool1d with padding=(1,)"),
    (lambda nn: nn.AdaptiveAvgPool2d(4), (1, 6, 6), "pools an input of size (6, 6) to "
     "output_size 4; exactcl expected an AdaptiveAvgPool2d whose output size divides its input's"),
    (lambda nn: nn.AdaptiveAvgPool2d((None, 1)), (1, 6, 6), "has output_size (None, 1)"),
    (lambda nn: nn.AdaptiveMaxPool2d(1), (1, 6, 6), "is a torch.nn.AdaptiveMaxPool2d; exactcl "
     "expected one of Linear,"),
], ids=["padding", "ceil_mode", "dilation", "return_indices", "divisor_override", "avg-padding",
        "adaptive-not-dividing", "adaptive-None", "adaptive-max"])
def test_torch_poolings_exactcl_cannot_read_are_refused_naming_the_option(pool, shape, message):
    pytest.importorskip("torch")
    from torch import nn
    conv = nn.Conv2d(1, 2, 1) if len(shape) == 3 else nn.Conv1d(1, 2, 1)
    module = nn.Sequential(conv, pool(nn), nn.Flatten(), nn.Linear(2, 1))
    with pytest.raises(InputError) as info:
        exactcl.from_torch(module, shape)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_pooling_of_the_module_input_is_refused():
    pytest.importorskip("torch")
    from torch import nn
    with pytest.raises(InputError, match="layer 1 \\(maxpool\\) must follow a layer that gives "
                                         "channels x positions"):
        exactcl.from_torch(nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(9, 1)),
                           (1, 6, 6))


def test_the_pooling_rules_import_only_flint_and_the_kernel():
    """Part of the verifier's trusted base, as the other layer rules
    (tests/test_blocks.py)."""
    import ast
    import pathlib
    source = pathlib.Path(__file__).parents[1] / "exactcl" / "kernel" / "layers" / "pooling.py"
    imported = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "hashlib", "collections", "math", "re", "flint"}, imported


def test_dense_probes_read_the_stream_as_little_endian_words_on_every_machine(monkeypatch):
    import hashlib
    lay = net(Conv1d(1, 2, 2, length=5), ReLU(), MaxPool1d(2), Linear(4, 1)).layout
    fast = blocks.random_probe(lay, blocks.DENSE + "7", 3)
    from exactcl.kernel import probes
    monkeypatch.setattr(probes, "_LITTLE_ENDIAN_WORDS", False)  # the portable reading
    assert blocks.random_probe(lay, blocks.DENSE + "7", 3) == fast
    stream = hashlib.shake_256(f"{blocks.DENSE}7/3".encode()).digest(4 * (5 + 1 + 8 + 8))
    words = [int.from_bytes(stream[4 * i:4 * i + 4], "little") + 1 for i in range(22)]
    assert fast.x == tuple(words[:5]) and fast.u == tuple(words[5:6])
    assert fast.sigma == (tuple(words[6:14]), tuple(words[14:22]))


def test_a_block_programs_indicator_layers_are_priced_entry_by_entry():
    # the block interpreter multiplies an indicator layer entry by entry; pricing it
    # as a width x width diagonal (the chain evaluator's) refused honest certificates
    from exactcl.kernel.budget import program_gradient_work, program_words_work
    from exactcl.kernel.evaluator import Layout

    def words_work(length):
        lay = blocks.BlockLayout([["conv", 1, 2, [3], [1], False, [length]], ["relu"],
                                  ["linear", 2 * (length - 2), 1, False]])
        assert lay.relu_widths == [2 * (length - 2)]
        return program_words_work(lay, {}, [0], 1)

    small, large = words_work(1002), words_work(2002)
    assert large < 2.5 * small  # linear in the width, not quadratic
    assert large < 4000 ** 2 / 100
    chain = Layout([["linear", 1, 4000, False], ["relu"], ["linear", 4000, 1, False]])
    assert program_gradient_work(chain, 0) > 4000 ** 2 / 500  # its diagonals stay priced

"""Convolutions with zero padding, dilation and groups: the kernel's rule
(a gather index that may point at a zero past the input, taps spaced by the
dilation, the kernel placed on its group's columns) checked against
computations that share nothing with it.

* an independent SymPy model of the layer, which pads the input list with
  zeros and reads it with explicit loops: probe gradients and brackets;
* phi written by hand in SymPy for small padded, dilated and grouped
  networks: the same count and the same degree-2 laws;
* the exact forward interpreter against the engine's forward;
* torch modules and functions against their own forward (``from_torch``'s
  output check);
* certificates: verified, names read back by the kernel, a padding changed
  in the file refused; a valid convolution keeps its seven-item form.
"""

from __future__ import annotations

import random
from fractions import Fraction
from math import prod
from types import SimpleNamespace

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import exactcl
from exactcl import Conv1d, Conv2d, Linear, ReLU, net
from exactcl.certificates.build import certify
from exactcl.errors import InputError, ResourceError
from exactcl.kernel import blocks, certformat
from exactcl.kernel.blocks import BlockLayout, Words, check_blocks, random_probe_mod
from exactcl.kernel.verifier import verify_text
from exactcl.layers.forward import output
from exactcl.layers.program import parse_layers, parse_net

from .helpers import draw_forward_case, engine_output

P = 1_000_003


# -- an independent model: the input padded with zeros as a list ----------------------------

def _padded_input(a: list, c_in: int, size: list[int], padding) -> tuple[list, list[int]]:
    """Channel by channel, the input with ``low`` zeros before and ``high``
    after each axis (as lists), and the padded size."""
    padded = [s + low + high for s, (low, high) in zip(size, padding)]
    out = []
    per = 1
    for s in size:
        per *= s
    for i in range(c_in):
        chan = a[i * per:(i + 1) * per]
        if len(size) == 1:
            (low, high), = padding
            out += [0] * low + list(chan) + [0] * high
        else:
            (lr, hr), (lc, hc) = padding
            width = padded[1]
            rows = [[0] * width for _ in range(lr)]
            for r in range(size[0]):
                rows.append([0] * lc + list(chan[r * size[1]:(r + 1) * size[1]]) + [0] * hc)
            rows += [[0] * width for _ in range(hr)]
            out += [v for row in rows for v in row]
    return out, padded


def _reference_conv(layer, K, b, a):
    """A convolution's output, written from its definition: per output
    channel o (group g = o // (c_out / groups)) and position q, the sum over
    the group's input channels and the kernel's taps of the padded input."""
    _, c_in, c_out, kernel, stride, _, size, *rest = layer
    padding, dilation, groups = rest or ([[0, 0]] * len(kernel), [1] * len(kernel), 1)
    x, padded = _padded_input(a, c_in, size, padding)
    dims = len(size)
    out_size = [(s - d * (k - 1) - 1) // t + 1 for s, k, t, d in zip(padded, kernel, stride,
                                                                      dilation)]
    taps = ([(t,) for t in range(kernel[0])] if dims == 1 else
            [(r, c) for r in range(kernel[0]) for c in range(kernel[1])])
    positions = ([(q,) for q in range(out_size[0])] if dims == 1 else
                 [(q, r) for q in range(out_size[0]) for r in range(out_size[1])])
    per = 1
    for s in padded:
        per *= s
    c_group = c_in // groups
    out = []
    for o in range(c_out):
        g = o // (c_out // groups)
        for pos in positions:
            acc = b[o] if b is not None else 0
            for i in range(c_group):
                for ti, t in enumerate(taps):
                    flat = 0
                    for ax in range(dims):
                        flat = flat * padded[ax] + pos[ax] * stride[ax] + t[ax] * dilation[ax]
                    acc += K[o, i * len(taps) + ti] * x[(g * c_group + i) * per + flat]
            out.append(acc)
    return out


def _reference_F(layers, lay, syms, probe):
    """u . net(x; sigma) as a SymPy polynomial, from the layers' definitions."""
    weights = [t for t, (prefix, *_) in enumerate(lay.tensors) if not prefix.startswith("b")]
    biases = [t for t, (prefix, *_) in enumerate(lay.tensors) if prefix.startswith("b")]
    count = {"w": 0, "b": 0, "relu": 0}

    def tensor(t):
        _, rows, cols, o = lay.tensors[t]
        return sympy.Matrix(rows, cols, syms[o:o + rows * cols])

    a = list(probe.x)
    for layer in layers:
        if layer[0] == "relu":
            s = probe.sigma[count["relu"]]
            count["relu"] += 1
            a = [v * s[i] for i, v in enumerate(a)]
            continue
        K = tensor(weights[count["w"]])
        count["w"] += 1
        bias = layer[5] if layer[0] == "conv" else layer[3]
        b = None
        if bias:
            b = tensor(biases[count["b"]])
            count["b"] += 1
        if layer[0] == "conv":
            a = _reference_conv(layer, K, b, a)
        else:
            a = list(K * sympy.Matrix(a) + (b if b is not None else sympy.zeros(K.rows, 1)))
    return sum(u * v for u, v in zip(probe.u, a))


PROGRAMS = {
    "pad1d": [["conv", 1, 2, [3], [1], True, [4], [[1, 1]], [1], 1], ["relu"],
              ["conv", 2, 1, [2], [1], False, [4]]],
    "same-even": [["conv", 2, 2, [4], [1], False, [5], [[1, 2]], [1], 1], ["relu"],
                  ["linear", 10, 1, False]],
    "dilated": [["conv", 1, 2, [2], [1], False, [5], [[0, 0]], [2], 1], ["relu"],
                ["conv", 2, 1, [2], [2], True, [3], [[0, 1]], [1], 1]],
    "groups": [["conv", 2, 4, [2], [1], False, [4], [[1, 0]], [1], 2], ["relu"],
               ["conv", 4, 2, [2], [1], False, [4], [[0, 0]], [1], 2]],
    "pad2d": [["conv", 1, 2, [2, 2], [1, 1], True, [2, 3], [[1, 0], [0, 1]], [1, 2], 1],
              ["relu"], ["linear", 8, 1, False]],
    "grouped2d": [["conv", 2, 2, [2, 2], [1, 2], False, [3, 3], [[1, 1], [1, 1]], [2, 1], 2],
                  ["relu"], ["linear", 12, 2, False]],
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_probe_gradients_match_the_padded_list_model(name):
    layers = PROGRAMS[name]
    lay = BlockLayout(layers)
    syms = sympy.symbols(lay.parameters)
    rng = random.Random(name)
    point = [rng.randrange(1, 50) for _ in range(lay.D)]
    subs = dict(zip(syms, point))
    for _ in range(2):
        probe = random_probe_mod(lay, 97, rng)
        F = _reference_F(layers, lay, syms, probe)
        want = {i: int(sympy.diff(F, s).subs(subs)) % P for i, s in enumerate(syms)}
        assert Words(lay, [probe], {}, point, P).value(0) == {i: v for i, v in want.items() if v}


@pytest.mark.parametrize("name", ["pad1d", "groups", "pad2d"])
def test_brackets_match_the_jacobian_formula(name):
    layers = PROGRAMS[name]
    lay = BlockLayout(layers)
    syms = sympy.symbols(lay.parameters)
    rng = random.Random(name + "b")
    point = [rng.randrange(1, 50) for _ in range(lay.D)]
    probes = [random_probe_mod(lay, 89, rng) for _ in range(2)]
    X, Y = (sympy.Matrix([sympy.diff(_reference_F(layers, lay, syms, pr), s) for s in syms])
            for pr in probes)
    v = sympy.Matrix(syms)
    br = Y.jacobian(v) * X - X.jacobian(v) * Y
    want = {i: int(e.subs(dict(zip(syms, point)))) % P for i, e in enumerate(br)}
    assert Words(lay, probes, {2: (0, 1)}, point, P).value(2) == {
        i: x for i, x in want.items() if x}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_expansion_is_the_reference_polynomial(name):
    """The exact expansion (zeros at padded positions) is, term for term,
    the coefficients of F in the probe's entries; and the pass at all ones
    counts F's terms."""
    from flint import fmpq_mpoly_ctx
    layers = PROGRAMS[name]
    lay = BlockLayout(layers)
    ctx = fmpq_mpoly_ctx.get(lay.parameters, "lex")
    phi = {str(c) for c in blocks.expand(lay, ctx.gens(), ctx.from_dict({}) + 1)}
    syms = sympy.symbols(lay.parameters)
    n_x, relus, n_u = lay.probe_sizes()
    x, u = sympy.symbols(f"x0:{n_x}"), sympy.symbols(f"u0:{n_u}")
    s = [sympy.symbols(f"s{k}_0:{w}") for k, w in enumerate(relus)]
    F = sympy.expand(_reference_F(layers, lay, syms, SimpleNamespace(x=x, sigma=s, u=u)))
    probe = [*x, *(v for group in s for v in group), *u]
    coeffs = sympy.Poly(F, *probe).coeffs()
    assert phi == {str(_to_flint(ctx, c, syms)) for c in coeffs}
    assert lay.phi_terms() == sum(sympy.Poly(c, *syms).eval(dict.fromkeys(syms, 1))
                                  for c in coeffs)


def _to_flint(ctx, poly, syms):
    terms = sympy.Poly(poly, *syms).terms()
    return ctx.from_dict({exps: int(c) for exps, c in terms})


# -- counts: both engines, and phi written by hand -----------------------------------------

NETWORKS = {
    "padding 1": [Conv1d(1, 2, 3, padding=1, length=4), ReLU(), Conv1d(2, 1, 2)],
    "same, even kernel": [Conv1d(1, 2, 2, padding="same", length=4), ReLU(), Linear(8, 1)],
    "dilation 2": [Conv1d(1, 2, 2, dilation=2, length=5), ReLU(), Conv1d(2, 1, 2, bias=True)],
    "padding and dilation": [Conv1d(2, 3, 3, padding=2, dilation=2, bias=True, length=4),
                             ReLU(), Linear(12, 1)],
    "2-D padded, strided": [Conv2d(1, 2, 3, stride=(1, 2), padding=1, size=(3, 4)), ReLU(),
                            Linear(12, 1)],
    "2-D same, dilated": [Conv2d(1, 2, 2, padding="same", dilation=(2, 1), size=(3, 3)),
                          ReLU(), Conv2d(2, 1, 2)],
    "groups 2": [Conv1d(2, 4, 2, padding=1, groups=2, length=3), ReLU(),
                 Conv1d(4, 2, 2, groups=2), Linear(6, 1)],
    "linear, padded": [Conv1d(1, 2, 2, padding=1, length=3), Conv1d(2, 1, 2)],
}

# Laws, each count by sandwich: one per hidden channel across a ReLU (a
# grouped convolution's channel paired with its group's readers); two
# directly adjacent convolutions their three balancedness entries and the
# antisymmetric <K1_0, K2_1> - <K1_1, K2_0> of one-channel convolutions,
# found by the degree-2 search (tests/test_blocks.py has it unpadded).
COUNTS = {"padding 1": 2, "same, even kernel": 2, "dilation 2": 2, "padding and dilation": 3,
          "2-D padded, strided": 2, "2-D same, dilated": 2, "groups 2": 6, "linear, padded": 4}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_padded_and_dilated_networks_are_certified_alike_on_both_engines(name):
    program = net(*NETWORKS[name])
    search = {"search_degree": 2} if name == "linear, padded" else {}
    expanded = exactcl.count(program, engine="expanded", **search)
    probes = exactcl.count(program, engine="program", **search)
    assert expanded.proof == probes.proof == "sandwich", expanded.explanation
    assert expanded.laws == probes.laws == COUNTS[name]


def _hand_phi(conv, x_len: int, hidden: int):
    """phi of ``conv`` (one input channel, two output channels), ReLU,
    Linear(hidden, 1) written by hand: the input padded as a list of
    zeros around x, out[o, q] = sum_t K1_o_0_t xp[q * stride + t * dilation],
    F = u sum_{o, q} W2_0_{o n + q} s_{o n + q} out[o, q]; the coefficients
    of F in x, s and u."""
    k, low, high, dil, stride = conv
    x = sympy.symbols(f"x0:{x_len}")
    xp = [0] * low + list(x) + [0] * high
    n = (len(xp) - dil * (k - 1) - 1) // stride + 1
    K = [[sympy.Symbol(f"K1_{o}_0_{t}") for t in range(k)] for o in range(2)]
    W = [sympy.Symbol(f"W2_0_{j}") for j in range(2 * n)]
    s, u = sympy.symbols(f"s0:{2 * n}"), sympy.Symbol("u")
    assert 2 * n == hidden
    F = u * sum(W[o * n + q] * s[o * n + q] * sum(K[o][t] * xp[q * stride + t * dil]
                                                  for t in range(k))
                for o in range(2) for q in range(n))
    poly = sympy.Poly(sympy.expand(F), *x, *s, u)
    return [v for row in K for v in row] + W, poly.coeffs()


@pytest.mark.parametrize("conv,layer", [
    ((2, 1, 1, 1, 1), Conv1d(1, 2, 2, padding=1, length=3)),
    ((2, 0, 1, 1, 1), Conv1d(1, 2, 2, padding="same", length=3)),
    ((2, 0, 0, 2, 1), Conv1d(1, 2, 2, dilation=2, length=4)),
    ((3, 2, 2, 2, 2), Conv1d(1, 2, 3, stride=2, padding=2, dilation=2, length=4)),
], ids=["padding 1", "same", "dilation 2", "all"])
def test_the_count_and_laws_are_those_of_phi_written_by_hand(conv, layer):
    hidden = 2 * layer.output_shape(None)[1][0]
    program = net(layer, ReLU(), Linear(hidden, 1))
    symbols, phi = _hand_phi(conv, layer.size[0], hidden)
    assert [str(v) for v in symbols] == list(program.parameters)
    by_hand = exactcl.from_phi(phi, symbols)
    assert exactcl.count(program).laws == exactcl.count(by_hand).laws
    assert sorted(exactcl.laws(program, 2).strings()) == sorted(exactcl.laws(by_hand, 2).strings())


def test_a_grouped_convolution_is_two_convolutions_side_by_side():
    """groups=2 on 2 -> 2 channels: each output channel reads its own input
    channel, so phi is that of two one-channel convolutions (written by
    hand), and the laws are those of the two halves."""
    program = net(Conv1d(2, 2, 2, groups=2, length=3), ReLU(), Linear(4, 1))
    x = [sympy.symbols(f"x{i}_0:3") for i in range(2)]
    K = [[sympy.Symbol(f"K1_{o}_0_{t}") for t in range(2)] for o in range(2)]
    W = [sympy.Symbol(f"W2_0_{j}") for j in range(4)]
    s, u = sympy.symbols("s0:4"), sympy.Symbol("u")
    F = u * sum(W[2 * o + q] * s[2 * o + q] * (K[o][0] * x[o][q] + K[o][1] * x[o][q + 1])
                for o in range(2) for q in range(2))
    symbols = [v for row in K for v in row] + W
    assert [str(v) for v in symbols] == list(program.parameters)
    by_hand = exactcl.from_phi(sympy.Poly(sympy.expand(F), *x[0], *x[1], *s, u).coeffs(),
                               symbols)
    ours = exactcl.count(program)
    assert ours.laws == exactcl.count(by_hand).laws == 2 and ours.proof == "sandwich"
    assert sorted(exactcl.laws(program, 2).strings()) == sorted(exactcl.laws(by_hand, 2).strings())


# -- the exact forward is the engine's forward ------------------------------------------

@pytest.mark.parametrize("name", sorted(PROGRAMS))
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_the_exact_forward_is_the_engines_forward(name, data):
    layers = PROGRAMS[name]
    lay, point, x, exact, sigma = draw_forward_case(data, layers)
    assert [v % P for v in exact] == engine_output(layers, point, x, sigma, P)
    # and both are the padded-list model's
    syms = sympy.symbols(lay.parameters)
    for k in range(len(exact)):
        unit = [int(j == k) for j in range(len(exact))]
        F = _reference_F(layers, lay, syms, SimpleNamespace(x=x, sigma=sigma, u=unit))
        assert F.subs(dict(zip(syms, point))) == exact[k]


# -- forms, names and certificates ---------------------------------------------------------

def test_a_valid_convolution_keeps_its_seven_item_form_and_its_name():
    for layer in (Conv1d(1, 2, 3, length=8), Conv1d(1, 2, 3, padding=0, dilation=1, groups=1,
                                                    length=8),
                  Conv1d(1, 2, 3, padding="valid", length=8)):
        assert layer.canonical() == ["conv", 1, 2, [3], [1], False, [8]]
        assert layer.spec() == "Conv1d(1,2,3,length=8)"
        assert repr(layer) == "Conv1d(1, 2, 3, length=8)"
    assert Conv2d(1, 2, 2, size=(3, 3)).canonical() == ["conv", 1, 2, [2, 2], [1, 1], False,
                                                        [3, 3]]
    # a seven-item layer and its parameters, as every certificate in data/ stores them
    assert net(Conv1d(1, 2, 2, length=3), ReLU(), Linear(4, 1)).parameters[:4] == (
        "K1_0_0_0", "K1_0_0_1", "K1_1_0_0", "K1_1_0_1")


@pytest.mark.parametrize("layer,spec,canonical_tail", [
    (Conv1d(1, 2, 3, padding=1, dilation=2, length=8),
     "Conv1d(1,2,3,padding=1,dilation=2,length=8)", [[[1, 1]], [2], 1]),
    (Conv2d(1, 2, 3, padding=1, size=(4, 4)), "Conv2d(1,2,3x3,padding=1x1,size=4x4)",
     [[[1, 1], [1, 1]], [1, 1], 1]),
    (Conv1d(1, 2, 4, padding="same", length=8), "Conv1d(1,2,4,padding=same,length=8)",
     [[[1, 2]], [1], 1]),
    (Conv1d(1, 2, 3, padding="same", length=8), "Conv1d(1,2,3,padding=1,length=8)",
     [[[1, 1]], [1], 1]),
    (Conv2d(2, 4, (2, 3), stride=(2, 1), padding=(0, 1), dilation=(1, 2), groups=2, bias=True,
            size=(5, 5)), "Conv2d(2,4,2x3,stride=2x1,padding=0x1,dilation=1x2,groups=2,bias,"
                          "size=5x5)", [[[0, 0], [1, 1]], [1, 2], 2]),
    (Conv1d(1, 2, 2, padding=((0, 3),), length=4), "Conv1d(1,2,2,padding=0:3,length=4)",
     [[[0, 3]], [1], 1]),
    (Conv2d(1, 1, 2, padding=((1, 1), (2, 0)), size=(2, 2)),
     "Conv2d(1,1,2x2,padding=1x2:0,size=2x2)", [[[1, 1], [2, 0]], [1, 1], 1]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_forms_specs_and_reprs_round_trip(layer, spec, canonical_tail):
    assert layer.spec() == spec
    assert layer.canonical()[7:] == canonical_tail and len(layer.canonical()) == 10
    (parsed,) = parse_layers(spec, "net:" + spec)
    assert parsed == layer and parsed.spec() == spec and repr(parsed) == repr(layer)
    assert eval(repr(layer), {"Conv1d": Conv1d, "Conv2d": Conv2d}) == layer
    # the kernel reads the name as the layer the user side writes
    from exactcl.kernel.layers import NAME_HEADS
    head, inner = spec[:-1].split("(", 1)
    assert NAME_HEADS[head].read_name(head, inner, None) == layer.canonical()


def test_a_certificate_names_the_padding_verifies_and_is_read_back():
    program = net(Conv1d(1, 2, 2, padding="same", length=4), ReLU(),
                  Conv1d(2, 2, 2, padding=1, dilation=2, groups=2), Linear(8, 1))
    cert, result = certify(program, reproducible=True, engine="program")
    name = cert["model"]["name"]
    assert name == ("net:Conv1d(1,2,2,padding=same,length=4),ReLU,"
                    "Conv1d(2,2,2,padding=1,dilation=2,groups=2),Linear(8,1)")
    assert cert["model"]["program"][0] == ["conv", 1, 2, [2], [1], False, [4], [[0, 1]], [1], 1]
    assert cert["model"]["program"][2] == ["conv", 2, 2, [2], [1], False, [4], [[1, 1]], [2], 2]
    report = verify_text(certformat.dumps(cert), rng=random.Random(3))
    assert report.ok, str(report)
    (check,) = [c for c in report.checks if c.claim == "model name"]
    assert "the layers parsed from the name are the program in the file" in check.detail
    assert parse_net(name[len("net:"):], name) == program


def _refit(cert: dict) -> dict:
    cert["model"]["fingerprint"] = certformat.fingerprint(cert["model"])
    return cert


def test_the_verifier_refuses_a_padding_changed_in_the_file():
    program = net(Conv1d(1, 2, 2, padding=1, length=2), ReLU(), Linear(6, 1))
    cert, _ = certify(program, reproducible=True, engine="program")
    cert["model"]["program"][0][7] = [[2, 0]]  # the name still says padding=1
    report = verify_text(certformat.dumps(_refit(cert)), rng=random.Random(3))
    failed = {c.claim: c.detail for c in report.checks if not c.passed}
    assert not report.ok and "[[1, 1]]" in failed["model name"], str(report)
    # the name changed too: x padded to [0, 0, x0, x1] leaves W2_0_0 and W2_0_3 out
    # of phi, so fewer words are independent than the file claims
    cert["model"]["name"] = "net:Conv1d(1,2,2,padding=2:0,length=2),ReLU,Linear(6,1)"
    report = verify_text(certformat.dumps(_refit(cert)), rng=random.Random(3))
    failed = [c for c in report.checks if not c.passed]
    assert [c.claim for c in failed] == ["Lie rank"] and "(claimed 8)" in failed[0].detail
    # a valid convolution written in the ten-item form is not a canonical layer
    cert, _ = certify(net(Conv1d(1, 2, 2, length=3), ReLU(), Linear(4, 1)), reproducible=True)
    cert["model"]["program"][0] += [[[0, 0]], [1], 1]
    report = verify_text(certformat.dumps(_refit(cert)), rng=random.Random(3))
    assert not report.ok and "has no padding, dilation 1 and one group" in str(report)


@pytest.mark.parametrize("layer,fragment", [
    (["conv", 1, 2, [3], [1], False, [4], [[0, 0]], [1], 1],
     "has no padding, dilation 1 and one group: its form is ['conv', c_in, c_out, kernel, stride, "
     "bias, size]"),
    (["conv", 2, 3, [2], [1], False, [4], [[0, 0]], [1], 2], "has 2 groups, which must divide"),
    (["conv", 1, 2, [3], [1], False, [4], [[0, 0]], [3], 1],
     "kernel 3 with dilation 3, spanning 7 positions, larger than its padded input (size 4, "
     "padded to 4)"),
    (["conv", 1, 2, [3], [1], False, [4], [[-1, 1]], [1], 1], "padding a [low, high] pair"),
    (["conv", 1, 2, [3], [1], False, [4], [1], [1], 1], "padding a [low, high] pair"),
    (["conv", 1, 2, [3], [1], False, [4], [[1, 1]], [0], 1], "dilation a list of positive"),
    (["conv", 1, 2, [3], [1], False, [4], [[1, 1]], [1], 0], "groups a positive int"),
    (["conv", 1, 2, [3], [1], False, [4], [[1, 1]], [1]], "must be ['conv', c_in, c_out"),
])
def test_the_kernel_refuses_a_convolution_not_in_canonical_form(layer, fragment):
    with pytest.raises(ValueError) as info:
        check_blocks([layer])
    assert fragment in str(info.value) and str(info.value).startswith("layer 1 (conv)")


def test_sizes_count_the_padded_input():
    layer = ["conv", 1, 1, [3], [1], False, [4000], [[50, 50]], [1], 1]
    assert blocks.size_problem(check_blocks([layer]), 10**4) == (
        "layer 1 (conv) reads a padded input of 4,100 positions; the limit is 4,096")
    from exactcl.errors import CertificateFormatError
    from exactcl.kernel.programs import program_layout
    with pytest.raises(CertificateFormatError, match="reads 4,100 padded positions"):
        program_layout({"program": [layer]})
    ok = ["conv", 1, 1, [3], [1], False, [4000], [[48, 48]], [1], 1]
    assert blocks.size_problem(check_blocks([ok]), 10**4) is None


@pytest.mark.parametrize("make,error,fragment", [
    (lambda: Conv1d(1, 2, 3, padding_mode="reflect"), InputError,
     "Argument 'padding_mode' of Conv1d(1, 2, 3) must be 'zeros' (exactcl pads with zeros only), "
     "not 'reflect'."),
    (lambda: Conv1d(1, 2, 3, stride=2, padding="same"), InputError,
     "is 'same', which needs stride 1 (as in torch), not stride 2."),
    (lambda: Conv1d(1, 2, 3, padding=-1), InputError, "Argument 'padding' of Conv1d(1, 2, 3)"),
    (lambda: Conv1d(1, 2, 3, padding="full"), InputError, "'same' or 'valid', not 'full'"),
    (lambda: Conv2d(1, 2, 3, padding=(1, 2, 3)), InputError, "or one per axis"),
    (lambda: Conv1d(1, 2, 3, dilation=0), InputError, "Argument 'dilation' of Conv1d(1, 2, 3)"),
    (lambda: Conv1d(2, 3, 3, groups=2), InputError,
     "Argument 'groups' of Conv1d(2, 3, 3) must divide in_channels 2 and out_channels 3, not 2."),
    (lambda: Conv1d(1, 2, 3, padding=10**6), ResourceError, "the limit is 4,096"),
    (lambda: net(Conv1d(1, 2, 3, dilation=3, length=5)), InputError,
     "spanning 7 positions, larger than its padded input"),
])
def test_bad_arguments_are_refused_in_one_line(make, error, fragment):
    with pytest.raises(error) as info:
        make()
    assert fragment in str(info.value) and "\n" not in str(info.value), str(info.value)


@pytest.mark.parametrize("spec,fragment", [
    ("Conv1d(1,2,3,padding=-1,length=4)", "must have padding a non-negative int"),
    ("Conv1d(1,2,3,padding=1x1,length=4)", "must have padding"),
    ("Conv1d(1,2,3,dilation=0,length=4)", "positive int dilation"),
    ("Conv1d(2,2,3,groups=2x2,length=4)", "positive int groups"),
    ("Conv1d(1,2,3,pad=1,length=4)", "[,padding=p][,dilation=d][,groups=g][,bias]"),
    ("Conv1d(1,2,3,stride=2,padding=same,length=8)", "needs stride 1"),
])
def test_bad_specs_are_refused(spec, fragment):
    with pytest.raises(InputError) as info:
        parse_net(spec, "net:" + spec)
    assert fragment in str(info.value), str(info.value)


def test_candidate_laws_of_a_grouped_convolution_read_its_group():
    """Across a ReLU, a channel's law pairs its kernel row with the entries
    of the next layer that read it: those of its group only."""
    program = net(Conv1d(1, 4, 2, length=3), ReLU(), Conv1d(4, 2, 2, groups=2))
    r = exactcl.count(program)
    assert r.proof == "sandwich" and r.laws == 4
    law = [h for h, label in zip(r.laws_strings(), r.exhibited_labels)
           if label == "channel 3 of layer 1"]
    assert law == ["K1_3_0_0**2 + K1_3_0_1**2 - K2_1_1_0**2 - K2_1_1_1**2"]


# -- torch ---------------------------------------------------------------------------------

def test_torch_cnn_with_padding_one_is_read_and_checked():
    torch = pytest.importorskip("torch")
    from torch import nn

    from .helpers import translated
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
                           nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                           nn.Linear(2 * 4 * 4, 1))
    tm = translated(module, (1, 4, 4))
    assert tm.program == net(Conv2d(1, 2, 3, padding=1, bias=True, size=(4, 4)), ReLU(),
                             Conv2d(2, 2, 3, padding=1, bias=True), ReLU(),
                             Linear(32, 1, bias=True))
    r = tm.count()
    assert r.proof == "sandwich" and r.laws == 4


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("make,shape,layer", [
    (lambda nn: nn.Conv1d(1, 2, 4, padding="same"), (1, 6),
     Conv1d(1, 2, 4, padding="same", bias=True, length=6)),
    (lambda nn: nn.Conv2d(1, 2, (2, 3), padding="same", dilation=(3, 1), bias=False), (1, 5, 4),
     Conv2d(1, 2, (2, 3), padding="same", dilation=(3, 1), size=(5, 4))),
    (lambda nn: nn.Conv1d(2, 2, 3, dilation=2, padding="valid"), (2, 7),
     Conv1d(2, 2, 3, dilation=2, bias=True, length=7)),
    (lambda nn: nn.Conv1d(4, 2, 2, groups=2, padding=(1,), stride=2), (4, 5),
     Conv1d(4, 2, 2, stride=2, padding=1, groups=2, bias=True, length=5)),
], ids=["same, even kernel", "same, dilated 2-D", "dilated", "groups"])
def test_torch_padded_dilated_and_grouped_modules_are_read_and_checked(make, shape, layer):
    torch = pytest.importorskip("torch")
    from torch import nn

    from .helpers import translated
    torch.manual_seed(1)
    hidden = layer.out_channels * prod(layer.output_shape(None)[1])
    module = nn.Sequential(make(nn), nn.ReLU(), nn.Flatten(), nn.Linear(hidden, 1))
    tm = translated(module, shape)
    assert tm.program.layers[0] == layer
    assert tm.count().proof == "sandwich"


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_torch_functional_convolutions_take_padding_and_dilation():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from .helpers import translated

    class Simple(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(3, 1, 2, 2))
            self.head = torch.nn.Linear(3 * 4 * 3, 1)

        def forward(self, x):
            return self.head(F.relu(F.conv2d(x, self.w, None, 1, (1, 0), (2, 1))).flatten(1))

    class OneD(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(2, 1, 4))

        def forward(self, x):
            return F.conv1d(x, self.w, padding="same", groups=2)

    torch.manual_seed(2)
    tm = translated(Simple(), (1, 4, 4))
    assert tm.program.layers[0] == Conv2d(1, 3, 2, padding=(1, 0), dilation=(2, 1), size=(4, 4))
    tm = translated(OneD(), (2, 6))
    assert tm.program.layers[0] == Conv1d(2, 2, 4, padding="same", groups=2, length=6)


@pytest.mark.parametrize("build,shape,fragment", [
    (lambda nn, F: nn.Sequential(nn.Conv1d(1, 2, 3, padding=1, padding_mode="circular")),
     (1, 5), "pads with padding_mode='circular'; exactcl expected zero padding "
             "(padding_mode='zeros')"),
    (lambda nn, F: _functional(F, stride=2, padding="same"), (1, 6),
     "exactcl expected padding='same' with stride 1 (as torch requires)"),
    (lambda nn, F: nn.Sequential(nn.Conv1d(1, 2, 3, dilation=3)), (1, 6),
     "has kernel (3,) spanning (7,); exactcl expected a kernel (dilated) no larger than the "
     "padded input (6,)"),
    (lambda nn, F: nn.Sequential(nn.Conv1d(1, 1, 3, padding=40)), (1, 4020),
     "a padded input of 4100 positions"),
], ids=["padding_mode", "same with stride", "dilated kernel too wide", "padded too large"])
def test_torch_convolutions_exactcl_cannot_read_are_refused_in_one_line(build, shape, fragment):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from exactcl.torch.bridge import from_torch
    with pytest.raises(InputError) as info:
        from_torch(build(torch.nn, F), shape)
    text = str(info.value)
    assert fragment in text and "\n" not in text, text


def _functional(F, **kwargs):
    """A module calling ``F.conv1d`` on its own kernel with ``kwargs``."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(2, 1, 3))

        def forward(self, x):
            return F.conv1d(x, self.w, **kwargs)
    return Net()


def test_exact_forward_of_a_padded_layer_uses_rationals():
    layers = [["conv", 1, 1, [2], [1], False, [2], [[1, 1]], [1], 1]]
    values = {"K1_0_0_0": Fraction(1, 3), "K1_0_0_1": Fraction(-1, 2)}
    # xp = [0, 1/5, 2, 0]: outputs K0 xp[q] + K1 xp[q + 1]
    assert output(layers, values, [Fraction(1, 5), 2]) == [
        Fraction(-1, 10), Fraction(1, 15) - 1, Fraction(2, 3)]

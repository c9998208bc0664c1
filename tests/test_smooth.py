"""Smooth activations in the kernel (docs/design.md, section 8): the exact
Taylor coefficients at the anchors against SymPy's series, the probe fields
and a bracket against the real network differentiated by SymPy at the real
point (biases before freed units set so that the pre-activations are at the
anchors), the law checks with free derivative values, the plan of anchors
(freed units, rows summing to 0, x0 = 0) and its refusals, and the counts
and certificates of the issue's targets."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import exactcl
from exactcl import ELU, GELU, Linear, Sigmoid, SiLU, Softplus, Tanh, net
from exactcl.engine.evaluation import anchored_point, check_laws
from exactcl.kernel.blocks import BlockLayout, Words, check_blocks
from exactcl.kernel.layers.smooth import CONSTANT_VALUE, coefficients
from exactcl.kernel.probes import random_probe
from exactcl.kernel.tokens import TOKENS
from exactcl.kernel.verifier import verify_certificate

P = 2**61 - 1
C = sympy.Symbol("c", positive=True)  # the kind's transcendental constant, free

ACTS = [("tanh",), ("sigmoid",), ("silu",), ("gelu", "erf"), ("gelu", "tanh"),
        ("softplus", "2/1"), ("softplus", "1/3"), ("elu", "1/2")]


def _function(layer, z):
    """The real activation, in SymPy."""
    kind = layer[0]
    if kind == "tanh":
        return sympy.tanh(z)
    if kind == "sigmoid":
        return 1 / (1 + sympy.exp(-z))
    if kind == "silu":
        return z / (1 + sympy.exp(-z))
    if kind == "gelu" and layer[1] == "erf":
        return z * (1 + sympy.erf(z / sympy.sqrt(2))) / 2
    if kind == "gelu":
        return z * (1 + sympy.tanh(sympy.sqrt(2 / sympy.pi) * (z + sympy.Rational(44715, 10**6)
                                                                * z**3))) / 2
    q = sympy.Rational(layer[1])
    if kind == "softplus":
        return sympy.log(1 + sympy.exp(q * z)) / q
    return q * (sympy.exp(z) - 1)  # ELU's exponential region


def _anchor(layer):
    return -sympy.log(2) if layer[0] == "elu" else sympy.Integer(0)


def _in_c(expr):
    """An expression holding pi or log 2 as a polynomial in C (C = 1/sqrt(2 pi),
    or C = log 2)."""
    expr = sympy.sympify(expr).subs(sympy.pi, 1 / (2 * C**2)).subs(sympy.log(2), C)
    return sympy.expand(sympy.simplify(expr))


def _mod(expr, p: int) -> int:
    poly = sympy.Poly(_in_c(expr), C)
    acc = 0
    for (k,), v in poly.terms():
        v = sympy.Rational(v)
        acc += int(v.p) * pow(int(v.q), -1, p) * pow(CONSTANT_VALUE, k, p)
    return acc % p


@pytest.mark.parametrize("layer", ACTS)
def test_taylor_coefficients_are_sympys_series(layer):
    z = sympy.Symbol("z")
    a = _anchor(layer)
    series = sympy.series(_function(layer, a + z), z, 0, 7).removeO()
    ours = coefficients(layer, 6)
    for k in range(7):
        want = _in_c(series.coeff(z, k))
        got = sum(sympy.Rational(v.numerator, v.denominator) * C**j
                  for j, v in enumerate(ours[k]))
        assert sympy.simplify(want - got) == 0, (layer, k, want, got)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 14))
def test_tanh_and_sigmoid_series_satisfy_their_equations(K):
    """tanh' = 1 - tanh^2 and sigma' = sigma (1 - sigma), as series to order K."""
    for kind, rhs in (("tanh", lambda s, k: (1 if k == 0 else 0) - s),
                      ("sigmoid", lambda s, k: s1(k) - s)):
        c = [v[0] for v in coefficients((kind,), K + 1)]

        def square(k, c=c):
            return sum((c[i] * c[k - i] for i in range(k + 1)), Fraction(0))

        def s1(k, c=c):
            return c[k]
        for k in range(K):
            assert (k + 1) * c[k + 1] == rhs(square(k), k)


# -- the probe fields and a bracket against the real network ------------------------------------

def _real_fields(layers, layout, probes, point):
    """grad F of each probe and the bracket [X_0, X_1] of the real network at
    the real point (freed biases at their anchors' values), mod P."""
    names = layout.parameters
    syms = {n: sympy.Symbol(n) for n in names}
    values = {n: sympy.Integer(v) for n, v in zip(names, point)}
    d_in = layout.input_shape[0]
    d_out = layout.output_shape[0]
    t = sympy.Symbol("t")
    fields = []
    # the real point: each freed unit's bias b = a - W a0, a0 the input at x0
    for pr in probes:
        x0 = [0] * d_in  # every rank probe of a smooth program
        x1 = list(pr.x[d_in:2 * d_in])
        real = dict(values)
        a0 = sympy.Matrix(x0)
        number = 0
        for i, layer in enumerate(layers):
            if layer[0] == "linear":
                number += 1
                _, n_in, n_out, bias = layer
                W = sympy.Matrix(n_out, n_in, lambda r, c, n=number: values[f"W{n}_{r}_{c}"])
                z0 = W * a0
                nxt = layers[i + 1] if i + 1 < len(layers) else None
                if bias and nxt is not None and nxt[0] != "linear":
                    for r in range(n_out):
                        real[f"b{number}_{r}"] = _anchor(nxt) - z0[r]
                if bias:
                    z0 = z0 + sympy.Matrix([real[f"b{number}_{r}"] for r in range(n_out)])
                a0 = z0
            else:
                a0 = a0.applyfunc(lambda v, layer=layer: _function(layer, v))
        # the network at x0 + t x1, symbolic in theta
        a = sympy.Matrix([x0[j] + t * x1[j] for j in range(d_in)])
        number = 0
        for layer in layers:
            if layer[0] == "linear":
                number += 1
                _, n_in, n_out, bias = layer
                W = sympy.Matrix(n_out, n_in, lambda r, c, n=number: syms[f"W{n}_{r}_{c}"])
                a = W * a
                if bias:
                    a = a + sympy.Matrix(n_out, 1, lambda r, c, n=number: syms[f"b{n}_{r}"])
            else:
                a = a.applyfunc(lambda v, layer=layer: _function(layer, v))
        F = 0
        for n, w in enumerate((1, 1, 2, 6)):
            U = pr.u[n * d_out:(n + 1) * d_out]
            for j in range(d_out):
                Tn = sympy.diff(a[j], t, n).subs(t, 0) / sympy.factorial(n)
                F += w * U[j] * Tn
        fields.append([sympy.diff(F, syms[n]) for n in names])
        fields[-1] = (fields[-1], real)
    (X, real), (Y, _) = fields[0], fields[1]
    at = {syms[n]: real[n] for n in names}
    out = []
    for fld, _ in fields:
        out.append([_mod(v.subs(at), P) for v in fld])
    JY = [[sympy.diff(y, syms[n]) for n in names] for y in Y]
    JX = [[sympy.diff(x, syms[n]) for n in names] for x in X]
    Xv = [v.subs(at) for v in X]
    Yv = [v.subs(at) for v in Y]
    bracket = [sum(JY[i][k].subs(at) * Xv[k] - JX[i][k].subs(at) * Yv[k]
                   for k in range(len(names))) for i in range(len(names))]
    out.append([_mod(v, P) for v in bracket])
    return out


@pytest.mark.parametrize("layers", [
    [["linear", 2, 2, True], ["tanh"], ["linear", 2, 1, True]],
    [["linear", 2, 2, True], ["softplus", "2/1"], ["linear", 2, 1, False]],
    [["linear", 2, 2, True], ["elu", "1/2"], ["linear", 2, 1, True]],
    [["linear", 2, 2, False], ["gelu", "erf"], ["linear", 2, 1, False]],
    [["linear", 1, 2, False], ["sigmoid"], ["linear", 2, 2, False], ["sigmoid"],
     ["linear", 2, 1, False]],
], ids=["tanh", "softplus", "elu", "gelu-origin", "sigmoid-row-sums"])
def test_fields_and_bracket_are_the_real_networks(layers):
    layout = BlockLayout(layers)
    rng = random.Random(5)
    point = anchored_point(layout, [rng.randrange(-9, 10) for _ in range(layout.D)])
    probes = [random_probe(layout, TOKENS + "0", k) for k in range(2)]
    probes = [type(pr)([v % 97 - 48 for v in pr.x], pr.s, pr.sigma, [v % 89 - 44 for v in pr.u])
              for pr in probes]
    words = Words(layout, probes, {2: (0, 1)}, point, P)
    ours = [words.value(k) for k in range(3)]
    ours = [[v.get(i, 0) for i in range(layout.D)] for v in ours]
    assert ours == _real_fields(layers, layout, probes, point)


def test_a_freed_bias_is_not_read():
    """The stored bias before a freed unit changes nothing: the real point's is set."""
    layers = [["linear", 2, 3, True], ["tanh"], ["linear", 3, 1, True]]
    layout = BlockLayout(layers)
    rng = random.Random(2)
    point = [rng.randrange(P) for _ in range(layout.D)]
    other = list(point)
    o = layout.tensors[layout.bias_tensor(0)][3]
    other[o] += 12345
    probes = [random_probe(layout, TOKENS + "0", k) for k in range(3)]
    one = Words(layout, probes, {3: (0, 1)}, point, P)
    two = Words(layout, probes, {3: (0, 1)}, other, P)
    assert [one.value(k) for k in range(4)] == [two.value(k) for k in range(4)]


# -- the plan of anchors and its refusals ------------------------------------------------------

def test_plan_freed_origin_and_row_sums():
    lay = BlockLayout([["linear", 2, 2, True], ["sigmoid"], ["linear", 2, 2, False],
                       ["sigmoid"], ["linear", 2, 1, False]])
    plan = lay.smooth_plan
    assert [op[4] for op in lay.smooth] == [True, False]
    assert plan["origin"] is False and [lay.tensors[t][0] for t in plan["row_sums"]] == ["W2"]
    lay = BlockLayout([["linear", 2, 2, False], ["tanh"], ["linear", 2, 1, False]])
    assert lay.smooth_plan["origin"] is True and lay.smooth_plan["row_sums"] == []


def test_a_point_whose_rows_do_not_sum_to_zero_is_refused():
    lay = BlockLayout([["linear", 2, 2, True], ["sigmoid"], ["linear", 2, 2, False],
                       ["sigmoid"], ["linear", 2, 1, False]])
    point = list(range(1, lay.D + 1))
    probes = [random_probe(lay, TOKENS + "0", 0)]
    with pytest.raises(ValueError, match="does not sum to 0"):
        Words(lay, probes, {}, point, P).value(0)
    assert Words(lay, probes, {}, anchored_point(lay, point), P).value(0)


@pytest.mark.parametrize("layers, match", [
    ([["linear", 2, 2, True], ["relu"], ["linear", 2, 2, True], ["tanh"], ["linear", 2, 1, True]],
     "cannot hold a relu"),
    ([["linear", 2, 2, True], ["gelu", "erf"], ["linear", 2, 2, True], ["softplus", "1/1"],
      ["linear", 2, 1, True]], "both gelu and softplus"),
    ([["linear", 2, 2, False], ["elu", "1/1"], ["linear", 2, 1, True]], "needs a bias"),
    ([["linear", 2, 2, True], ["layer_norm", 2, "1/10", True, True], ["linear", 2, 2, True],
      ["tanh"], ["linear", 2, 1, True]], "cannot hold a layer_norm"),
    ([["linear", 2, 2, True], ["softplus", "0/1"], ["linear", 2, 1, True]], "positive rational"),
    ([["linear", 2, 2, True], ["gelu", "exact"], ["linear", 2, 1, True]], "'erf' or 'tanh'"),
])
def test_refusals(layers, match):
    with pytest.raises(ValueError, match=match):
        check_blocks(layers)


# -- law checks: free derivative values ----------------------------------------------------------

def test_law_checks_accept_balancedness_and_reject_a_non_law():
    m = exactcl.from_program(net(Linear(2, 3, bias=True), Linear(3, 3, bias=True), Tanh(),
                                 Linear(3, 1, bias=True)))
    lay = m.program.layout
    laws = list(m.candidates)
    assert laws
    ring = m.ring
    W2 = ring.gens[lay.parameters.index("W2_0_0")]
    bad, check = check_laws(lay, laws + [W2 * W2], 2, random.Random(1))
    assert bad[:len(laws)] == [None] * len(laws) and bad[-1] == 0
    assert check.mode == "monte-carlo" and check.error_bound < Fraction(1, 2**60)
    # the balancedness across the tanh is no law: a ReLU's neuron law would be
    W1 = ring.gens[lay.parameters.index("W2_0_0")]
    W3 = ring.gens[lay.parameters.index("W3_0_0")]
    b2 = ring.gens[lay.parameters.index("b2_0")]
    across = sum((ring.gens[lay.parameters.index(f"W2_0_{j}")] ** 2 for j in range(3)),
                 b2 * b2) - W3 * W3
    bad, _ = check_laws(lay, [across, W1 - W1 + across], 2, random.Random(2))
    assert bad == [0, 0]


# -- counts and certificates ---------------------------------------------------------------------

@pytest.mark.parametrize("act", [Tanh(), Sigmoid(), GELU(), GELU("tanh"), SiLU(), Softplus(),
                                 ELU()], ids=repr)
def test_mlp_4_5_3_with_biases_has_no_law(act):
    r = exactcl.count(exactcl.from_program(net(Linear(4, 5, bias=True), act,
                                               Linear(5, 3, bias=True))))
    assert (r.laws, r.proof, r.bounds) == (0, "sandwich", (0, 0))


def test_two_dense_layers_before_tanh_keep_their_balancedness_only():
    m = exactcl.from_program(net(Linear(4, 5, bias=True), Linear(5, 5, bias=True), Tanh(),
                                 Linear(5, 3, bias=True)))
    r = exactcl.count(m)
    assert (r.laws, r.proof) == (15, "sandwich")
    assert len(m.candidate_labels) == 15  # nothing across the tanh
    assert all(label.startswith("balancedness of layers 1, 2 [") for label in r.exhibited_labels)
    ring, names = m.ring, m.program.layout.parameters
    gen = {n: ring.gens[k] for k, n in enumerate(names)}
    want = (sum(gen[f"W1_0_{j}"] * gen[f"W1_1_{j}"] for j in range(4)) + gen["b1_0"] * gen["b1_1"]
            - sum(gen[f"W2_{i}_0"] * gen[f"W2_{i}_1"] for i in range(5)))
    assert any(h == want or h == -want for h in r.exhibited)


@pytest.mark.parametrize("act, bias", [(Tanh(), True), (GELU(), False), (Sigmoid(), False),
                                       (Softplus("1/2"), True), (ELU(), True)], ids=repr)
def test_certificates_verify_and_a_changed_expansion_fails(act, bias):
    m = exactcl.from_program(net(Linear(3, 4, bias=bias), act, Linear(4, 4, bias=bias), act,
                                 Linear(4, 2, bias=bias)))
    cert, result = exactcl.certify(m, reproducible=True)
    assert result.laws == 0 and result.proof == "sandwich"
    text = json.dumps(cert)
    assert verify_certificate(json.loads(text)).ok
    expansion = cert["lie"]["generators"]["expansion"]
    assert "anchor" in expansion
    bad = json.loads(text)
    bad["lie"]["generators"]["expansion"] = expansion.replace("anchor", "point")
    assert not verify_certificate(bad).ok


def test_a_certificate_with_a_law_across_the_tanh_fails_its_identities():
    """Mutation: one exhibited law replaced by the ReLU network's neuron law
    across the tanh (no law here): the verifier's Monte Carlo check, with free
    derivative values, rejects it."""
    from exactcl.kernel import certformat
    m = exactcl.from_program(net(Linear(2, 3, bias=True), Linear(3, 3, bias=True), Tanh(),
                                 Linear(3, 1, bias=True)))
    cert, result = exactcl.certify(m, reproducible=True)
    assert result.laws == 6
    lay = m.program.layout
    gen = {n: m.ring.gens[k] for k, n in enumerate(lay.parameters)}
    across = sum((gen[f"W2_0_{j}"] ** 2 for j in range(3)), gen["b2_0"] ** 2) - gen["W3_0_0"] ** 2
    bad = json.loads(certformat.dumps(cert))
    bad["laws"]["polynomials"][0] = json.loads(certformat.dumps(
        {"x": certformat.encode_poly(across)}))["x"]
    report = verify_certificate(bad)
    assert not report.ok
    (check,) = [c for c in report.checks if c.claim == "law identities"]
    assert not check.passed and "law 0" in check.detail

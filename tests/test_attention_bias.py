"""Softmax attention with biases (nn.MultiheadAttention(bias=True)): the
Taylor coefficients its probes use against SymPy's series of the real
model, the kernel's probe fields and brackets against SymPy gradients, its
counts against the factorisation written by hand (from_phi), the torch
translation against the module, and bad input."""

import os
import random
from fractions import Fraction

os.environ.setdefault("SYMPY_GROUND_TYPES", "python")

import pytest  # noqa: E402
import sympy  # noqa: E402

import exactcl  # noqa: E402
from exactcl import Attention, InputError, net  # noqa: E402
from exactcl.kernel.blocks import (  # noqa: E402
    BlockLayout,
    Words,
    check_blocks,
    expand,
    random_probe,
    random_probe_mod,
)

P = 2**61 - 1


def _rand_matrix(rng, rows, cols):
    return sympy.Matrix(rows, cols, lambda i, j: sympy.Rational(rng.randrange(-5, 6),
                                                                rng.randrange(1, 4)))


def test_biased_taylor_coefficients_are_the_ones_the_probes_use():
    """orders 0, 1, 2 of g(eps X) = softmax(s (X Q^T + 1 bq^T)(K X^T + bk 1^T))
    (X V^T + 1 bv^T) O + 1 bo^T, and order 3 against C U, from SymPy's series
    of the exponentials (the key bias included: it must drop out)."""
    rng = random.Random(7)
    N, d, k = 3, 2, 2
    s = sympy.Rational(1, 2)
    eps = sympy.Symbol("eps")
    X = _rand_matrix(rng, N, d)
    Q, K, V, O = (_rand_matrix(rng, k, d) for _ in range(4))  # noqa: E741 (the paper's names)
    bq, bk, bv = (_rand_matrix(rng, k, 1) for _ in range(3))
    bo = _rand_matrix(rng, d, 1)
    ones = sympy.ones(N, 1)
    Xe = eps * X
    logits = s * (Xe * Q.T + ones * bq.T) * (K * Xe.T + bk * ones.T)
    E = logits.applyfunc(lambda z: sympy.series(sympy.exp(z), eps, 0, 4).removeO())
    soft = sympy.Matrix(N, N, lambda i, j: E[i, j] / sum(E[i, t] for t in range(N)))
    g = soft * (Xe * V.T + ones * bv.T) * O + ones * bo.T
    coeff = [sympy.zeros(N, d) for _ in range(4)]
    for i in range(N):
        for j in range(d):
            series = sympy.series(g[i, j], eps, 0, 4).removeO()
            for n in range(4):
                coeff[n][i, j] = sympy.nsimplify(series.coeff(eps, n))
    J, C = sympy.ones(N, N), N * sympy.eye(N) - sympy.ones(N, N)
    A, B = Q.T * K, V.T * O
    e = bo + O.T * bv
    assert coeff[0] == ones * e.T
    assert coeff[1] == J * X * B / N
    assert coeff[2] == s * ones * (bq.T * K) * X.T * C * X * B / N ** 2
    want3 = s * X * A * X.T * C * X * B / N ** 2
    U = _rand_matrix(rng, N, d)
    assert sum((C * U).multiply_elementwise(coeff[3] - want3)) == 0
    # the centring is needed: softmax's second-order term in bq adds equal rows
    assert coeff[3] != want3
    diff = coeff[3] - want3
    assert all(diff[0, j] == diff[i, j] for i in range(N) for j in range(d))


def _symbols(lay):
    return sympy.symbols(" ".join(lay.parameters))


def _tensor(lay, syms, t):
    _, rows, cols, o = lay.tensors[t]
    return sympy.Matrix(rows, cols, syms[o:o + rows * cols])


def _reference_F(lay, syms, probe):
    """F of a biased probe, from the design notes' formula."""
    _, _, d, heads, k, N, _ = lay.attention
    X = sympy.Matrix(N, d, probe.x)
    U1 = sympy.Matrix(N, d, probe.u[:N * d])
    U3 = sympy.Matrix(N, d, probe.u[N * d:2 * N * d])
    u0 = sympy.Matrix(d, 1, probe.u[2 * N * d:2 * N * d + d])
    u2 = sympy.Matrix(d, 1, probe.u[2 * N * d + d:])
    J, C = sympy.ones(N, N), N * sympy.eye(N) - sympy.ones(N, N)
    e = _tensor(lay, syms, 7 * heads)
    F = 0
    for h in range(heads):
        Q, K, V, O = (_tensor(lay, syms, 4 * h + t) for t in range(4))  # noqa: E741
        bq, bk, bv = (_tensor(lay, syms, 4 * heads + 3 * h + t) for t in range(3))
        A, B = Q.T * K, V.T * O
        e += O.T * bv
        F += sum(U1.multiply_elementwise(J * X * B))
        F += sum((C * U3).multiply_elementwise(X * A * X.T * C * X * B))
        F += (bq.T * K * X.T * C * X * B * u2)[0, 0]
    return F + (u0.T * e)[0, 0]


BIASED = {
    "one head": ["attention", "softmax", 2, 1, 1, 3, True],
    "two heads": ["attention", "softmax", 2, 2, 1, 2, True],
}


@pytest.mark.parametrize("name", sorted(BIASED))
def test_probe_fields_and_brackets_match_sympy(name):
    lay = BlockLayout([BIASED[name]])
    syms = _symbols(lay)
    rng = random.Random(name)
    point = [rng.randrange(1, 50) for _ in range(lay.D)]
    subs = dict(zip(syms, point))
    probes = [random_probe(lay, "test", 0), random_probe_mod(lay, 97, rng)]
    grads = []
    for probe in probes:
        F = _reference_F(lay, syms, probe)
        grads.append(sympy.Matrix([sympy.diff(F, v) for v in syms]))
        want = {i: int(gi.subs(subs)) % P for i, gi in enumerate(grads[-1])}
        assert Words(lay, [probe], {}, point, P).value(0) == {i: v for i, v in want.items() if v}
    # no key bias in any field
    assert all(grads[0][lay.parameters.index(f"bk0_{a}")] == 0 for a in range(BIASED[name][4]))
    v = sympy.Matrix(syms)
    br = grads[1].jacobian(v) * grads[0] - grads[0].jacobian(v) * grads[1]
    want = {i: int(x.subs(subs)) % P for i, x in enumerate(br)}
    assert Words(lay, probes, {2: (0, 1)}, point, P).value(2) == {
        i: x for i, x in want.items() if x}


def test_the_expansion_spans_the_probe_fields():
    from flint import fmpq_mpoly_ctx
    lay = BlockLayout([BIASED["one head"]])
    ctx = fmpq_mpoly_ctx.get(lay.parameters, "lex")
    phi = expand(lay, ctx.gens(), ctx.from_dict({}) + 1)
    syms = _symbols(lay)
    rng = random.Random(3)
    subs = dict(zip(syms, [rng.randrange(1, 50) for _ in range(lay.D)]))
    grads = sympy.Matrix([[sympy.sympify(str(c.derivative(i))).subs(subs) for i in range(lay.D)]
                          for c in phi])
    F = _reference_F(lay, syms, random_probe_mod(lay, 101, rng))
    g = sympy.Matrix([[sympy.diff(F, s).subs(subs) for s in syms]])
    assert grads.rank() == grads.col_join(g).rank()
    assert len(phi) <= lay.phi_terms()


def _factorisation(d, heads, k):
    """phi = ([Q_h | b_q]^T K_h, V_h^T O_h, b_o + sum_h O_h^T b_v) written by
    hand, in exactcl's parameter order."""
    lay = net(Attention(d, heads, k, bias=True)).layout
    syms = _symbols(lay)
    e = _tensor(lay, syms, 7 * heads)
    phi = []
    for h in range(heads):
        Q, K, V, O = (_tensor(lay, syms, 4 * h + t) for t in range(4))  # noqa: E741
        bq, _, bv = (_tensor(lay, syms, 4 * heads + 3 * h + t) for t in range(3))
        phi += list(Q.row_join(bq).T * K) + list(V.T * O)
        e += O.T * bv
    return phi + list(e), list(syms)


@pytest.mark.parametrize("d, heads, k", [(2, 1, 1), (2, 1, 2), (2, 2, 1), (4, 2, 2)])
def test_counts_agree_with_the_factorisation_and_the_listed_laws(d, heads, k):
    """k(k+1) + k laws per head (k <= 2d + 1): the two bias-augmented factors
    and the key bias; the same count as phi written by hand."""
    r = exactcl.count(net(Attention(d, heads, k, bias=True)))
    assert (r.laws, r.proof) == (heads * (k * (k + 1) + k), "sandwich")
    if 4 * heads * k * d <= 16:
        phi, syms = _factorisation(d, heads, k)
        assert exactcl.count(exactcl.from_phi(phi, syms)).laws == r.laws


def test_candidate_laws_name_the_bias_augmented_factors_and_the_key_bias():
    labels = exactcl.from_program(net(Attention(2, 1, 1, bias=True))).candidate_labels
    assert labels == ("(Q0 Q0^T + bq0 bq0^T - K0 K0^T)[0,0]",
                      "(V0 V0^T + bv0 bv0^T - O0 O0^T)[0,0]",
                      "key bias bk0_0 (softmax ignores it)")


def test_the_canonical_form_spec_and_name_round_trip():
    layer = Attention(4, 2, bias=True)
    assert layer.canonical() == ["attention", "softmax", 4, 2, 2, 3, True]
    assert repr(layer) == "Attention(4, 2, 2, bias=True)"
    prog = net(layer)
    assert prog.spec == "net:Attention(4,2,2,bias)" and prog.D == 80
    from exactcl.models.specs import spec_program
    assert spec_program(prog.spec) == prog
    # the bias-free form keeps its six items (its certificates are unchanged)
    assert Attention(4, 2).canonical() == ["attention", "softmax", 4, 2, 2, 3]
    assert check_blocks([["attention", "softmax", 4, 2, 2, 3, False]]) == (
        ("attention", "softmax", 4, 2, 2, 3),)


@pytest.mark.parametrize("layers, message", [
    ([["attention", "factors", 2, 1, 1, 3, True]], "biases only of kind softmax"),
    ([["attention", "softmax", 2, 1, 1, 3, 1]], "a bool bias"),
    ([["attention", "softmax", 2, 1, 1, 3, True, True]], "must be"),
])
def test_bad_canonical_forms_are_refused(layers, message):
    with pytest.raises(ValueError, match=message):
        check_blocks(layers)


def test_bad_arguments_are_refused_in_one_line():
    with pytest.raises(InputError, match="Argument 'bias' of Attention\\(2, 1\\) must be a bool"):
        Attention(2, 1, bias=1)
    with pytest.raises(InputError, match="may be True only for kind 'softmax'"):
        Attention(2, 1, kind="factors", bias=True)
    from exactcl.models.specs import spec_program
    with pytest.raises(InputError, match=r"\[,factors\|linear\]\[,bias\]"):
        spec_program("net:Attention(2,1,1,bias,bias)")


# -- certificates -------------------------------------------------------------------------

def _certificate():
    import json
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "data" / "attention_layers"
    return json.loads((path / "bias_d2_k2.json").read_text())


def _verify(cert):
    from exactcl.kernel import certformat
    from exactcl.kernel.verifier import verify_text
    return verify_text(certformat.dumps(cert), check_fingerprint=False, rng=random.Random(1))


def test_the_committed_certificate_verifies_and_mutations_are_rejected():
    cert = _certificate()
    assert cert["model"]["program"] == [["attention", "softmax", 2, 1, 2, 3, True]]
    assert _verify(cert).status == "verified"
    # the bias-free program: other parameters, refused
    bad = _certificate()
    bad["model"]["program"] = [["attention", "softmax", 2, 1, 2, 3]]
    assert _verify(bad).status != "verified"
    # the value bias in place of the key bias: not a law
    bad = _certificate()
    variables = bad["model"]["variables"]
    assert bad["laws"]["polynomials"][-1] == [[[[variables.index("bk0_1"), 1]], "1/1"]]
    bad["laws"]["polynomials"][-1] = [[[[variables.index("bv0_1"), 1]], "1/1"]]
    report = _verify(bad)
    assert report.status != "verified" and "law identities" in str(report)


# -- torch --------------------------------------------------------------------------------

torch = pytest.importorskip("torch")
nn = torch.nn


def _mha(**options):
    torch.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, batch_first=True, **options).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "bias" in name:
                p.normal_()
    return m


def test_from_torch_reads_the_biases_and_counts():
    m = _mha(bias=True)
    tm = exactcl.from_torch(m, (3, 4))
    assert tm.program == net(Attention(4, 2, 2, bias=True))
    assert tm.checked.startswith("output equals the module's forward")
    # the map: b_q, b_k, b_v rows of in_proj_bias, b_o out_proj.bias
    where = {ex: (name, idx) for ex, name, idx in tm.parameter_map}
    assert where["bq1_0"] == ("in_proj_bias", (2,))
    assert where["bk0_1"] == ("in_proj_bias", (5,))
    assert where["bv1_1"] == ("in_proj_bias", (11,))
    assert where["bo_3"] == ("out_proj.bias", (3,))
    assert where["O1_0_2"] == ("out_proj.weight", (2, 2))
    r = exactcl.count(tm)
    assert (r.laws, r.proof) == (16, "sandwich")
    # the exact forward reads the same values torch does: b_o moves every token
    from exactcl.layers.forward import output
    values = {ex: Fraction(float(dict(m.named_parameters())[name].detach().double()[idx]))
              for ex, name, idx in tm.parameter_map}
    x = torch.randn(3, 4, dtype=torch.float64)
    got = output(tm.program.canonical(), values, [Fraction(v) for v in x.reshape(-1).tolist()],
                 logit_scale=tm.logit_scale)
    want = m.double()(x, x, x)[0].reshape(-1).tolist()
    assert max(abs(float(a) - b) for a, b in zip(got, want)) < 1e-12


@pytest.mark.parametrize("options, message", [
    ({"add_bias_kv": True}, "add_bias_kv=False"),
    ({"add_zero_attn": True}, "add_zero_attn=False"),
    ({"kdim": 3, "vdim": 3}, "kdim = vdim = embed_dim = 4"),
])
def test_options_exactcl_does_not_express_are_refused_naming_them(options, message):
    with pytest.raises(InputError) as err:
        exactcl.from_torch(_mha(**options), (3, 4))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_train_mode_dropout_is_refused():
    m = nn.MultiheadAttention(4, 2, dropout=0.1, batch_first=True)
    with pytest.raises(InputError, match="dropout=0.1"):
        exactcl.from_torch(m, (3, 4))


@pytest.mark.parametrize("build", [
    lambda: nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0,
                                       batch_first=True, norm_first=True).eval(),
    lambda: nn.Sequential(nn.Linear(4, 4), nn.TransformerEncoder(
        nn.TransformerEncoderLayer(4, 2, 8, 0.0, batch_first=True), 1,
        enable_nested_tensor=False)).eval(),
])
def test_a_transformer_layer_is_refused_naming_layernorm(build):
    with pytest.raises(InputError) as err:
        exactcl.from_torch(build(), (3, 4))
    text = str(err.value)
    assert "torch.nn.Transformer" in text and "LayerNorm" in text and "\n" not in text


def test_the_laws_hold_for_torch_s_own_model_along_small_gradient_steps():
    """The laws are symmetries of the real model, not only of its Taylor
    coefficients: under SGD each drifts like the square of the step (far less
    than the squared norm of the parameters moves), and torch's gradient of
    the key bias is zero."""
    base = _mha(bias=True).double()
    tm = exactcl.from_torch(base, (3, 4))
    laws = tm.laws()
    assert len(laws) == 16
    x, y = torch.randn(8, 3, 4, dtype=torch.float64), torch.randn(8, 3, 4, dtype=torch.float64)

    def norm(m):
        return sum((p.detach() ** 2).sum() for p in m.parameters())

    drifts, moves = [], []
    for lr in (1e-3, 2e-3):
        m = _mha(bias=True).double()
        m.load_state_dict(base.state_dict())
        start, start_norm = torch.stack([law(m).detach() for law in laws]), norm(m)
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        for _ in range(20):
            opt.zero_grad()
            ((m(x, x, x)[0] - y) ** 2).mean().backward()
            opt.step()
        assert m.in_proj_bias.grad[4:8].abs().max().item() < 1e-14  # b_k of both heads
        drifts.append((torch.stack([law(m).detach() for law in laws]) - start).abs())
        moves.append(abs(norm(m) - start_norm).item())
    assert drifts[0].max().item() < 1e-2 * moves[0]
    clear = drifts[0] > 1e-8  # away from rounding and cancellations
    assert clear.sum().item() >= 8
    ratio = drifts[1][clear] / drifts[0][clear]
    assert ((ratio > 3.0) & (ratio < 5.0)).all(), ratio  # twice the step: four times the drift

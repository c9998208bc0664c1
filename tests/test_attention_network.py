"""Softmax attention as a layer of a network on tokens (docs/design.md,
attention inside a network): the kernel's probe fields against SymPy's
derivatives of the real model (exponentials and all), the powers of the
logit scale per order, counts against independent ones (the attention
alone, the laws derived by hand), certificates, and bad input."""

import os
import random

os.environ.setdefault("SYMPY_GROUND_TYPES", "python")

import pytest  # noqa: E402
import sympy  # noqa: E402

import exactcl  # noqa: E402
from exactcl import Attention, InputError, Linear, ReLU, Residual, net  # noqa: E402
from exactcl.kernel.blocks import BlockLayout, random_probe  # noqa: E402
from exactcl.kernel.evaluator import Probe  # noqa: E402

from .sympy_token_networks import kernel_and_real, real_F, residue  # noqa: E402

P = 2**61 - 1


NETWORKS = {
    "dense-attention-dense": [["linear", 2, 2, False], ["attention", "softmax", 2, 1, 1, 2],
                              ["linear", 2, 1, False]],
    "relu-biased": [["linear", 2, 2, True], ["relu"], ["attention", "softmax", 2, 1, 1, 2, True],
                    ["linear", 2, 1, True]],
    "leaky-relu": [["linear", 2, 2, False], ["leaky_relu", "-1/3"],
                   ["attention", "softmax", 2, 1, 1, 3], ["linear", 2, 1, False]],
    "transformer-block": [["residual", [["attention", "softmax", 2, 1, 1, 2, True]]],
                          ["residual", [["linear", 2, 2, True], ["relu"],
                                        ["linear", 2, 2, True]]]],
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_probe_fields_are_gradients_of_the_real_models_taylor_coefficients(name):
    """grad F . v from the kernel (jets mod p, the truncated exponential)
    against d/ds F(theta + s v) of SymPy's real model (exp and division)."""
    got, orders = kernel_and_real(NETWORKS[name], random.Random(3), P)
    assert got == residue(sum(orders), P)


def test_each_order_carries_one_power_of_the_logit_scale():
    """With logits scaled by s, <U_n, T_n> is s^0, s^0, s^1 and (against
    C U_3) s^1 times its value at s = 1: the fields of s = 1 span the same
    lines (docs/design.md), so the kernel computes at s = 1."""
    layers = NETWORKS["relu-biased"]
    rng = random.Random(5)
    lay = BlockLayout(layers)
    values = {name: sympy.Rational(rng.randrange(-3, 4), rng.randrange(1, 3))
              for name in lay.parameters}
    drawn = random_probe(lay, "test", 2)
    probe = Probe([rng.randrange(1, 4) for _ in drawn.x], (), [(1, 1)],
                  range(1, len(drawn.u) + 1))  # C U_3 != 0: U_3's tokens differ
    one = real_F(lay.layers, values, probe, lay.tokens)
    half = real_F(lay.layers, values, probe, lay.tokens, scale=sympy.Rational(1, 2))
    assert all(o != 0 for o in one)
    assert [sympy.simplify(h / o) for h, o in zip(half, one)] == [1, 1, sympy.Rational(1, 2),
                                                                   sympy.Rational(1, 2)]


def test_attention_in_a_residual_block_counts_as_the_attention_alone():
    """X + Attn(X) has the gradients in theta of Attn(X): the count of the
    expansion at identical tokens equals that of the attention alone
    (expanded at X = 0, its own probes), laws and all."""
    alone = exactcl.count(net(Attention(2, 1, 2, bias=True)))
    inside = exactcl.count(net(Residual(Attention(2, 1, 2, bias=True))))
    assert (alone.laws, alone.proof) == (inside.laws, inside.proof) == (8, "sandwich")


def test_dense_attention_dense_has_the_balancedness_and_head_laws():
    """Linear(3,4), Attention(4,2), Linear(4,2): 10 balancedness laws of W1
    against the stacked Q, K, V, 2 x 6 head laws, 10 of the output units
    (O_h columns) against W3: 32, by sandwich."""
    prog = net(Linear(3, 4), Attention(4, 2), Linear(4, 2))
    r = exactcl.count(prog)
    assert (r.parameters, r.laws, r.proof) == (84, 32, "sandwich")
    labels = exactcl.from_program(prog).candidate_labels
    assert sum("balancedness of layers 1, 2" in label for label in labels) == 10
    assert sum("balancedness of layers 2, 3" in label for label in labels) == 10


def test_transformer_block_without_normalisation():
    """X + Attn(X), then Y + W2 relu(W1 Y + b1) + b2 per token: each head's
    bias-augmented laws and key bias (2 x 8), one law per hidden neuron (8)."""
    prog = net(Residual(Attention(4, 2, bias=True)),
               Residual(Linear(4, 8, bias=True), ReLU(), Linear(8, 4, bias=True)))
    r = exactcl.count(prog)
    assert (r.parameters, r.laws, r.proof) == (156, 24, "sandwich")


def test_the_spec_and_the_name_round_trip():
    from exactcl.layers.program import parse_net
    spec = "Linear(3,4),ReLU,Attention(4,2,2,bias),Linear(4,2)"
    prog = parse_net(spec, "net:" + spec)
    assert prog.spec == "net:" + spec and prog.layout.tokens == 3
    assert prog.layout.parameters[12:14] == ("Q0_0_0", "Q0_0_1")
    assert prog.layout.parameters[-1] == "bo_3"
    assert "W3_0_0" in prog.layout.parameters  # the attention is layer 2


def test_a_certificate_verifies_and_a_changed_one_is_refused(tmp_path):
    from exactcl.kernel.verifier import verify
    prog = net(Linear(2, 2, bias=True), ReLU(), Attention(2, 1, 1, bias=True), Linear(2, 1))
    cert, result = exactcl.certify(prog, tmp_path / "c.json", reproducible=True)
    assert cert["lie"]["generators"]["family"].startswith("exactcl-tokens-")
    report = verify(tmp_path / "c.json", rng=random.Random(1))
    assert report.ok, str(report)
    assert "Taylor coefficients in t" in str(report)
    cert["lie"]["rank"] += 1
    cert["claim"]["lie_dimension"] += 1
    cert["claim"]["laws"] -= 1
    import json
    (tmp_path / "bad.json").write_text(json.dumps(cert))
    assert not verify(tmp_path / "bad.json", rng=random.Random(1)).ok


@pytest.mark.parametrize("layers, message", [
    ((Linear(2, 2), Attention(2, 1), Attention(2, 1)),
     r"at most one layer that mixes tokens \(attention, batch_norm\), not 2"),
    ((Linear(2, 2), Attention(2, 1, kind="factors")), "only softmax attention may sit"),
    ((Linear(2, 3), Attention(2, 1)), "takes tokens of 2 entries but the layer before it gives 3"),
])
def test_bad_networks_are_refused_in_one_line(layers, message):
    with pytest.raises(InputError, match=message) as err:
        net(*layers)
    assert "\n" not in str(err.value)


def test_a_convolution_cannot_act_on_tokens():
    from exactcl.kernel.blocks import check_blocks
    with pytest.raises(ValueError, match=r"layer 2 \(conv\) cannot act on each token"):
        check_blocks([["attention", "softmax", 2, 1, 1, 3],
                      ["conv", 1, 1, [1], [1], False, [2]]])


def test_rank_probes_draw_indicators_as_bits_whatever_the_family():
    """F is not multilinear in a ReLU before the attention: a probe with other
    indicator values would leave W_phi (docs/design.md)."""
    from exactcl.kernel.blocks import DENSE
    lay = BlockLayout(NETWORKS["relu-biased"])
    for family in ("exactcl-tokens-0", DENSE + "0", "exactcl-cover-0"):
        for k in range(20):
            assert set(random_probe(lay, family, k).sigma[0]) <= {0, 1}


def test_the_expansion_is_not_built_for_networks_with_attention():
    from flint import fmpq_mpoly_ctx

    from exactcl.kernel.blocks import expand
    lay = BlockLayout(NETWORKS["dense-attention-dense"])
    ctx = fmpq_mpoly_ctx.get(lay.parameters, "lex")
    with pytest.raises(ValueError, match="counted by evaluation only"):
        expand(lay, ctx.gens(), ctx.from_dict({}) + 1)


# -- from_torch: a user module calling attn(x, x, x)[0] between per-token layers ----------------

torch = pytest.importorskip("torch")
nn = torch.nn


class _Encoder(nn.Module):
    """Linear per token, self-attention, Linear per token."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, 4)
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        y = self.inp(x)
        y = self.attn(y, y, y)[0]
        return self.out(y)


class _Block(nn.Module):
    """A transformer block without normalisation."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x):
        x = x + self.attn(x, x, x, need_weights=False)[0]
        return x + self.fc2(torch.relu(self.fc1(x)))


@pytest.mark.parametrize("make, shape, spec, laws", [
    (_Encoder, (3, 3), "net:Linear(3,4,bias),Attention(4,2,2,bias),Linear(4,2,bias)", 36),
    (_Block, (3, 4), "net:Residual(Attention(4,2,2,bias)),Residual(Linear(4,8,bias),ReLU,"
                     "Linear(8,4,bias))", 24),
])
def test_from_torch_reads_attention_between_per_token_layers(make, shape, spec, laws):
    """The translation's output equals the module's forward (from_torch
    checks it), and the count is a sandwich: in the encoder 10 + 2 x 8 + 10
    (the biases augment every family), in the block 2 x 8 + 8."""
    torch.manual_seed(0)
    module = make().eval()
    tm = exactcl.from_torch(module, example_input_shape=shape)
    assert tm.program.spec == spec and "output equals the module's forward" in tm.checked
    r = exactcl.count(tm)
    assert (r.laws, r.proof) == (laws, "sandwich")


def test_from_torch_maps_every_attention_parameter_of_a_network():
    torch.manual_seed(1)
    module = _Encoder().eval()
    tm = exactcl.from_torch(module, example_input_shape=(3, 3))
    mapped = {ex: (name, idx) for ex, name, idx in tm.parameter_map}
    assert mapped["W1_0_2"] == ("inp.weight", (0, 2))
    assert mapped["Q1_0_1"] == ("attn.in_proj_weight", (2, 1))
    assert mapped["bk0_1"] == ("attn.in_proj_bias", (5,))
    assert mapped["O1_1_3"] == ("attn.out_proj.weight", (3, 3))
    assert mapped["W3_1_0"] == ("out.weight", (1, 0))


def test_from_torch_refuses_a_per_token_linear_without_attention():
    class PerRow(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(x)

    with pytest.raises(InputError, match="per token only in a network with a "
                                         "MultiheadAttention") as err:
        exactcl.from_torch(PerRow(), example_input_shape=(4, 3))
    assert "\n" not in str(err.value)


def test_from_torch_refuses_a_pre_norm_transformer_layer_naming_layernorm():
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True,
                                       norm_first=True).eval()
    with pytest.raises(InputError, match="LayerNorm") as err:
        exactcl.from_torch(layer, example_input_shape=(3, 4))
    assert "\n" not in str(err.value)


def test_the_certificate_states_the_expansion_its_ranks_come_from():
    """lie.generators.expansion names the expansion at identical tokens; a file
    of a network with attention without it, or one of another program with it,
    is refused."""
    import copy
    import json
    import pathlib

    from exactcl.kernel.rankcheck import TOKEN_EXPANSION
    from exactcl.kernel.verifier import verify_certificate
    root = pathlib.Path(__file__).resolve().parents[1] / "data"
    cert = json.loads((root / "attention_networks" / "biased_2_2_1.json").read_text())
    assert cert["lie"]["generators"]["expansion"] == TOKEN_EXPANSION
    assert verify_certificate(cert, rng=random.Random(2)).ok
    bad = copy.deepcopy(cert)
    del bad["lie"]["generators"]["expansion"]
    report = verify_certificate(bad, rng=random.Random(2))
    assert not report.ok and "lie.generators.expansion must be" in str(report)
    alone = json.loads((root / "attention_layers" / "bias_d2_k2.json").read_text())
    alone["lie"]["generators"]["expansion"] = TOKEN_EXPANSION
    report = verify_certificate(alone, rng=random.Random(2))
    assert not report.ok
    assert "only a network with attention or a batch normalisation states one" in str(report)


def _trunc(e, t):
    p = sympy.Poly(sympy.expand(e), t)
    return sum(c * t**m[0] for m, c in zip(p.monoms(), p.coeffs()) if m[0] <= 3)


def test_the_identity_bounds_hold_for_F_expanded_by_sympy():
    """F of Linear(1,1), Attention(1,1,1), Linear(1,1) on 2 tokens as a
    polynomial in theta and every probe entry (SymPy, the truncated series
    of docs/design.md written out): its degrees are at most phi_degree and
    probe_degree, and the sum of its absolute coefficients, denominators
    cleared, at most phi_terms (the Schwartz-Zippel bound rests on them)."""
    N = 2
    lay = BlockLayout([["linear", 1, 1, False], ["attention", "softmax", 1, 1, 1, N],
                       ["linear", 1, 1, False]])
    th = {n: sympy.Symbol(n) for n in lay.parameters}
    t = sympy.Symbol("t")
    x0, xp = sympy.Symbol("x0"), sympy.symbols("xp0:2")
    X = sympy.Matrix([th["W1_0_0"] * (x0 + t * xp[i]) for i in range(N)])
    L = (X * th["Q0_0_0"]) * (X * th["K0_0_0"]).T
    M = sympy.Matrix(N, N, lambda i, j: _trunc(L[i, j] - L[i, 0], t))
    E = M.applyfunc(lambda e: _trunc(1 + e + e**2 / 2 + e**3 / 6, t))
    z = [_trunc((sum(E[i, :]) - N) / N, t) for i in range(N)]
    w = [_trunc((1 - s + s**2 - s**3) / N, t) for s in z]
    P = sympy.Matrix(N, N, lambda i, j: _trunc(w[i] * E[i, j], t))
    out = (P * X * th["V0_0_0"] * th["O0_0_0"] * th["W3_0_0"]).applyfunc(lambda e: _trunc(e, t))
    U = [sympy.Matrix(sympy.symbols(f"u{n}_0:{N}")) for n in range(4)]
    U[3] = sympy.Matrix(N, N, lambda i, j: (N if i == j else 0) - 1) * U[3]
    F = sum(wgt * U[n][i] * sympy.Poly(out[i], t).coeff_monomial(t**n)
            for n, wgt in enumerate((1, 1, 2, 6)) for i in range(N))
    probe = [x0, *xp, *(s for u in U for s in u.free_symbols)]
    poly = sympy.Poly(sympy.expand(F), *th.values(), *probe)
    assert poly.degree_list() and sympy.Poly(F, *th.values()).total_degree() <= lay.phi_degree()
    assert sympy.Poly(F, *probe).total_degree() <= lay.probe_degree()
    den = sympy.ilcm(*[sympy.Rational(c).q for c in poly.coeffs()])
    assert 0 < den * sum(abs(c) for c in poly.coeffs()) <= lay.phi_terms()

"""Layer normalisations after the attention of a network on tokens (the
post-norm transformer layer; docs/design.md, normalisation after the
attention): the kernel's probe fields against the real model in exact
arithmetic (true softmax and square roots over Q(sqrt k, sqrt q')), the
law-check probe against the rank probe, the kernel's refusal of level data
that does not match, counts against the laws derived by hand,
certificates, and bad input."""

import json
import random
from fractions import Fraction
from math import isqrt

import pytest

import exactcl
from exactcl import Attention, LayerNorm, Linear, ReLU, Residual, RMSNorm, net
from exactcl.kernel.blocks import BlockLayout, Words, random_probe
from exactcl.kernel.evaluator import Probe
from exactcl.kernel.layers import postnorm

from .exact_token_series import Field, Series, real_outputs

P = 2**61 - 1  # 2 is a square mod P (P = 7 mod 8)

TRANSFORMER = [["residual", [["attention", "softmax", 4, 2, 2, 2, True]]],
               ["layer_norm", 4, "1/100000", True, True],
               ["residual", [["linear", 4, 2, True], ["relu"], ["linear", 2, 4, True]]],
               ["layer_norm", 4, "1/100000", True, True]]
NETWORKS = {
    "transformer-layer": TRANSFORMER,
    "rms-norms": [["residual", [["attention", "softmax", 2, 1, 2, 2, True]]],
                  ["rms_norm", 2, "1/10", True],
                  ["residual", [["linear", 2, 1, True], ["relu"], ["linear", 1, 2, True]]],
                  ["rms_norm", 2, "1/10", True]],
    "one-norm-square-head": [["linear", 4, 4, True],
                             ["residual", [["attention", "softmax", 4, 1, 4, 3, False]]],
                             ["layer_norm", 4, "0/1", False, False], ["linear", 4, 2, True]],
}


def _point_and_probe(layers, seed: int):
    """An integer point where the first normalisation's order-0 input is
    invertible in x0, and a rank probe with small entries and candidates."""
    lay = BlockLayout(layers)
    rng = random.Random(seed)
    shift = 1 << 31
    n = lay.token_norms[0][1]
    while True:
        point = [rng.randrange(-3, 4) for _ in range(lay.D)]
        drawn = random_probe(lay, "test", 1)
        candidates = tuple(v for _ in range(40) for v in
                           [shift + rng.randrange(-3, 4) for _ in range(n)]
                           + [rng.randrange(1, 4)])
        probe = Probe([rng.randrange(-2, 3) for _ in drawn.x], candidates, drawn.sigma,
                      [rng.randrange(-2, 3) for _ in drawn.u])
        try:
            x0, level = postnorm.rank_level(Words(lay, [probe], {}, point, P), probe,
                                            probe.sigma)
        except ValueError:  # A singular at this point: another one
            continue
        return lay, point, probe, x0, level, rng


def _real_directional(lay, point, probe, x0, level, v):
    """d/ds F(theta0 + s v) of the real model mod P, the roots mapped as the
    kernel's level data maps them (sqrt k -> 1/scale, sqrt q' -> 1/s0')."""
    k, rational = postnorm.attention_scale(lay)
    ops = lay.token_norms
    b = Fraction(1)
    if len(ops) > 1:
        b = postnorm._level(ops[1], postnorm.order0(lay, point, x0, probe.sigma,
                                                    {0: _first_root(lay, point, probe, x0)}, 1))
    zero = Field(Fraction(k), b)
    scale = (zero.new([rational, 0, 0, 0]) if rational is not None
             else zero.new([0, Fraction(1, k), 0, 0]))  # 1/sqrt k = sqrt k / k
    index = {name: i for i, name in enumerate(lay.parameters)}
    one = zero.new([Fraction(1), 0, 0, 0])

    def value(name):
        i = index[name]
        return Series(zero, {(0, 0): one * point[i], (0, 1): one * v[i]})

    N = lay.tokens
    d = len(x0)
    outs = real_outputs(lay.layers, value, x0, probe.x[d:], probe.sigma, N, zero, scale)
    d_out = len(outs[0])
    U = [[[probe.u[(n * N + i) * d_out + c] for c in range(d_out)] for i in range(N)]
         for n in range(4)]
    U[3] = [[N * U[3][i][c] - sum(U[3][j][c] for j in range(N)) for c in range(d_out)]
            for i in range(N)]
    total = zero.new(None)
    for n, w in enumerate((1, 1, 2, 6)):
        for i in range(N):
            for c in range(d_out):
                got = outs[i][c].c.get((n, 1))
                if got is not None:
                    total = total + got * (w * U[n][i][c])
    ra = pow(level[1], -1, P) if rational is None else 1
    rb = pow(level[2][1], -1, P) if len(ops) > 1 else 1
    return total.residue(ra, rb, P)


def _first_root(lay, point, probe, x0):
    h0 = postnorm.order0(lay, point, x0, probe.sigma, {}, 0)
    q0 = postnorm._level(lay.token_norms[0], h0)
    num, den = isqrt(q0.numerator), isqrt(q0.denominator)
    assert num * num == q0.numerator and den * den == q0.denominator, "not a rational square"
    return Fraction(den, num)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_probe_fields_are_gradients_of_the_real_model(name):
    """grad F . v from the kernel (jets mod p, the series of exp and of the
    roots, the attention's scale and the second level's root mod p) against
    d/ds of the real model in exact arithmetic over Q(sqrt k, sqrt q')."""
    lay, point, probe, x0, level, rng = _point_and_probe(NETWORKS[name], 7)
    grad = Words(lay, [probe], {}, point, P).value(0)
    v = [rng.randrange(-2, 3) for _ in range(lay.D)]
    got = sum(grad.get(i, 0) * v[i] for i in range(lay.D)) % P
    assert got == _real_directional(lay, point, probe, x0, level, v)


def test_the_roots_images_matter():
    """The comparison above sees the roots: with the other root of 2 the
    real model's value differs from the kernel's."""
    lay, point, probe, x0, level, rng = _point_and_probe(TRANSFORMER, 7)
    grad = Words(lay, [probe], {}, point, P).value(0)
    v = [rng.randrange(-2, 3) for _ in range(lay.D)]
    got = sum(grad.get(i, 0) * v[i] for i in range(lay.D)) % P
    other = (level[0], (-level[1]) % P, level[2], level[3])
    assert got != _real_directional(lay, point, probe, x0, other, v)


def test_a_law_check_probe_at_the_rank_values_is_the_rank_probe():
    """A law-check probe takes the roots as free variables: at the values
    the rank probe brings (x0, the scale, each s0) it gives the same field."""
    lay, point, probe, x0, level, _ = _point_and_probe(TRANSFORMER, 11)
    d = len(x0)
    x = [postnorm.mod(v, P) for v in x0] + list(probe.x[d:])
    formal = Probe(x, (0, level[1]) + tuple(level[2]), probe.sigma, probe.u)
    assert Words(lay, [formal], {}, point, P).value(0) == \
        Words(lay, [probe], {}, point, P).value(0)
    wrong = Probe(x, (0, level[1]) + tuple(level[2][:1]) + (level[2][1] + 1,), probe.sigma,
                  probe.u)
    assert Words(lay, [wrong], {}, point, P).value(0) != Words(lay, [probe], {}, point,
                                                                 P).value(0)


def test_the_kernel_refuses_level_data_that_is_not_the_probes(monkeypatch):
    """A rank probe's s0 must be q0^(-1/2) mod p for the level the forward
    pass computes: level data of another expansion point is refused."""
    lay, point, probe, x0, level, _ = _point_and_probe(TRANSFORMER, 13)
    real = postnorm.rank_level

    def shifted(words, pr, bits):
        x, (tag, scale, roots, checked) = real(words, pr, bits)
        return x, (tag, scale, [roots[0] + 1] + roots[1:], checked)
    monkeypatch.setattr(postnorm, "rank_level", shifted)
    with pytest.raises(ValueError, match="does not match its expansion point"):
        Words(lay, [probe], {}, point, P).value(0)


def test_levels_are_certified_independent_modulo_squares():
    """The head dimension 2 is certified first, then each probe's second
    level; a level equal to an earlier one is refused."""
    lay, point, probe, x0, level, _ = _point_and_probe(TRANSFORMER, 7)
    words = Words(lay, [probe], {}, point, P)
    words.value(0)
    assert words.levels.numerators[0] == 2 and len(words.levels.numerators) == 2
    with pytest.raises(ValueError, match="not independent modulo rational squares"):
        words.levels.add(words.levels.numerators[1] * 9)


def _small_transformer():
    return net(Residual(Attention(4, 2, bias=True, tokens=2)), LayerNorm(4),
               Residual(Linear(4, 2, bias=True), ReLU(), Linear(2, 4, bias=True)), LayerNorm(4))


def test_the_transformer_layer_has_the_laws_derived_by_hand():
    """Per head the bias-augmented Q/K and V/O laws (2 x 6) and the key bias
    (4); the first normalisation ignores f's output moved by a multiple of 1
    per token: each row sum of O_h (4) and the sum of b_o; the second: the
    column sums of the MLP's last layer (2) and its bias sum; one law per
    hidden ReLU neuron (2): 26, by sandwich."""
    prog = _small_transformer()
    r = exactcl.count(prog)
    assert (r.parameters, r.laws, r.proof) == (118, 26, "sandwich")
    labels = exactcl.from_program(prog).candidate_labels
    assert sum("(the normalisation ignores it)" in label for label in labels) == 5
    assert sum(label.startswith("sum of column") for label in labels) == 2
    assert "sqrt(2) and the second level's root taken mod p" in str(r)


def test_rms_norms_have_no_translation_laws():
    """RMSNorm does not centre: no law of the layers before it; the head's
    and the MLP's laws only (the scale law of eps = 0 rejected at eps =
    1/10), and the count is still proven."""
    r = exactcl.count(net(*_rms_layers()))
    labels = exactcl.from_program(net(*_rms_layers())).candidate_labels
    assert not any("normalisation ignores" in label for label in labels)
    broken = [label for label in labels if "broken at order eps" in label]
    assert len(broken) == 1  # the scale of RMSNorm 2's output: a law at eps = 0 only
    assert (r.proof, r.laws) == ("sandwich", len(labels) - 1)
    assert broken[0] not in r.exhibited_labels


def _rms_layers():
    return (Residual(Attention(2, 1, 2, bias=True, tokens=2)), RMSNorm(2, eps="1/10"),
            Residual(Linear(2, 1, bias=True), ReLU(), Linear(1, 2, bias=True)),
            RMSNorm(2, eps="1/10"))


def test_certificate_states_the_roots_and_the_verifier_holds_it_to_them(tmp_path):
    """The certificate names the expansion with its roots; the verifier
    re-derives the probes and refuses a file whose expansion or rank was
    changed."""
    path = tmp_path / "tel.json"
    exactcl.certify(_small_transformer(), path)
    data = json.loads(path.read_text())
    assert "sqrt(2) and the second level's root taken mod p" in \
        data["lie"]["generators"]["expansion"]
    assert exactcl.verify(path).status == "verified"
    for change in ("expansion", "rank"):
        bad = json.loads(path.read_text())
        if change == "expansion":
            bad["lie"]["generators"]["expansion"] = bad["lie"]["generators"]["expansion"].replace(
                "sqrt(2)", "sqrt(3)")
        else:
            bad["lie"]["rank"] += 1
        other = tmp_path / f"bad-{change}.json"
        other.write_text(json.dumps(bad))
        assert exactcl.verify(other).status != "verified"


@pytest.mark.parametrize("layers, message", [
    ([["layer_norm", 4, "1/100000", True, True],
      ["residual", [["attention", "softmax", 4, 2, 2, 3, True]]], ["linear", 4, 2, True]],
     "must come after the attention"),
    ([["residual", [["attention", "softmax", 3, 1, 3, 3, True]]],
      ["layer_norm", 3, "1/100000", True, True], ["linear", 3, 2, True]],
     "needs n with a base vector"),
    ([["residual", [["attention", "softmax", 4, 1, 4, 3, True]]]]
     + [["layer_norm", 4, "1/100000", True, True]] * 3 + [["linear", 4, 2, True]],
     "third normalisation"),
    ([["residual", [["attention", "softmax", 4, 1, 4, 3, True],
                    ["layer_norm", 4, "1/100000", True, True]]], ["linear", 4, 2, True]],
     "top level"),
    ([["residual", [["attention", "softmax", 4, 1, 4, 3, True]]],
      ["group_norm", 2, 4, "1/100000", True], ["linear", 4, 2, True]],
     "cannot act on each token"),
    ([["linear", 3, 4, True], ["residual", [["attention", "softmax", 4, 1, 4, 3, True]]],
      ["layer_norm", 4, "1/100000", True, True], ["linear", 4, 2, True]],
     "normalises 4 features but the network's input has 3"),
])
def test_bad_placements_are_refused_in_one_line(layers, message):
    with pytest.raises(ValueError, match=message) as err:
        BlockLayout(layers)
    assert "\n" not in str(err.value)

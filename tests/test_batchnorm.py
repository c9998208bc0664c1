"""Batch normalisation in training mode (docs/design.md, batch normalisation
in training mode): the kernel's probe fields against SymPy's derivatives of
the real model (square roots and all) with the power of eps^(-1/2) each
order carries, counts against the laws derived by hand, certificates, the
torch translation against the module's own forward, and bad input."""

import json
import os
import random

os.environ.setdefault("SYMPY_GROUND_TYPES", "python")

import pytest  # noqa: E402
import sympy  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import exactcl  # noqa: E402
from exactcl import InputError, Linear, ReLU, Residual, net  # noqa: E402
from exactcl.kernel.blocks import BlockLayout, Words, random_probe  # noqa: E402
from exactcl.layers.batchnorm import BatchNorm1d  # noqa: E402
from exactcl.models.specs import parse_spec  # noqa: E402

from .sympy_token_networks import kernel_and_real, residue  # noqa: E402

P = 2**61 - 1


NETWORKS = {
    "dense-bn-dense": [["linear", 2, 3, True], ["batch_norm", 3, "1/3", True, 3],
                       ["linear", 3, 2, True]],
    "bn-relu": [["linear", 2, 2, True], ["batch_norm", 2, "1/2", True, 2], ["relu"],
                ["linear", 2, 1, True]],
    "no-affine": [["linear", 2, 2, False], ["batch_norm", 2, "2/3", False, 3],
                  ["linear", 2, 1, False]],
    "relu-before": [["linear", 2, 2, True], ["relu"], ["linear", 2, 2, True],
                    ["batch_norm", 2, "1/5", True, 2], ["linear", 2, 1, False]],
    "residual-after": [["linear", 2, 2, True], ["batch_norm", 2, "1/7", True, 2],
                       ["residual", [["linear", 2, 2, True], ["relu"], ["linear", 2, 2, True]]],
                       ["linear", 2, 1, True]],
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_probe_fields_are_gradients_of_the_real_models_taylor_coefficients(name):
    """grad F . v from the kernel (jets mod p, eps^(-1/2) replaced by 1)
    against d/ds of SymPy's real F(theta + s v) with its square roots: the
    order 0 is free of sqrt(eps) and every other order is sqrt(eps)^-1
    times a rational, so sqrt(eps) times it is the kernel's."""
    layers = NETWORKS[name]
    eps = next(sympy.Rational(layer[2]) for layer in layers if layer[0] == "batch_norm")
    got, orders = kernel_and_real(layers, random.Random(5), P)
    assert orders[0].is_rational
    scaled = [sympy.simplify(sympy.expand(o * sympy.sqrt(eps))) for o in orders[1:]]
    assert all(o.is_rational for o in scaled), scaled
    assert any(o != 0 for o in scaled)  # the normalisation is seen, not only beta
    assert got == residue(orders[0] + sum(scaled), P)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 4), st.sampled_from(["1/2", "3/7"]),
       st.booleans(), st.booleans(), st.integers(0, 2**16))
def test_property_kernel_fields_match_the_real_model(d, m, N, eps, affine, relu, seed):
    """The same comparison on networks drawn at random: input width d, m
    features, a batch of N, eps, with or without affine parameters and a
    ReLU after the normalisation."""
    layers = [["linear", d, m, True], ["batch_norm", m, eps, affine, N]]
    layers += [["relu"]] if relu else []
    layers.append(["linear", m, 1, True])
    got, orders = kernel_and_real(layers, random.Random(seed), P, "property", seed)
    scaled = [sympy.simplify(sympy.expand(o * sympy.sqrt(sympy.Rational(eps))))
              for o in orders[1:]]
    assert got == residue(orders[0] + sum(scaled), P)


def test_a_batch_of_different_examples_is_refused_by_the_kernel():
    """The kernel's rule holds at identical examples only: a probe whose
    examples differ at order 0 is refused, not evaluated."""
    from exactcl.kernel import tokens
    lay = BlockLayout(NETWORKS["dense-bn-dense"])
    probe = random_probe(lay, "test", 0)
    consts = tokens.constants(lay, probe, P)
    toks = consts[0]
    toks[1] = {**toks[1], 0: toks[1][0] + toks[1][0]}  # example 1 is 2 x0
    words = Words(lay, [probe], {}, [1] * lay.D, P)
    with pytest.raises(ValueError, match="not identical"):
        tokens.gradient(words, (toks,) + consts[1:], words.point)


# -- eps = 0: the expansion at the batch v x0^T -------------------------------------------------

NETWORKS_ZERO = {
    "dense-bn-dense": [["linear", 2, 3, True], ["batch_norm", 3, "0/1", True, 4],
                       ["linear", 3, 2, True]],
    "bn-relu": [["linear", 2, 2, True], ["batch_norm", 2, "0/1", True, 4], ["relu"],
                ["linear", 2, 1, True]],
    "no-affine-odd": [["linear", 2, 2, False], ["batch_norm", 2, "0/1", False, 5],
                      ["linear", 2, 1, False]],
    "two-dense-before": [["linear", 2, 2, True], ["linear", 2, 2, True],
                         ["batch_norm", 2, "0/1", True, 6], ["linear", 2, 1, True]],
    "residual-after": [["linear", 2, 2, True], ["batch_norm", 2, "0/1", True, 4],
                       ["residual", [["linear", 2, 2, True], ["relu"], ["linear", 2, 2, True]]],
                       ["linear", 2, 1, True]],
}


@pytest.mark.parametrize("name", sorted(NETWORKS_ZERO))
def test_eps_zero_fields_are_gradients_of_the_real_models_taylor_coefficients(name):
    """With eps = 0 the kernel computes s0 = 1 / (k |a_j|) exactly (no root,
    no replaced constant): grad F . v equals d/ds of SymPy's real F with its
    square roots, every order rational, at the batch v x0^T + t X'."""
    layers = NETWORKS_ZERO[name]
    got, orders = kernel_and_real(layers, random.Random(7), P)
    assert all(o.is_rational for o in orders), orders
    assert any(o != 0 for o in orders[1:])  # the higher orders are seen
    assert got == residue(sum(orders), P)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from([4, 5, 6, 7]), st.booleans(),
       st.booleans(), st.integers(0, 2**16))
def test_property_eps_zero_fields_match_the_real_model(d, m, N, affine, relu, seed):
    layers = [["linear", d, m, True], ["batch_norm", m, "0/1", affine, N]]
    layers += [["relu"]] if relu else []
    layers.append(["linear", m, 1, True])
    try:
        got, orders = kernel_and_real(layers, random.Random(seed), P, "property", seed)
    except ValueError as err:  # a row of W at the drawn point is 0: a_j = 0, no expansion
        assert "vanishes" in str(err)
        return
    assert got == residue(sum(orders), P)


def test_eps_zero_law_check_probes_agree_with_rank_probes():
    """A law check's probe gives s0 as free lambdas: with lambda_j set to the
    rank probe's s0_j the two evaluations agree (the formal rule is the real
    one on the variety), and with other lambdas they differ."""
    from exactcl.kernel import tokens
    from exactcl.kernel.evaluator import PROBE_BITS, Probe
    from exactcl.kernel.layers.batchnorm import levels
    lay = BlockLayout(NETWORKS_ZERO["bn-relu"])
    rng = random.Random(3)
    point = [rng.randrange(-5, 6) for _ in range(lay.D)]
    probe = random_probe(lay, "test", 2)
    x0 = [x - (1 << PROBE_BITS - 1) for x in probe.x[:2]]
    s0 = levels(lay, point, x0, P)
    rank = Words(lay, [probe], {}, point, P).value(0)
    same = Probe(probe.x, (0, *s0), probe.sigma, probe.u)
    assert Words(lay, [same], {}, point, P).value(0) == rank
    other = Probe(probe.x, (0, s0[0] + 1, s0[1] + 1), probe.sigma, probe.u)
    assert Words(lay, [other], {}, point, P).value(0) != rank
    assert tokens.base(lay) == (1, -1, 1, -1)


def test_eps_zero_a_batch_not_of_the_stated_base_is_refused_by_the_kernel():
    from exactcl.kernel import tokens
    lay = BlockLayout(NETWORKS_ZERO["dense-bn-dense"])
    probe = random_probe(lay, "test", 0)
    point = [2] * lay.D
    consts = tokens.constants(lay, probe, P, point)
    toks = consts[0]
    toks[1] = {**toks[1], 0: toks[1][0] + toks[1][0]}  # example 1 is -2 x0, not -x0
    words = Words(lay, [probe], {}, point, P)
    with pytest.raises(ValueError, match="not v a"):
        tokens.gradient(words, (toks,) + consts[1:], words.point)


@pytest.mark.parametrize("spec, laws", [
    # two dense layers before it: their balancedness (10), the entries of b2 (4) and of b1
    # (4: W2 b1 is a constant per feature, removed too), with eps = 0 the row scales (4)
    ("Linear(3,4,bias),Linear(4,4,bias),BatchNorm1d(4,batch=8,eps=1/10,affine=False),"
     "Linear(4,2,bias)", 18),
    ("Linear(3,4,bias),Linear(4,4,bias),BatchNorm1d(4,batch=4,eps=0,affine=False),"
     "Linear(4,2,bias)", 22),
])
def test_every_bias_joined_to_it_by_dense_layers_is_a_law(spec, laws):
    r = exactcl.count(parse_spec("net:" + spec))
    assert (r.laws, r.proof) == (laws, "sandwich")
    labels = [str(x) for x in r.exhibited_labels]
    assert sum(x.startswith("b1_") and "removes it" in x for x in labels) == 4
    assert sum(x.startswith("b2_") and "removes it" in x for x in labels) == 4


def test_a_relu_between_dense_layers_stops_the_earlier_biases():
    """Linear, ReLU, Linear, BatchNorm1d: b1 passes a ReLU, it is not removed,
    and no candidate says it is."""
    from exactcl.kernel.rings import Ring
    from exactcl.models.blocks import block_candidates
    prog = parse_spec("net:Linear(2,2,bias),ReLU,Linear(2,2,bias),BatchNorm1d(2,batch=4),"
                      "Linear(2,1,bias)")
    lay = prog.program.layout
    labels = block_candidates(lay, Ring(lay.parameters))[2]
    assert not any(x.startswith("b1_") for x in labels)
    assert sum(x.startswith("b2_") for x in labels) == 2


@pytest.mark.parametrize("spec, laws, kinds", [
    # b1 (5), (gamma_j, beta_j) against W2's column j (5), and the scale law of each row of
    # W1 with b1_j (5): a law at eps = 0
    ("Linear(4,5,bias),BatchNorm1d(5,batch=4,eps=0),ReLU,Linear(5,3,bias)", 15,
     {"removes it": 5, "unit": 5, "scale of layer 1 (row": 5}),
    ("Linear(4,5,bias),BatchNorm1d(5,batch=5,eps=0,affine=False),ReLU,Linear(5,3,bias)", 10,
     {"removes it": 5, "scale of layer 1 (row": 5}),
    ("Linear(3,4),BatchNorm1d(4,batch=6,eps=0),Linear(4,2)", 8,
     {"unit": 4, "scale of layer 1 (row": 4}),
])
def test_eps_zero_counts_are_sandwiches_of_the_laws_derived_by_hand(spec, laws, kinds):
    r = exactcl.count(parse_spec("net:" + spec))
    assert (r.laws, r.proof) == (laws, "sandwich")
    labels = [str(x) for x in r.exhibited_labels]
    assert {key: sum(key in x for x in labels) for key in kinds} == kinds
    assert not any("broken at order eps" in x for x in labels)


def test_an_eps_zero_certificate_verifies_and_a_changed_one_is_refused(tmp_path):
    from exactcl.kernel.verifier import verify
    prog = net(Linear(3, 4, bias=True), BatchNorm1d(4, batch=4, eps=0), ReLU(),
               Linear(4, 2, bias=True))
    cert, result = exactcl.certify(prog, tmp_path / "c.json", reproducible=True)
    assert (result.laws, result.proof) == (12, "sandwich")
    assert "v x0^T" in cert["lie"]["generators"]["expansion"]
    assert verify(tmp_path / "c.json", rng=random.Random(1)).ok
    for change in ("rank", "eps", "expansion"):
        bad = json.loads(json.dumps(cert))
        if change == "expansion":  # the identical-tokens expansion is not this one's
            from exactcl.kernel.rankcheck import TOKEN_EXPANSION
            bad["lie"]["generators"]["expansion"] = TOKEN_EXPANSION
        elif change == "rank":
            bad["lie"]["rank"] += 1
            bad["claim"]["lie_dimension"] += 1
            bad["claim"]["laws"] -= 1
        else:
            text = json.dumps(bad).replace('"0/1"', '"1/1000"').replace("eps=0", "eps=1/1000")
            assert text != json.dumps(bad)
            bad = json.loads(text)
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        assert not verify(tmp_path / "bad.json", rng=random.Random(1)).ok, change


@pytest.mark.parametrize("layers, message", [
    ((Linear(2, 2), ReLU(), Linear(2, 2), BatchNorm1d(2, batch=4, eps=0), Linear(2, 1)),
     "only dense layers before it"),
])
def test_eps_zero_networks_it_cannot_expand_are_refused_in_one_line(layers, message):
    with pytest.raises(InputError, match=message) as err:
        net(*layers)
    assert "\n" not in str(err.value)


# -- counts against the laws derived by hand ---------------------------------------------------

@pytest.mark.parametrize("spec, laws, kinds", [
    # b1 (5 entries: the centring removes them) and (gamma_j, beta_j) against W2's column j
    ("Linear(4,5,bias),BatchNorm1d(5,batch=4),ReLU,Linear(5,3,bias)", 10,
     {"removes it": 5, "unit": 5}),
    ("Linear(4,5,bias),BatchNorm1d(5,batch=2),ReLU,Linear(5,3,bias)", 10,
     {"removes it": 5, "unit": 5}),
    # without affine parameters only the bias before it
    ("Linear(4,5,bias),BatchNorm1d(5,batch=4,affine=False),ReLU,Linear(5,3,bias)", 5,
     {"removes it": 5}),
    # no ReLU after it: gamma_j, beta_j against column j, no bias anywhere
    ("Linear(4,5),BatchNorm1d(5,batch=3,eps=1/10),Linear(5,3)", 5, {"unit": 5}),
])
def test_counts_are_sandwiches_of_the_laws_derived_by_hand(spec, laws, kinds):
    r = exactcl.count(parse_spec("net:" + spec))
    assert (r.laws, r.proof) == (laws, "sandwich")
    labels = list(r.exhibited_labels)
    assert {key: sum(key in x for x in labels) for key in kinds} == kinds
    # the scale laws of eps = 0 are candidates, each rejected by its check
    assert sum("broken at order eps" in str(x) for x in r.rejected) == 5


def test_a_relu_before_it_leaves_certified_bounds():
    """At identical examples every ReLU pattern is shared by the batch, so
    the bias before a ReLU before the normalisation is removed as a
    constant per feature: the rank the expansion sees is 2 short of the
    laws exhibited, and exactcl prints bounds, not a count."""
    r = exactcl.count(parse_spec("net:Linear(2,2,bias),ReLU,Linear(2,2,bias),"
                                 "BatchNorm1d(2,batch=2),ReLU,Linear(2,1,bias)"), max_depth=2)
    assert (r.laws, r.proof, r.lower, r.upper) == (None, "bounds only", 6, 8)


def test_the_spec_and_the_api_agree():
    a = exactcl.count(net(Linear(4, 5, bias=True), BatchNorm1d(5, batch=4), ReLU(),
                          Linear(5, 3, bias=True)))
    assert a.laws == 10
    prog = net(Linear(3, 4), BatchNorm1d(4, batch=5, eps="1/1000", affine=False), Linear(4, 2))
    assert prog.spec == ("net:Linear(3,4),BatchNorm1d(4,batch=5,eps=1/1000,affine=False),"
                         "Linear(4,2)")
    assert prog.layout.tokens == 5


def test_a_certificate_verifies_and_a_changed_one_is_refused(tmp_path):
    from exactcl.kernel.verifier import verify
    prog = net(Linear(3, 4, bias=True), BatchNorm1d(4, batch=3), ReLU(), Linear(4, 2, bias=True))
    cert, result = exactcl.certify(prog, tmp_path / "c.json", reproducible=True)
    assert result.laws == 8
    assert cert["lie"]["generators"]["family"].startswith("exactcl-tokens-")
    report = verify(tmp_path / "c.json", rng=random.Random(1))
    assert report.ok, str(report)
    for change in ("rank", "eps", "expansion"):
        bad = json.loads(json.dumps(cert))
        if change == "expansion":  # the argument the ranks rest on must be stated
            del bad["lie"]["generators"]["expansion"]
        elif change == "rank":
            bad["lie"]["rank"] += 1
            bad["claim"]["lie_dimension"] += 1
            bad["claim"]["laws"] -= 1
        else:  # another model: its laws may be the same, its fields are not
            text = json.dumps(bad).replace('"1/100000"', '"1/1000"')
            assert text != json.dumps(bad)
            bad = json.loads(text)
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        assert not verify(tmp_path / "bad.json", rng=random.Random(1)).ok, change


@pytest.mark.parametrize("layers, message", [
    ((Linear(2, 2), Residual(BatchNorm1d(2, batch=3), Linear(2, 2))), "top level"),
    ((Linear(2, 2), BatchNorm1d(2, batch=3), Linear(2, 2), BatchNorm1d(2, batch=3),
      Linear(2, 1)), "at most one layer that mixes tokens"),
    ((Linear(2, 3), BatchNorm1d(2, batch=3), Linear(2, 1)), "normalises 2 features, not 3"),
])
def test_bad_networks_are_refused_in_one_line(layers, message):
    with pytest.raises(InputError, match=message) as err:
        net(*layers)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(eps=0, batch=2), "with eps = 0 must be 4 or more examples, not 2"),
    (dict(eps=0, batch=3), "must be a batch size with a base vector"),
    (dict(eps=-1), "eps"),
    (dict(batch=1), "must be 2 to 64 examples, not 1"),
    (dict(eps=0.1), "exact rational"),
])
def test_bad_layers_are_refused_naming_the_argument(kwargs, message):
    args = dict(num_features=3, batch=4) | kwargs
    with pytest.raises(InputError, match=message):
        BatchNorm1d(**args)


def test_a_spec_without_a_batch_is_refused():
    with pytest.raises(InputError, match=r"BatchNorm1d\(m,batch=N\)"):
        parse_spec("net:Linear(4,5),BatchNorm1d(5),Linear(5,3)")


# -- from_torch: nn.BatchNorm1d in training mode, read with batch_size -------------------------

torch = pytest.importorskip("torch")
nn = torch.nn


def _mlp(eps=1e-5, affine=True):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5, eps=eps, affine=affine), nn.ReLU(),
                         nn.Linear(5, 3))


@pytest.mark.parametrize("eps, affine, laws", [(1e-5, True, 10), (0.1, True, 10),
                                                (1e-5, False, 5)])
def test_from_torch_reads_batchnorm_in_training_mode(eps, affine, laws):
    """The translation's output equals the module's forward on batches of
    4 (from_torch checks it against torch's training-mode forward), the
    module's running statistics are left as they were, and the count is a
    sandwich of the laws derived by hand."""
    module = _mlp(eps, affine)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    tm = exactcl.from_torch(module, (4,), batch_size=4)
    assert "output equals the module's forward" in tm.checked
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert "BatchNorm1d(5,batch=4" in tm.program.spec
    r = exactcl.count(tm)
    assert (r.laws, r.proof) == (laws, "sandwich")


def test_the_forward_check_catches_a_wrong_batch_statistic(monkeypatch):
    """The check compares with torch's own forward: a translation that
    normalised with the unbiased variance would be refused."""
    import math
    from fractions import Fraction

    from exactcl.layers import batchnorm

    def unbiased(layer, run, tokens):
        _, m, eps, affine, N = layer
        number = run.layer = run.layer + 1
        out = [[0.0] * m for _ in range(N)]
        for j in range(m):
            col = [Fraction(t[j]) for t in tokens]
            mean = sum(col) / N
            s = 1 / math.sqrt(sum((v - mean) ** 2 for v in col) / (N - 1) + Fraction(eps))
            for i in range(N):
                out[i][j] = (float(run.value(f"G{number}_{j}")) * float(col[i] - mean) * s
                             + float(run.value(f"b{number}_{j}")))
        return out
    monkeypatch.setattr(batchnorm.BatchNorm1d, "forward_tokens", staticmethod(unbiased))
    with pytest.raises(InputError, match="is not what exactcl read"):
        exactcl.from_torch(_mlp(), (4,), batch_size=4)


@pytest.mark.parametrize("make, kwargs, message", [
    (lambda: _mlp().eval(), dict(batch_size=4), "is in eval mode"),
    (_mlp, dict(), "batch_size=N"),
    (lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)), dict(batch_size=4),
     "Argument 'batch_size' is for a module with a BatchNorm1d"),
    (_mlp, dict(batch_size=1), "Argument 'batch_size' must be an int >= 2"),
    # torch's own training-mode forward raises for eps = 0: the API counts that model
    (lambda: _mlp(eps=0.0), dict(batch_size=4), r"eps > 0 \(torch's training-mode forward"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), dict(), "BatchNorm2d"),
])
def test_from_torch_refuses_what_it_cannot_read_in_one_line(make, kwargs, message):
    shape = (1, 5, 5) if "BatchNorm2d" in message else (4,)
    with pytest.raises(InputError, match=message) as err:
        exactcl.from_torch(make(), shape, **kwargs)
    assert "\n" not in str(err.value)


class _Net(nn.Module):
    """A user's module: its own forward, a BatchNorm1d between a stem and a head."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4, eps=1e-3)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


def test_from_torch_reads_a_users_module_and_maps_its_parameters():
    torch.manual_seed(2)
    module = _Net()
    tm = exactcl.from_torch(module, (3,), batch_size=6)
    assert tm.program.spec == "net:Linear(3,4,bias),BatchNorm1d(4,batch=6,eps=1/1000),ReLU," \
                              "Linear(4,2,bias)"
    names = {ex: (t, idx) for ex, t, idx in tm.parameter_map}
    assert names["G2_3"] == ("bn.weight", (3,)) and names["b2_0"] == ("bn.bias", (0,))
    assert names["W3_1_2"] == ("fc2.weight", (1, 2))
    assert (exactcl.count(tm).laws, len(tm.parameter_map)) == (8, 16 + 8 + 10)

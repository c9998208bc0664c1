"""LayerNorm (exactcl.layers.norm, exactcl.kernel.layers.norm): counts by
sandwich, checked against the dimension of the functional space computed
independently (torch's autograd in float64: the rank of the Jacobians of
the outputs at many inputs, a clear gap in the singular values); the
kernel's values and brackets against SymPy at a point whose level is a
rational square (so that the real values are rational); the certificate of
independence of the levels (docs/design.md, normalisation layers) and
what a wrong root would do; bad input; the torch translation against the
module's own forward."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
import sympy

import exactcl
from exactcl.certificates.build import certify
from exactcl.errors import InputError
from exactcl.kernel import blocks
from exactcl.kernel.evaluator import Probe
from exactcl.kernel.layers import norm as knorm
from exactcl.kernel.verifier import verify_text
from exactcl.layers.norm import GroupNorm, LayerNorm, RMSNorm
from exactcl.layers.program import parse_net

P = 2**61 - 1

#: spec -> (laws, labels of the laws when eps = 0 adds the scale law)
COUNTS = {
    "Linear(4,5,bias),LayerNorm(5,eps=0),ReLU,Linear(5,3,bias)": 11,
    "Linear(4,5,bias),LayerNorm(5),ReLU,Linear(5,3,bias)": 10,
    "Linear(4,5,bias),LayerNorm(5,eps=0,bias=False),Linear(5,3)": 11,
    "Linear(4,5),LayerNorm(5,affine=False),Linear(5,3,bias)": 7,
    "Linear(4,5),LayerNorm(5,eps=0,affine=False),Linear(5,3,bias)": 8,
    "Linear(3,4,bias),Linear(4,4,bias),LayerNorm(4,eps=1/10),ReLU,Linear(4,2,bias)": None,
    "LayerNorm(4,eps=0),Linear(4,2,bias)": 4,
    "Linear(4,5,bias),RMSNorm(5,eps=0),ReLU,Linear(5,3,bias)": 6,
    "Linear(4,5,bias),RMSNorm(5),ReLU,Linear(5,3,bias)": 5,
    "Linear(4,5,bias),RMSNorm(5,eps=0,affine=False),Linear(5,3,bias)": 1,
    "Linear(4,6,bias),GroupNorm(2,6,eps=0),ReLU,Linear(6,3,bias)": 18,
    "Linear(4,6,bias),GroupNorm(2,6),ReLU,Linear(6,3,bias)": 16,
    "Linear(3,6,bias),GroupNorm(2,6,affine=False),Linear(6,2,bias)": 12,
}


def _torch_jacobian(spec: str, seed: int = 0):
    """(J, theta): the Jacobians of the outputs in the parameters over 80
    random inputs, in float64 with torch's autograd, columns in exactcl's
    parameter order (its rows span the functional space W at theta)."""
    torch = pytest.importorskip("torch")
    prog = parse_net(spec, "net:" + spec)
    torch.manual_seed(seed)
    mods, owners = [], []
    for layer in prog.layers:
        kind = layer.canonical()[0]
        if kind == "linear":
            mods.append(torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias))
            owners.append(mods[-1])
        elif kind == "relu":
            mods.append(torch.nn.ReLU())
        elif kind == "group_norm":
            mods.append(torch.nn.GroupNorm(layer.num_groups, layer.num_channels,
                                           eps=float(layer.eps), affine=layer.affine))
            if layer.affine:
                owners.append(mods[-1])
        elif kind == "rms_norm":
            mods.append(torch.nn.RMSNorm(layer.normalized_shape, eps=float(layer.eps),
                                         elementwise_affine=layer.elementwise_affine))
            if layer.elementwise_affine:
                owners.append(mods[-1])
        else:
            mods.append(torch.nn.LayerNorm(layer.normalized_shape, eps=float(layer.eps),
                                           elementwise_affine=layer.elementwise_affine,
                                           bias=layer.bias))
            if layer.elementwise_affine:
                owners.append(mods[-1])
    module = torch.nn.Sequential(*mods).double()
    for prm in module.parameters():
        prm.data = torch.randn_like(prm)

    def entry(name):  # exactcl's name -> (tensor, index)
        head, *idx = name.split("_")
        owner = owners[int(head[1:]) - 1]
        return (owner.bias if head[0] == "b" else owner.weight), tuple(int(i) for i in idx)

    where = [entry(name) for name in prog.layout.parameters]
    theta = torch.tensor([float(t.detach()[i]) for t, i in where], dtype=torch.float64)
    n_in = prog.layout.input_shape[0]
    rows = []
    for _ in range(80):
        y = module(torch.randn(1, n_in, dtype=torch.float64))[0]
        for k in range(y.shape[0]):
            module.zero_grad()
            y[k].backward(retain_graph=True)
            rows.append(torch.tensor([float(t.grad[i]) for t, i in where], dtype=torch.float64))
    return torch.stack(rows), theta


@pytest.mark.parametrize("spec", sorted(COUNTS))
def test_counts_are_sandwiches_checked_against_torch(spec):
    """Each exhibited law is conserved by torch's own gradients (grad h . grad
    y_k = 0 at 80 inputs), and D - dim W, an upper bound on the laws
    (W is in Lie(W)), is not below the count; equal where marked."""
    import torch
    prog = parse_net(spec, "net:" + spec)
    result = exactcl.count(prog)
    assert result.status == "certified" and result.proof == "sandwich"
    J, theta = _torch_jacobian(spec)
    values = dict(zip(prog.layout.parameters, theta.tolist()))
    names = sympy.symbols(prog.layout.parameters)
    for h in result.exhibited:
        poly = sympy.sympify(h.str(), locals=dict(zip(prog.layout.parameters, names)))
        grad = torch.tensor([float(poly.diff(v).subs({n: values[str(n)] for n in names}))
                             for v in names], dtype=torch.float64)
        assert float((J @ grad).abs().max()) < 1e-9 * max(1.0, float(grad.abs().max()))
    s = torch.linalg.svdvals(J)
    rank = int((s > s[0] * 1e-9).sum())
    assert result.laws <= J.shape[1] - rank
    if COUNTS[spec] is not None:
        assert result.laws == COUNTS[spec]


def test_the_laws_are_named_and_eps_breaks_the_scale_law():
    zero = exactcl.count(parse_net("Linear(4,5,bias),LayerNorm(5,eps=0),ReLU,Linear(5,3,bias)",
                                   "net:..."))
    assert set(zero.exhibited_labels) == {f"unit {j} of layer 2" for j in range(5)} | {
        f"sum of column {j} of W1" for j in range(4)} | {"sum of b1", "scale of layer 1"}
    eps = exactcl.count(parse_net("Linear(4,5,bias),LayerNorm(5),ReLU,Linear(5,3,bias)",
                                  "net:..."))
    assert "scale of layer 1" not in eps.exhibited_labels
    assert len(eps.rejected) == 1 and "broken at order eps" in eps.rejected[0]


def test_the_search_by_evaluation_finds_the_laws_too():
    spec = "Linear(3,4,bias),LayerNorm(4,eps=0),ReLU,Linear(4,2,bias)"
    found = exactcl.laws(parse_net(spec, "net:" + spec), 2)
    assert found.independent == exactcl.count(parse_net(spec, "net:" + spec)).laws == 9


def test_a_certificate_verifies_and_names_the_layer(tmp_path):
    spec = "Linear(4,5,bias),LayerNorm(5,eps=1/100000),ReLU,Linear(5,3,bias)"
    path = tmp_path / "c.json"
    certify(parse_net(spec, "net:" + spec), path)
    text = path.read_text()
    assert '"layer_norm"' in text
    report = verify_text(text)
    assert report.status == "verified" and "exactly 10 independent" in str(report)


# -- the kernel against SymPy, at a level that is a rational square ----------------------

def _square_level_point(rng):
    """theta0 (ints) of Linear(2,3,bias), LayerNorm(3,eps,affine), an input x
    and eps making the level var(h) + eps = s^2 a rational square."""
    point = [rng.randrange(-9, 10) or 1 for _ in range(15)]
    x = [rng.randrange(1, 9), rng.randrange(1, 9)]
    W, b = point[:6], point[9:12]
    h = [W[2 * i] * x[0] + W[2 * i + 1] * x[1] + b[i] for i in range(3)]
    mean = Fraction(sum(h), 3)
    var = sum((v - mean) ** 2 for v in h) / 3
    s = int(var ** 0.5) + 2  # s^2 > var: eps > 0
    return point, x, s * s - var, s


def test_values_and_brackets_agree_with_sympy_at_a_square_level(monkeypatch):
    rng = random.Random(3)
    point, x, eps, s = _square_level_point(rng)
    layers = [["linear", 2, 3, True], ["layer_norm", 3, f"{eps.numerator}/{eps.denominator}",
                                         True, True]]
    lay = blocks.BlockLayout(layers)
    # the level is a square: its positive root, the one the real model uses
    monkeypatch.setattr(blocks, "probe_level", lambda words, pr: (pr.x, ("root", [s])))
    us = [(1, 2, 3), (2, -1, 5)]
    probes = [Probe(x, (0, 0), (), u) for u in us]
    words = blocks.Words(lay, probes, {2: (0, 1)}, point, P)
    got = [words.value(k) for k in range(3)]

    theta = sympy.symbols(lay.parameters)
    W = sympy.Matrix(3, 2, theta[:6])
    G, beta = sympy.Matrix(theta[6:9]), sympy.Matrix(theta[12:15])
    b1 = sympy.Matrix(theta[9:12])
    h = W * sympy.Matrix(x) + b1
    z = h - sympy.ones(3, 1) * (sum(h) / 3)
    q = (z.T * z)[0] / 3 + sympy.Rational(eps.numerator, eps.denominator)
    y = z / sympy.sqrt(q)
    out = sympy.Matrix([G[i] * y[i] + beta[i] for i in range(3)])
    fields = [sympy.Matrix([(sympy.Matrix(u).T * out)[0].diff(t) for t in theta]) for u in us]
    jac = [f.jacobian(theta) for f in fields]
    at = dict(zip(theta, point))
    fields = [f.subs(at) for f in fields]
    jac = [j.subs(at) for j in jac]
    br = jac[1] * fields[0] - jac[0] * fields[1]
    for vec, value in zip(fields + [br], got):
        exact = [sympy.Rational(v) for v in vec]
        want = {i: int(e.p) * pow(int(e.q), -1, P) % P for i, e in enumerate(exact)
                if e % 1 != 0 or int(e) % P}
        assert value == want


# -- the levels: certified independent modulo squares ----------------------------------

def _point(D: int, seed: int, top: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(1, top) for _ in range(D)]


LN = [["linear", 4, 5, True], ["layer_norm", 5, "1/100000", True, True], ["relu"],
      ["linear", 5, 3, True]]


def test_two_probes_with_one_level_are_refused():
    lay = blocks.BlockLayout(LN)
    pr = blocks.random_probe(lay, "exactcl-probes-0", 0)
    point = _point(lay.D, 0, 100)
    words = blocks.Words(lay, [pr, pr], {}, point, P)
    words.value(0)
    with pytest.raises(ValueError, match="not independent modulo rational squares"):
        words.value(1)


def test_a_square_level_is_refused():
    levels = knorm.Levels(blocks.BlockLayout(LN), 2)
    with pytest.raises(ValueError, match="not independent"):
        levels.add(49 * 10**5 * 0 + 7 ** 2 * 100000)  # N b = 49 * 10^10: a square


def test_independent_levels_are_certified():
    levels = knorm.Levels(blocks.BlockLayout(LN), 3)
    for n in (2, 3, 5):  # classes of 2, 3, 5 times 10^5: independent
        levels.add(n)
    assert len(levels.numerators) == 3


def test_a_root_of_the_wrong_sign_on_one_of_two_equal_levels_exceeds_the_true_rank(
        monkeypatch):
    """Why dependent levels are refused: with two equal probes (one real
    field) the real rank is 1; their roots chosen independently, one of
    each sign, give two different fields mod p: rank 2."""
    lay = blocks.BlockLayout(LN)
    pr = blocks.random_probe(lay, "exactcl-probes-0", 0)
    point = _point(lay.D, 0, 100)
    q = knorm.level_numerator(lay, point, list(pr.x)) * pow(25 * 100000, -1, P) % P
    from flint import nmod, nmod_mat
    try:
        r = int(nmod(q, P).sqrt())
    except Exception:
        pytest.skip("the level has no root mod this prime")
    roots = iter([r, P - r])
    monkeypatch.setattr(blocks, "probe_level", lambda words, p_: (p_.x, ("root", [next(roots)])))
    words = blocks.Words(lay, [pr, pr], {}, point, P)
    values = [words.value(k) for k in range(2)]
    rank = nmod_mat(2, lay.D, [v.get(i, 0) for v in values for i in range(lay.D)], P).rank()
    assert values[0] != values[1] and rank == 2  # above the real rank, 1


def test_law_check_probes_use_the_root_as_a_free_variable():
    lay = blocks.BlockLayout(LN)
    probe = blocks.random_probe_mod(lay, P, random.Random(0))
    assert len(probe.s) == 2 and probe.s[0] == 0  # a mark, then lambda
    assert knorm.probe_level(None, probe) == (probe.x, ("formal", [probe.s[1]]))
    # one more degree for lambda and 2 (L + 1) = 4 for the level
    assert lay.probe_degree() == len(lay.relus) + 2 + 1 + 4


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("build, message", [
    (lambda: LayerNorm(5, eps=0.1), "not the float 0.1: write '0.1'"),
    (lambda: LayerNorm(5, eps=-1), "Argument 'eps' of LayerNorm must be >= 0, not -1."),
    (lambda: LayerNorm(2, eps=0), "must be at least 3, or 2 with eps > 0"),
    (lambda: LayerNorm(0), "Argument 'normalized_shape' of LayerNorm must be a positive int"),
    (lambda: LayerNorm(5, bias=1), "Argument 'bias' of LayerNorm must be a bool"),
    (lambda: RMSNorm(1, eps=0), "RMSNorm must be at least 2, or 1 with eps > 0"),
    (lambda: RMSNorm(4, bias=True), "Argument 'bias' of RMSNorm must be False"),
    (lambda: RMSNorm(4, eps=1e-6), "Argument 'eps' of RMSNorm must be an exact rational"),
    (lambda: GroupNorm(4, 6), "'num_groups' of GroupNorm must divide num_channels = 6"),
    (lambda: GroupNorm(5, 15), "and be at most 4"),
    (lambda: GroupNorm(3, 6, eps=0), "groups of at least 3 channels, or 2 with eps > 0"),
])
def test_bad_arguments_are_refused_in_one_line(build, message):
    with pytest.raises(InputError) as err:
        build()
    assert message in str(err.value) and len(str(err.value).splitlines()) == 1


@pytest.mark.parametrize("spec, message", [
    ("Linear(4,5),ReLU,LayerNorm(5),Linear(5,1)", "only dense layers before it, not after relu"),
    ("Linear(4,5),Residual(LayerNorm(5),Linear(5,5)),Linear(5,1)", "a layer of the top level"),
    ("Linear(4,5),LayerNorm(4)", "normalises a vector of 4 features, not 5 x 1"),
    ("Linear(4,5),LayerNorm(5,eps=0.1x)", "LayerNorm"),
    ("Linear(4,5),LayerNorm(5,affine=maybe)", "affine=True or affine=False"),
])
def test_bad_programs_are_refused(spec, message):
    with pytest.raises(InputError) as err:
        parse_net(spec, "net:" + spec)
    assert message in str(err.value) and len(str(err.value).splitlines()) == 1


def test_the_kernel_refuses_a_prime_dividing_eps_denominator():
    lay = blocks.BlockLayout([["linear", 2, 3, True], ["layer_norm", 3, "1/7", False, False]])
    probe = Probe((1, 2), (0, 5), (), (1, 1, 1))
    with pytest.raises(ValueError, match="the prime 7 divides"):
        blocks.Words(lay, [probe], {}, [1] * lay.D, 7).value(0)


def test_the_spec_round_trips():
    for layer in (LayerNorm(5), LayerNorm(5, eps=0), LayerNorm(5, eps="1/10", bias=False),
                  LayerNorm(4, elementwise_affine=False), RMSNorm(5), RMSNorm(3, eps=0),
                  RMSNorm(4, eps="1/8", elementwise_affine=False), GroupNorm(2, 6),
                  GroupNorm(3, 9, eps=0, affine=False)):
        width = getattr(layer, "normalized_shape", None) or layer.num_channels
        (parsed,) = parse_net(f"Linear(4,{width}),{layer.spec()}",
                              "net:...").layers[1:]
        assert parsed == layer and parsed.spec() == layer.spec()


# -- torch --------------------------------------------------------------------------------

def test_torch_layer_norm_is_read_and_checked_against_the_module():
    torch = pytest.importorskip("torch")
    from exactcl.torch.bridge import from_torch
    torch.manual_seed(0)
    for eps, want in ((0.0, 11), (1e-5, 10)):
        module = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.LayerNorm(5, eps=eps),
                                     torch.nn.ReLU(), torch.nn.Linear(5, 3))
        tm = from_torch(module, (4,))
        assert tm.checked.startswith("output equals the module's forward")
        assert tm.program.layers[1] == LayerNorm(5, eps=Fraction(repr(eps)))
        assert exactcl.count(tm.program).laws == want
    plain = from_torch(torch.nn.Sequential(torch.nn.Linear(4, 5),
                                           torch.nn.LayerNorm(5, elementwise_affine=False),
                                           torch.nn.Linear(5, 2)), (4,))
    assert plain.program.layers[1] == LayerNorm(5, elementwise_affine=False)


def test_torch_functional_layer_norm_and_refusals():
    torch = pytest.importorskip("torch")
    from exactcl.torch.bridge import from_torch

    class Functional(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 4)
            self.g = torch.nn.Parameter(torch.randn(4))

        def forward(self, x):
            return torch.nn.functional.layer_norm(self.lin(x), (4,), self.g, None, 1e-3)

    tm = from_torch(Functional(), (3,))
    assert tm.program.layers[1] == LayerNorm(4, eps=Fraction(1, 1000), bias=False)
    assert tm.checked.startswith("output equals")
    wide = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Unflatten(0, (2, 3)),
                               torch.nn.LayerNorm(3))
    with pytest.raises(InputError):
        from_torch(wide, (4,))
    after_relu = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(),
                                     torch.nn.LayerNorm(5), torch.nn.Linear(5, 1))
    with pytest.raises(InputError, match="only dense layers before it"):
        from_torch(after_relu, (4,))


def test_torch_rms_norm_and_its_default_eps():
    """eps=None is the machine epsilon of the parameters' dtype: 2^-23
    exactly for float32 (the float64 check runs it with that eps, not
    float64's 2^-52, and gives eps=None back), 2^-52 for float64."""
    torch = pytest.importorskip("torch")
    from exactcl.torch.bridge import from_torch
    torch.manual_seed(0)

    def mlp(eps):
        return torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.RMSNorm(5, eps=eps),
                                   torch.nn.ReLU(), torch.nn.Linear(5, 3))
    for eps, want in ((0.0, 6), (1e-6, 5)):
        tm = from_torch(mlp(eps), (4,))
        assert tm.checked.startswith("output equals the module's forward")
        assert tm.program.layers[1] == RMSNorm(5, eps=Fraction(repr(eps)))
        assert exactcl.count(tm.program).laws == want
    module = mlp(None)
    tm = from_torch(module, (4,))
    assert tm.checked.startswith("output equals the module's forward"), tm.checked
    assert module[1].eps is None
    assert tm.program.layers[1] == RMSNorm(5, eps=Fraction(1, 2**23))
    assert any("read as 1/8388608" in what for *_, what in tm.nodes)
    wide = from_torch(mlp(None).double(), (4,))
    assert wide.program.layers[1] == RMSNorm(5, eps=Fraction(1, 2**52))
    assert wide.checked.startswith("output equals")


def test_a_group_norm_of_one_group_is_the_layer_norm():
    """The two rules agree on values and brackets (the layer norm's was
    checked against SymPy above)."""
    one = blocks.BlockLayout([["linear", 4, 5, True], ["group_norm", 1, 5, "1/10", True],
                              ["relu"], ["linear", 5, 3, True]])
    ln = blocks.BlockLayout([["linear", 4, 5, True], ["layer_norm", 5, "1/10", True, True],
                             ["relu"], ["linear", 5, 3, True]])
    point = _point(one.D, 2, 1000)
    probes = [blocks.random_probe(one, "exactcl-probes-0", k) for k in range(5)]
    words = {5: (0, 1), 6: (2, 5)}
    a, b = blocks.Words(one, probes, words, point, P), blocks.Words(ln, probes, words, point, P)
    assert all(a.value(k) == b.value(k) for k in range(7))


def test_torch_group_norm_is_read_and_checked_against_the_module():
    torch = pytest.importorskip("torch")
    from exactcl.torch.bridge import from_torch
    torch.manual_seed(0)
    for eps, want in ((0.0, 18), (1e-5, 16)):
        module = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.GroupNorm(2, 6, eps=eps),
                                     torch.nn.ReLU(), torch.nn.Linear(6, 3))
        tm = from_torch(module, (4,))
        assert tm.checked.startswith("output equals the module's forward")
        assert tm.program.layers[1] == GroupNorm(2, 6, eps=Fraction(repr(eps)))
        assert exactcl.count(tm.program).laws == want


def test_a_softmax_head_after_a_normalised_network_adds_its_translation_laws():
    """The head finds the last dense layer's number among every weight
    tensor, the normalisation's gamma included."""
    base = "Linear(4,5,bias),LayerNorm(5),ReLU,Linear(5,3,bias)"
    with_head = exactcl.count(parse_net(base + ",LogSoftmax", "net:..."))
    assert with_head.laws == exactcl.count(parse_net(base, "net:...")).laws + 6
    assert with_head.exhibited_labels[-1] == "sum of b3"


def test_the_explanation_says_the_scale_law_is_broken_at_order_eps():
    r = exactcl.count(parse_net("Linear(4,5,bias),LayerNorm(5),ReLU,Linear(5,3,bias)", "net:..."))
    assert "scale of layer 1 (a law at eps = 0, broken at order eps): not conserved" in (
        r.explanation)


@pytest.mark.parametrize("spec", [
    "Linear(4,5,bias),RMSNorm(5),ReLU,Linear(5,3,bias)",
    "Linear(4,5,bias),RMSNorm(5,eps=0,affine=False),Linear(5,3,bias)",
    "Linear(4,5,bias),LayerNorm(5,bias=False),Linear(5,3,bias)",
    "Linear(4,5,bias),LayerNorm(5,eps=0,affine=False),Linear(5,3,bias)",
    "Linear(4,6,bias),GroupNorm(2,6,eps=1/7),Linear(6,3,bias)",
    "Linear(4,6,bias),GroupNorm(2,6,affine=False),Linear(6,3,bias)",
])
def test_the_kernel_reads_every_normalisation_name_back(spec):
    """The name check parses names independently of the spec parser: each
    default (eps 1/100000, RMSNorm's 2^-23) is read as the spec writes it."""
    from exactcl.kernel.namecheck import check_net_name
    prog = parse_net(spec, "net:" + spec)
    assert check_net_name(prog.spec, {"program": prog.canonical()})[0]


def test_torch_batch_norm_is_refused_in_one_line_naming_what_is_read_instead():
    """BatchNorm1d and BatchNorm2d are read in training mode with a batch
    size (tests/test_batchnorm.py, tests/test_batchnorm2d.py); in eval mode
    or without a batch size they are refused naming what is read instead."""
    torch = pytest.importorskip("torch")
    from exactcl.torch.bridge import from_torch
    nn = torch.nn
    cases = [
        (nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2)), (4,),
         "expected from_torch(..., batch_size=N)"),
        (nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Linear(5, 2)).eval(), (4,),
         "is in eval mode"),
    ]
    for train, message in ((True, "expected from_torch(..., batch_size=N)"),
                           (False, "is a BatchNorm2d in eval mode")):
        conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(),
                             nn.Linear(18, 2))
        cases.append((conv.train(train), (1, 5, 5), message))
    for module, shape, message in cases:
        with pytest.raises(InputError) as info:
            from_torch(module, shape)
        text = str(info.value)
        assert "\n" not in text
        assert message in text, text

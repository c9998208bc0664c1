"""PyTorch modules in (exactcl.torch.bridge): the translated program computes
what the module computes (checked against the module's own forward, entry
by entry of the parameter map) and is the architecture written by hand, the
parameter map covers every entry once, and the laws as torch functions are
the exact laws, differentiable."""

from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import exactcl  # noqa: E402
from exactcl import Attention, Conv1d, Linear, ReLU, Residual, net  # noqa: E402
from exactcl.errors import InputError  # noqa: E402
from exactcl.kernel.certformat import dumps  # noqa: E402
from exactcl.torch.bridge import from_torch  # noqa: E402

from .helpers import translated  # noqa: E402


class Skip(nn.Module):
    """A residual block written by hand: forward is x + f(x)."""

    def __init__(self, n, h):
        super().__init__()
        self.inner, self.act, self.outer = nn.Linear(n, h), nn.ReLU(), nn.Linear(h, n)

    def forward(self, x):
        return x + self.outer(self.act(self.inner(x)))


def _cases():
    from exactcl.torch.bridge import Residual as TorchResidual
    return {
        "mlp": (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2, bias=False)),
                (3,), net(Linear(3, 4, bias=True), ReLU(), Linear(4, 2))),
        "nested": (lambda: nn.Sequential(nn.Sequential(nn.Linear(2, 3, bias=False), nn.ReLU()),
                                         nn.Linear(3, 2, bias=False)),
                   (2,), net(Linear(2, 3), ReLU(), Linear(3, 2))),
        "residual": (lambda: nn.Sequential(nn.Linear(2, 2), TorchResidual(
            nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))), (2,),
            net(Linear(2, 2, bias=True), Residual(Linear(2, 3, bias=True), ReLU(),
                                                  Linear(3, 2, bias=True)))),
        "traced-skip": (lambda: nn.Sequential(Skip(2, 3)), (2,),
                        net(Residual(Linear(2, 3, bias=True), ReLU(), Linear(3, 2, bias=True)))),
        "conv": (lambda: nn.Sequential(nn.Conv1d(1, 2, 2), nn.ReLU(), nn.Flatten(),
                                       nn.Linear(6, 1, bias=False)), (1, 4),
                 net(Conv1d(1, 2, 2, bias=True, length=4), ReLU(), Linear(6, 1))),
        "attention": (lambda: nn.MultiheadAttention(2, 2, bias=False), (3, 2),
                      net(Attention(2, 2, 1, tokens=3))),
    }


@pytest.mark.parametrize("name", sorted(_cases()))
def test_the_translation_is_the_architecture_written_by_hand(name):
    build, shape, by_hand = _cases()[name]
    torch.manual_seed(0)
    tm = translated(build(), shape)
    assert tm.program == by_hand
    a, ra = exactcl.certify(tm.program, reproducible=True)
    b, rb = exactcl.certify(by_hand, reproducible=True)
    assert dumps(a) == dumps(b) and ra.laws == rb.laws and ra.laws_strings() == rb.laws_strings()


@pytest.mark.parametrize("name", sorted(_cases()))
def test_the_parameter_map_covers_every_entry_once(name):
    build, shape, _ = _cases()[name]
    module = build()
    tm = from_torch(module, shape)
    seen = {(t, idx) for _, t, idx in tm.parameter_map}
    assert len(seen) == len(tm.parameter_map) == tm.program.D
    total = sum(p.numel() for p in module.parameters())
    assert total == tm.program.D


@pytest.mark.parametrize("name", ["mlp", "residual", "conv", "attention"])
def test_laws_as_torch_functions_are_the_exact_laws(name):
    build, shape, _ = _cases()[name]
    torch.manual_seed(1)
    module = build().double()
    tm = from_torch(module, shape)
    result = tm.count()
    laws = tm.laws(result)
    assert len(laws) == result.laws > 0
    params = dict(module.named_parameters())
    point = [Fraction(float(params[t][idx].item())) for _, t, idx in tm.parameter_map]
    from exactcl.kernel.rings import poly_terms
    for law, h in zip(laws, result.exhibited):
        exact = sum(c * _power(point, mono) for mono, c in poly_terms(h))
        assert abs(law(module).detach().item() - float(exact)) <= 1e-9 * (1 + abs(float(exact)))
    # differentiable: the gradient of a law is the gradient of its polynomial
    value = laws[0](module)
    value.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def _power(point, mono):
    out = Fraction(1)
    for v, e in mono:
        out *= point[v] ** e
    return out


def test_a_law_is_conserved_along_small_gradient_steps():
    """Under SGD a law drifts like the square of the step (gradient flow: not at all)."""
    torch.manual_seed(2)
    module = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    law = from_torch(module, (3,)).laws()[0]
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    drifts = []
    for lr in (1e-3, 2e-3):
        m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
        m.load_state_dict(module.state_dict())
        start = law(m).detach().item()
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        for _ in range(20):
            opt.zero_grad()
            ((m(x) - y) ** 2).mean().backward()
            opt.step()
        drifts.append(abs(law(m).detach().item() - start))
    ratio = drifts[1] / drifts[0]
    assert 3.0 < ratio < 5.0, ratio  # twice the step: four times the drift


@pytest.mark.parametrize("build, shape, message", [
    (lambda: nn.Sequential(nn.Linear(3, 3), nn.Mish()), (3,), "_1 (in 1) is a Mish"),
    (lambda: nn.Sequential(nn.Conv1d(1, 2, 3, padding=1, padding_mode="reflect")), (1, 5),
     "pads with padding_mode='reflect'; exactcl expected zero padding (padding_mode='zeros')"),
    (lambda: nn.MultiheadAttention(4, 2, add_zero_attn=True), (3, 4), "add_zero_attn=False"),
    (lambda: nn.Sequential(nn.Conv1d(2, 2, 3)), (1, 5),
     "'example_input_shape' must be (2, length) for the Conv1d at 0"),
    (lambda: nn.Sequential(nn.Linear(3, 3)), (0,), "'example_input_shape'"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2)), (3,),
     "_1 (in 1) gets its input of shape (4,)"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU()), (3,), "cannot express"),
])
def test_a_module_exactcl_cannot_express_is_refused_in_one_line(build, shape, message):
    with pytest.raises(InputError) as err:
        from_torch(build(), shape)
    text = str(err.value)
    assert message in text and "\n" not in text, text


def test_not_a_module_is_refused():
    with pytest.raises(InputError, match="torch.nn.Module"):
        from_torch("mlp", (3,))


def test_the_core_package_imports_without_torch():
    import subprocess
    import sys
    code = ("import sys; sys.modules['torch'] = None\n"
            "import exactcl, exactcl.torch.bridge\n"
            "print(exactcl.count(exactcl.linear([2, 2, 2])).laws)\n"
            "try:\n    exactcl.from_torch(None, (2,))\n"
            "except exactcl.InputError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.splitlines()[0] == "3" and "pip install 'exactcl[torch]'" in out


def test_the_readme_torch_example_runs_and_says_what_it_gives():
    import pathlib
    import re
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## PyTorch modules", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert (scope["result"].laws, scope["result"].proof) == (16, "sandwich")
    assert scope["laws"][0](scope["net"]).dim() == 0
    assert len(scope["monitor"].drift) == 16


@pytest.mark.parametrize("dense", [True, False])
def test_laws_of_any_degree_are_evaluated_exactly_dense_or_by_index(dense, monkeypatch):
    """Terms with powers, constants and rational coefficients, summed by the
    matrix of coefficients or by index (large law sets): the same values and
    gradients as the polynomials."""
    from flint import fmpq

    from exactcl.kernel.rings import Ring
    from exactcl.torch import laws as torchlaws
    if not dense:  # neither the matrix of coefficients nor the padded table
        monkeypatch.setattr(torchlaws, "DENSE_ENTRIES", 0)
        monkeypatch.setattr(torchlaws, "PADDED_FACTOR", 0)
    torch.manual_seed(3)
    module = nn.Sequential(nn.Linear(2, 1)).double()
    tm = from_torch(module, (2,))
    ring = Ring(tuple(ex for ex, _, _ in tm.parameter_map))
    a, b, c = ring.gens
    laws = [a ** 3 * b - fmpq(2, 3) * c ** 2 + 5, a * b * c, a * 0 + 7]
    shared = torchlaws._LawSet(tm.parameter_map, laws, ring, None)
    values = shared.values(module)
    params = dict(module.named_parameters())
    x = [params[t][idx].item() for _, t, idx in tm.parameter_map]
    assert values.tolist() == pytest.approx([x[0] ** 3 * x[1] - 2 / 3 * x[2] ** 2 + 5,
                                             x[0] * x[1] * x[2], 7.0], rel=1e-12)
    values[0].backward()
    weight, bias = module[0].weight.grad[0].tolist(), module[0].bias.grad.item()
    assert [weight[0], weight[1], bias] == pytest.approx(
        [3 * x[0] ** 2 * x[1], x[0] ** 3, -4 / 3 * x[2]], rel=1e-12)


def _linear_pair():
    return nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 2, bias=False)).double()


def test_momentum_laws_read_time_and_velocity_from_the_optimizer():
    """After k steps of SGD(lr, momentum=1 - tau sqrt(lr)) the law is its
    polynomial at s = exp(tau k sqrt(lr)), theta, theta' = -sqrt(lr) b."""
    import math
    torch.manual_seed(4)
    module = _linear_pair()
    tm = from_torch(module, (3,))
    result = tm.count(flow="momentum:1")
    h = 0.05
    opt = torch.optim.SGD(module.parameters(), lr=h * h, momentum=1 - h)
    laws = tm.laws(result, optimizer=opt)
    assert len(laws) == result.laws == 3 and laws[0].group.clock.steps == 0
    x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
    for _ in range(5):
        opt.zero_grad()
        ((module(x) - y) ** 2).mean().backward()
        opt.step()
    params = dict(module.named_parameters())
    theta = [params[t].detach()[idx].item() for _, t, idx in tm.parameter_map]
    speed = [-h * opt.state[params[t]]["momentum_buffer"][idx].item()
             for _, t, idx in tm.parameter_map]
    point = [Fraction(v) for v in [math.exp(5 * h)] + theta + speed]
    from exactcl.kernel.rings import poly_terms
    for law, poly in zip(laws, result.exhibited):
        exact = float(sum(c * _power(point, mono) for mono, c in poly_terms(poly)))
        assert abs(law(module).item() - exact) <= 1e-12 * (1 + abs(exact))


def _heavy_ball(tm, result, h, steps):
    """Heavy ball at damping 1 from a fixed start and initial velocity."""
    torch.manual_seed(5)
    module = _linear_pair()
    opt = torch.optim.SGD(module.parameters(), lr=h * h, momentum=1 - h)
    torch.manual_seed(6)
    for p in module.parameters():  # theta'(0) = -h b: a start that moves
        opt.state[p]["momentum_buffer"] = -torch.randn_like(p) / h
    momentum, gradient = tm.laws(result[0], optimizer=opt), tm.laws(result[1])
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    start = [momentum[0].all(module), gradient[0].all(module)]
    for _ in range(steps):
        opt.zero_grad()
        ((module(x) - y) ** 2).mean().backward()
        opt.step()
    return [(law[0].all(module) - s).abs().max().item() for law, s in
            zip((momentum, gradient), start)]


def test_under_heavy_ball_the_momentum_laws_hold_and_balancedness_does_not():
    """At a fixed time T = 1: the antisymmetric momentum laws drift like the
    step h (torch's heavy ball is first order in its damping), balancedness
    moves O(1) whatever h (the momentum flow does not conserve it)."""
    torch.manual_seed(5)
    tm = from_torch(_linear_pair(), (3,))
    result = (tm.count(flow="momentum:1"), tm.count())
    coarse, fine = _heavy_ball(tm, result, 0.04, 25), _heavy_ball(tm, result, 0.02, 50)
    assert 1.6 < coarse[0] / fine[0] < 2.5, (coarse, fine)  # halving h halves the drift
    assert fine[1] > 50 * fine[0] and 0.8 < coarse[1] / fine[1] < 1.25


@pytest.mark.parametrize("make, flow, message", [
    (lambda ps: torch.optim.Adam(ps, lr=1e-3), "momentum:1",
     "must be the torch.optim.SGD with momentum .* not a torch.optim.adam.Adam"),
    (lambda ps: torch.optim.SGD(ps, lr=0.01), "momentum:1", r"not momentum=0 \(plain"),
    (lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True), "momentum:1",
     "not nesterov=True"),
    (lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=1e-4), "momentum:1",
     "not weight_decay=0.0001"),
    (lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.8), "momentum:1",
     r"damping \(1 - momentum\) / sqrt\(lr\) = 2 .* tau=1: choose momentum = "
     r"1 - tau\*sqrt\(lr\) = 0.9"),
    (lambda ps: None, "momentum:1", "not None"),
    (lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9), "nesterov",
     "no torch optimizer runs that flow"),
    (lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9), "gradient",
     "'optimizer' is for a count under momentum"),
])
def test_the_optimizer_of_momentum_laws_is_checked(make, flow, message):
    module = _linear_pair()
    tm = from_torch(module, (3,))
    with pytest.raises(InputError, match=message):
        tm.laws(tm.count(flow=flow), optimizer=make(module.parameters()))


def test_laws_under_a_metric_are_functions_of_the_parameters():
    module = _linear_pair()
    tm = from_torch(module, (3,))
    result = tm.count(flow="metric:diag")
    laws = tm.laws(result)
    assert len(laws) == result.laws > 0 and laws[0](module).dim() == 0


def test_momentum_laws_refuse_a_changed_learning_rate_or_another_module():
    module = _linear_pair()
    tm = from_torch(module, (3,))
    opt = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
    law = tm.laws(tm.count(flow="momentum:1"), optimizer=opt)[0]
    with pytest.raises(InputError, match="does not train every parameter"):
        law(_linear_pair())
    law(module)
    opt.param_groups[0]["lr"] = 0.02
    with pytest.raises(InputError, match="changed its learning rate or momentum"):
        law(module)


def test_laws_read_each_module_they_are_given_even_one_made_after_another_died():
    """Laws made once are evaluated on many modules (a new net per run): each
    is read as it is, never through what was kept of an earlier one."""
    law = from_torch(_linear_pair(), (3,)).laws()[0]
    for seed in range(5):
        torch.manual_seed(seed)
        module = _linear_pair()
        w1, w2 = module[0].weight.detach(), module[1].weight.detach()
        exact = (w1[0] @ w1[0] - w2[:, 0] @ w2[:, 0]).item()
        assert law(module).item() == pytest.approx(exact, rel=1e-12)
        del module


def test_a_parameter_replaced_after_the_first_call_is_read_as_it_is_now():
    module = _linear_pair()
    law = from_torch(module, (3,)).laws()[0]
    law(module)
    module[0].weight = nn.Parameter(torch.ones(3, 3, dtype=torch.float64))
    w2 = module[1].weight.detach()
    assert law(module).item() == pytest.approx(3.0 - (w2[:, 0] @ w2[:, 0]).item(), rel=1e-12)

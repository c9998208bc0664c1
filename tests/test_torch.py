"""PyTorch modules in (exactcl.torchbridge): the translated program is the
architecture written by hand, the parameter map covers every entry once,
and the laws as torch functions are the exact laws, differentiable."""

from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import exactcl  # noqa: E402
from exactcl import Attention, Conv1d, Linear, ReLU, Residual, net  # noqa: E402
from exactcl.certformat import dumps  # noqa: E402
from exactcl.errors import InputError  # noqa: E402
from exactcl.torchbridge import from_torch  # noqa: E402


class Skip(nn.Module):
    """A residual block written by hand: forward is x + f(x)."""

    def __init__(self, n, h):
        super().__init__()
        self.inner, self.act, self.outer = nn.Linear(n, h), nn.ReLU(), nn.Linear(h, n)

    def forward(self, x):
        return x + self.outer(self.act(self.inner(x)))


def _cases():
    from exactcl.torchbridge import Residual as TorchResidual
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
    tm = from_torch(build(), shape)
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
    from exactcl.rings import poly_terms
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
    (lambda: nn.Sequential(nn.Linear(3, 3), nn.Tanh()), (3,), "1 is a Tanh"),
    (lambda: nn.Sequential(nn.Conv1d(1, 2, 3, padding=1)), (1, 5), "valid convolutions"),
    (lambda: nn.MultiheadAttention(4, 2), (3, 4), "bias=False"),
    (lambda: nn.Sequential(nn.Conv1d(2, 2, 3)), (1, 5), "'example_input_shape'"),
    (lambda: nn.Sequential(nn.Linear(3, 3)), (0,), "'example_input_shape'"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2)), (3,), "is not a network"),
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
            "import exactcl, exactcl.torchbridge\n"
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

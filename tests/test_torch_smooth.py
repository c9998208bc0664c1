"""Smooth activations read from torch (exactcl.layers.smooth, exactcl.torch):
every module, function, method and in-place form is translated to the layer
written by hand and checked against the module's own forward (the output
check of from_torch, and the parameter map entry by entry); the float
forward rule is torch's function on a grid; what exactcl cannot read is
refused in one line naming it; the counts agree with the rank of the
module's own gradients over data (torch autograd, an independent
computation), and the laws exhibited drift like the square of the step under
SGD on the module itself."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import exactcl  # noqa: E402
from exactcl import ELU, GELU, Linear, Sigmoid, SiLU, Softplus, Tanh, net  # noqa: E402
from exactcl.errors import InputError, UnsupportedError  # noqa: E402
from exactcl.kernel import certformat  # noqa: E402
from exactcl.kernel.verifier import verify_text  # noqa: E402
from exactcl.layers.smooth import _Smooth  # noqa: E402
from exactcl.torch.bridge import from_torch  # noqa: E402

from .helpers import translated  # noqa: E402


class Between(nn.Module):
    """Linear(4, 5), then ``f``, then Linear(5, 3): a forward written by hand."""

    def __init__(self, f, bias: bool = True):
        super().__init__()
        self.a, self.b, self.f = nn.Linear(4, 5, bias=bias), nn.Linear(5, 3), f

    def forward(self, x):
        return self.b(self.f(self.a(x)))


def _seq(act):
    return nn.Sequential(nn.Linear(4, 5), act, nn.Linear(5, 3))


#: id -> (the module, the layer exactcl reads between the two dense layers)
READ = {
    "nn.Tanh": (lambda: _seq(nn.Tanh()), Tanh()),
    "torch.tanh": (lambda: Between(torch.tanh), Tanh()),
    "F.tanh": (lambda: Between(F.tanh), Tanh()),
    "x.tanh()": (lambda: Between(lambda x: x.tanh()), Tanh()),
    "torch.tanh_": (lambda: Between(torch.tanh_), Tanh()),
    "x.tanh_()": (lambda: Between(lambda x: x.tanh_()), Tanh()),
    "nn.Sigmoid": (lambda: _seq(nn.Sigmoid()), Sigmoid()),
    "torch.sigmoid": (lambda: Between(torch.sigmoid), Sigmoid()),
    "F.sigmoid": (lambda: Between(F.sigmoid), Sigmoid()),
    "x.sigmoid()": (lambda: Between(lambda x: x.sigmoid()), Sigmoid()),
    "x.sigmoid_()": (lambda: Between(lambda x: x.sigmoid_()), Sigmoid()),
    "nn.SiLU": (lambda: _seq(nn.SiLU()), SiLU()),
    "nn.SiLU(inplace)": (lambda: _seq(nn.SiLU(inplace=True)), SiLU()),
    "F.silu": (lambda: Between(F.silu), SiLU()),
    "F.silu(inplace)": (lambda: Between(lambda x: F.silu(x, inplace=True)), SiLU()),
    "nn.GELU": (lambda: _seq(nn.GELU()), GELU()),
    "nn.GELU(tanh)": (lambda: _seq(nn.GELU(approximate="tanh")), GELU("tanh")),
    "F.gelu": (lambda: Between(F.gelu), GELU()),
    "F.gelu(tanh)": (lambda: Between(lambda x: F.gelu(x, approximate="tanh")), GELU("tanh")),
    "nn.Softplus": (lambda: _seq(nn.Softplus()), Softplus()),
    "nn.Softplus(beta=2)": (lambda: _seq(nn.Softplus(beta=2)), Softplus(2)),
    "nn.Softplus(beta=0.5)": (lambda: _seq(nn.Softplus(beta=0.5)), Softplus("1/2")),
    "F.softplus": (lambda: Between(F.softplus), Softplus()),
    "F.softplus(x,0.5,20)": (lambda: Between(lambda x: F.softplus(x, 0.5, 20)), Softplus("1/2")),
    "nn.ELU": (lambda: _seq(nn.ELU()), ELU()),
    "nn.ELU(alpha=0.5)": (lambda: _seq(nn.ELU(alpha=0.5)), ELU("1/2")),
    "nn.ELU(inplace)": (lambda: _seq(nn.ELU(inplace=True)), ELU()),
    "F.elu": (lambda: Between(F.elu), ELU()),
    "F.elu(x,0.5)": (lambda: Between(lambda x: F.elu(x, 0.5)), ELU("1/2")),
    "F.elu(inplace)": (lambda: Between(lambda x: F.elu(x, alpha=0.5, inplace=True)), ELU("1/2")),
    "F.elu_": (lambda: Between(F.elu_), ELU()),
}


@pytest.mark.parametrize("name", sorted(READ))
def test_each_form_is_read_as_its_layer_and_checked_against_the_module(name):
    build, layer = READ[name]
    torch.manual_seed(0)
    tm = translated(build(), (4,))  # the output check and the parameter map, entry by entry
    assert tm.program == net(Linear(4, 5, bias=True), layer, Linear(5, 3, bias=True))
    assert tm.program.canonical()[1] == layer.canonical()


def test_a_float_constant_is_recorded_with_the_rational_it_is_read_as():
    tm = from_torch(_seq(nn.Softplus(beta=0.5)), (4,))
    assert any("beta 0.5 read as 1/2 (the decimal it prints as)" in what for *_, what in tm.nodes)
    tm = from_torch(_seq(nn.ELU(alpha=0.25)), (4,))
    assert any("alpha 0.25 read as 1/4" in what for *_, what in tm.nodes)
    assert from_torch(_seq(nn.Softplus(beta=1e-05)), (4,)).program.layers[1] == Softplus(
        Fraction(1, 100000))


@pytest.mark.parametrize("act,layer", [
    (nn.Softplus(), Softplus()), (nn.Softplus(beta=2), Softplus(2)), (nn.GELU(), GELU()),
    (nn.GELU(approximate="tanh"), GELU("tanh")), (nn.ELU(alpha=0.5), ELU("1/2")),
    (nn.Tanh(), Tanh()), (nn.SiLU(), SiLU()), (nn.Sigmoid(), Sigmoid()),
], ids=repr)
def test_large_pre_activations_pass_the_output_check(act, layer):
    """Weights scaled so that units reach |z| of 30 to 100: softplus above its
    threshold 20 (linear there) and far below, GELU and ELU saturated."""
    torch.manual_seed(3)
    module = _seq(act)
    with torch.no_grad():
        module[0].weight.mul_(40)
        module[0].bias.mul_(40)
    tm = translated(module, (4,))
    assert tm.program.layers[1] == layer
    x = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    z = module.double()[0](x).detach()
    assert float(z.max()) > 20 and float(z.min()) < -20


@pytest.mark.parametrize("layer,fn", [
    (["tanh"], torch.tanh), (["sigmoid"], torch.sigmoid), (["silu"], F.silu),
    (["gelu", "erf"], F.gelu), (["gelu", "tanh"], lambda t: F.gelu(t, approximate="tanh")),
    (["softplus", "1/1"], F.softplus), (["softplus", "2/1"], lambda t: F.softplus(t, beta=2)),
    (["softplus", "1/2"], lambda t: F.softplus(t, beta=0.5)),
    (["softplus", "3/10"], lambda t: F.softplus(t, beta=0.3)),
    (["elu", "1/1"], F.elu), (["elu", "1/2"], lambda t: F.elu(t, 0.5)),
    (["elu", "5/2"], lambda t: F.elu(t, 2.5)),
], ids=lambda v: "-".join(v) if isinstance(v, list) else "")
def test_the_float_forward_rule_is_torchs_function(layer, fn):
    """On a grid through 0, both sides of ELU's kink and softplus's threshold
    (beta z = 20), and large inputs of both signs."""
    grid = [-800.0, -100.0, -40.0, -20.01, -20.0, -10.0, -3.0, -1.0, -0.1, -1e-12, 0.0, 1e-12,
            0.1, 1.0, 3.0, 9.99, 10.0, 10.01, 19.99, 20.0, 20.01, 39.99, 40.01, 66.67, 100.0,
            800.0]
    f = _Smooth.function(layer)
    want = fn(torch.tensor(grid, dtype=torch.float64)).tolist()
    for x, w in zip(grid, want):
        assert abs(f(x) - w) <= 1e-15 * max(1.0, abs(w)), (layer, x, f(x), w)


# -- refusals ------------------------------------------------------------------------------

REFUSED = {
    "PReLU": (lambda: _seq(nn.PReLU()), "is a PReLU, whose negative slope is a learnable "
              "parameter (num_parameters=1); exactcl expected a fixed negative slope"),
    "F.prelu": (lambda: _PReLUByHand(), "calls torch.prelu, whose negative slope is a learnable "
                "parameter"),
    "Softplus(beta=1/3)": (lambda: _seq(nn.Softplus(beta=1 / 3)),
                           "has beta=0.3333333333333333, a float that is no short decimal"),
    "Softplus(threshold=5)": (lambda: _seq(nn.Softplus(threshold=5)),
                              "has threshold=5; exactcl expected torch's threshold 20"),
    "F.softplus(threshold=5)": (lambda: Between(lambda x: F.softplus(x, threshold=5)),
                                "has threshold=5"),
    "GELU(foo)": (lambda: _seq(nn.GELU(approximate="foo")),
                  "has approximate='foo'; exactcl expected approximate='none' or 'tanh'"),
    "F.gelu(foo)": (lambda: Between(lambda x: F.gelu(x, approximate="foo")),
                    "has approximate='foo'"),
    "ELU(alpha=-1)": (lambda: _seq(nn.ELU(alpha=-1)),
                      "has alpha=-1, which is not positive; exactcl expected a positive alpha"),
    "F.elu(alpha=0)": (lambda: Between(lambda x: F.elu(x, alpha=0.0)),
                       "has alpha=0.0, which is not positive"),
    "Mish": (lambda: _seq(nn.Mish()), "is a Mish, x tanh(softplus(x))"),
    "SELU": (lambda: _seq(nn.SELU()), "is a SELU, an ELU scaled by 1.0507009873554805"),
    "CELU": (lambda: _seq(nn.CELU()), "is a CELU, max(0, x) + min(0, alpha (exp(x / alpha) - 1))"),
    "Hardtanh": (lambda: _seq(nn.Hardtanh()), "is a Hardtanh, x clamped to [min_val, max_val]"),
    "Softsign": (lambda: _seq(nn.Softsign()), "is a Softsign, x / (1 + |x|), not analytic at 0"),
    "LogSigmoid": (lambda: _seq(nn.LogSigmoid()), "is a LogSigmoid, log sigmoid(x)"),
    "F.mish": (lambda: Between(F.mish), "calls torch.nn.functional.mish, x tanh(softplus(x))"),
    "torch.selu": (lambda: Between(torch.selu), "calls torch.selu, an ELU scaled"),
    "F.logsigmoid": (lambda: Between(F.logsigmoid), "log sigmoid(x)"),
    "relu-and-tanh": (lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 5),
                                            nn.Tanh(), nn.Linear(5, 3)),
                      "which exactcl cannot express: is not a network: a network with smooth "
                      "activations (tanh) cannot hold a relu layer"),
    "gelu-and-softplus": (lambda: nn.Sequential(nn.Linear(4, 5), nn.GELU(), nn.Linear(5, 5),
                                                nn.Softplus(), nn.Linear(5, 3)),
                          "a network cannot hold both gelu and softplus"),
    "elu-without-bias": (lambda: nn.Sequential(nn.Linear(4, 5, bias=False), nn.ELU(),
                                               nn.Linear(5, 3)),
                         "layer 2 (elu) cannot be expanded at its anchor -log 2"),
}


class _PReLUByHand(Between):
    def __init__(self):
        super().__init__(None)
        self.slope = nn.Parameter(torch.full((1,), 0.25))

    def forward(self, x):
        return self.b(F.prelu(self.a(x), self.slope))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_exactcl_cannot_read_is_refused_in_one_line_naming_it(name):
    build, fragment = REFUSED[name]
    with pytest.raises(InputError) as info:
        from_torch(build(), (4,))
    text = str(info.value)
    assert fragment in text and "\n" not in text, text
    assert text.startswith("Argument 'module' ")
    if name in UNREAD:
        assert text.endswith("exactcl expected one of the activations it reads: ReLU, "
                             "LeakyReLU, Tanh, Sigmoid, SiLU, GELU, Softplus or ELU."), text


#: The activations exactcl has no rule for: their refusal lists those it reads.
UNREAD = {"Mish", "SELU", "CELU", "Hardtanh", "Softsign", "LogSigmoid", "F.mish", "torch.selu",
          "F.logsigmoid"}


# -- counts --------------------------------------------------------------------------------

def _gradient_rank(module, inputs: int = 20) -> int:
    """The rank of the gradients in the parameters of the module's outputs
    over random inputs (the trace of W at the point, torch autograd in
    float64), with a gap of at least 10^6 between the singular values kept
    and the next: a cross-check, independent of exactcl."""
    module = module.double()
    params = [p for p in module.parameters() if p.requires_grad]
    x = torch.randn(inputs, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    rows = []
    for out in module(x).reshape(-1):
        grads = torch.autograd.grad(out, params, retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    s = torch.linalg.svdvals(torch.stack(rows))
    s = s / s[0]
    rank = int((s > 1e-7).sum())
    assert rank == len(s) or s[rank] < 1e-13, s  # a clear gap: the rank is not borderline
    return rank


@pytest.mark.parametrize("name", ["nn.Tanh", "nn.Sigmoid", "nn.SiLU", "nn.GELU", "nn.GELU(tanh)",
                                  "nn.Softplus(beta=0.5)", "nn.ELU(alpha=0.5)"])
def test_a_smooth_mlp_with_biases_has_no_law(name):
    torch.manual_seed(4)
    module = READ[name][0]()
    tm = from_torch(module, (4,))
    result = tm.count()
    assert (result.laws, result.proof, result.parameters) == (0, "sandwich", 43), (
        result.explanation)
    assert _gradient_rank(module) == 43  # W alone spans every direction


def _balanced(act=None):
    return nn.Sequential(nn.Linear(4, 5, bias=False), nn.Linear(5, 5, bias=False),
                         act if act is not None else nn.Tanh(), nn.Linear(5, 3, bias=False))


@pytest.mark.parametrize("act", [nn.Tanh(), nn.GELU(approximate="tanh"), nn.Softplus(beta=2)],
                         ids=repr)
def test_two_dense_layers_before_a_smooth_one_keep_fifteen_laws(act):
    torch.manual_seed(5)
    module = _balanced(act)
    tm = from_torch(module, (4,))
    assert tm.program == net(Linear(4, 5), Linear(5, 5), tm.program.layers[2], Linear(5, 3))
    result = tm.count()
    assert (result.laws, result.proof, result.parameters) == (15, "sandwich", 60), (
        result.explanation)
    # W alone (no bracket) has rank 35: the network factors through the product
    # W2 W1 (20 entries) and W3 (15); the brackets of the count reach 45 = 60 - 15
    assert _gradient_rank(module) == 20 + 15


def test_the_laws_as_torch_functions_drift_like_the_square_of_the_step():
    """Under SGD on the torch module itself, the 15 laws W1 W1^T - W2^T W2
    move by O(lr^2) per step: twice the step, four times the drift."""
    torch.manual_seed(6)
    module = _balanced().double()
    tm = from_torch(module, (4,))
    laws = tm.laws()
    assert len(laws) == 15
    x = torch.randn(32, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.randn(32, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    drifts = []
    for lr in (1e-3, 2e-3):
        m = _balanced().double()
        m.load_state_dict(module.state_dict())
        start = torch.stack([law(m).detach() for law in laws])
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        loss_start = ((m(x) - y) ** 2).mean().item()
        for _ in range(20):
            opt.zero_grad()
            ((m(x) - y) ** 2).mean().backward()
            opt.step()
        assert ((m(x) - y) ** 2).mean().item() < loss_start  # it trains
        drifts.append(float((torch.stack([law(m).detach() for law in laws]) - start).norm()))
    ratio = drifts[1] / drifts[0]
    assert 3.0 < ratio < 5.0, (ratio, drifts)
    # while the parameters themselves move to first order
    with torch.no_grad():
        moved = sum(float((p - q).norm()) for p, q in zip(m.parameters(), module.parameters()))
    assert moved > 100 * drifts[1]


# -- frozen and shared parameters ----------------------------------------------------------

def test_frozen_parameters_are_read_but_their_count_is_refused_naming_the_activations():
    """A ReLU network with a frozen tensor is counted with phi expanded at the
    frozen values; a smooth network has no phi, so its count is refused in
    one line naming the tensor and the activations (as for a network on
    tokens), never counted as if the tensor were trained."""
    module = _seq(nn.Tanh())
    module[0].bias.requires_grad_(False)
    tm = from_torch(module, (4,))
    assert tm.name == "frozen 0.bias of net:Linear(4,5,bias),Tanh,Linear(5,3,bias)"
    assert len(tm.parameter_map) == 38 and len(tm.frozen) == 5
    with pytest.raises(UnsupportedError) as info:
        tm.count()
    text = str(info.value)
    assert ("has frozen parameters (0.bias) in a network with smooth activations (tanh)" in text
            and "train every parameter (requires_grad=True)" in text and "\n" not in text), text
    relu = _seq(nn.ReLU())
    relu[0].bias.requires_grad_(False)
    assert from_torch(relu, (4,)).count().proof == "sandwich"


def test_shared_parameters_are_refused_as_in_a_relu_network():
    messages = []
    for act in (nn.ReLU, nn.Tanh):
        shared = nn.Linear(5, 5)
        module = nn.Sequential(nn.Linear(4, 5), act(), shared, act(), shared, nn.Linear(5, 3))
        with pytest.raises(InputError) as info:
            from_torch(module, (4,))
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert "uses the parameter '2.weight' (also registered as 4.weight) 2 times" in messages[1]


# -- certificates --------------------------------------------------------------------------

def test_a_certificate_of_a_torch_tanh_mlp_verifies():
    torch.manual_seed(7)
    tm = from_torch(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), (3,))
    cert, result = exactcl.certify(tm, reproducible=True)
    assert cert["model"]["name"] == "net:Linear(3,4,bias),Tanh,Linear(4,2,bias)"
    report = verify_text(certformat.dumps(cert), rng=random.Random(11))
    assert report.ok, str(report)
    assert (result.laws, result.proof) == (0, "sandwich")
    assert "exactly 0 independent conservation laws (D = 26, proof: sandwich)" in str(report)


def test_the_readme_smooth_example_runs_and_says_what_it_gives():
    import pathlib
    import re
    readme = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## PyTorch modules", 1)[1]
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", section, flags=re.S)
               if "nn.Tanh()" in block]
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert (scope["mlp_result"].laws, scope["mlp_result"].proof) == (0, "sandwich")
    assert (scope["pair_result"].laws, scope["pair_result"].proof) == (15, "sandwich")

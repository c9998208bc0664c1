"""Certify only the model the user has (exactcl.torch.capture): a module is read
from what its forward computes, with every parameter's identity; what cannot
be read faithfully is refused in one line naming the node or parameter.

Every translation here is checked against the module's own forward
(``translated``); every count against the count of the same model written
by hand as an exactcl program."""

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import exactcl  # noqa: E402
from exactcl import Conv1d, Conv2d, Linear, ReLU, Residual, net  # noqa: E402
from exactcl.errors import InputError  # noqa: E402
from exactcl.kernel.certformat import dumps  # noqa: E402
from exactcl.models.builtin import from_program, with_constants  # noqa: E402
from exactcl.torch.bridge import from_torch  # noqa: E402

from .helpers import translated  # noqa: E402


def refused(module, shape, *fragments) -> str:
    with pytest.raises(InputError) as err:
        from_torch(module, shape)
    text = str(err.value)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


# -- the cases that certified another model ---------------------------------------------

def test_a_linear_used_twice_is_refused_naming_the_parameter_and_both_nodes():
    lin = nn.Linear(3, 3)
    refused(nn.Sequential(lin, nn.ReLU(), lin, nn.Linear(3, 2)), (3,),
            "uses the parameter '0.weight' (also registered as 2.weight) 2 times",
            "nodes _0, _0_1")
    layer = nn.Linear(2, 2)
    refused(nn.Sequential(layer, layer), (2,), "'0.weight'", "2 times")


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 4)

    def forward(self, x):
        return x + self.l(self.l(x))


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(F.relu(self.a(x)))


def test_a_weight_shared_inside_a_residual_or_tied_is_refused():
    refused(Twice(), (4,), "'l.weight'", "2 times (nodes l, l_1)")
    refused(Tied(), (3,), "'a.weight' (also registered as b.weight) 2 times (nodes a, b)")


def _sgd_drift(module, laws, lr, steps=20):
    """Largest change of the laws along ``steps`` of SGD at step ``lr`` on a
    copy of ``module`` (fixed data)."""
    import copy
    net_ = copy.deepcopy(module)
    torch.manual_seed(7)
    x, y = torch.randn(16, 2, dtype=torch.float64), torch.randn(16, 2, dtype=torch.float64)
    start = laws[0].all(net_)
    opt = torch.optim.SGD([p for p in net_.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        ((net_(x) - y) ** 2).mean().backward()
        opt.step()
    return (laws[0].all(net_) - start).abs().max().item()


def test_frozen_parameters_are_constants_held_at_their_values():
    """The frozen first layer of Linear(4,5), ReLU, Linear(5,3): 5 laws if it
    were trained, none when it is not (the per-neuron laws move along SGD)."""
    module = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    module[0].requires_grad_(False)
    tm = translated(module, (4,))
    assert {t for _, t, _, _ in tm.frozen} == {"0.weight", "0.bias"} and len(tm.frozen) == 25
    assert {t for _, t, _ in tm.parameter_map} == {"2.weight", "2.bias"}
    result = exactcl.count(tm)
    assert (result.parameters, result.laws, result.proof) == (18, 0, "sandwich")
    assert result.model == "frozen 0.weight, 0.bias of net:Linear(4,5,bias),ReLU,Linear(5,3,bias)"
    assert "frozen (held at their values when read): 0.weight, 0.bias" in tm.describe()


def test_a_frozen_bias_of_the_last_layer_is_no_bias_for_the_flow():
    module = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    module[2].bias.requires_grad_(False)
    tm = translated(module, (3,))
    no_bias = net(Linear(3, 4, bias=True), ReLU(), Linear(4, 2))
    assert exactcl.count(tm).laws == exactcl.count(no_bias).laws == 4


def test_laws_through_a_frozen_layer_hold_along_real_training_and_verify(tmp_path):
    """W3 C W1 with C frozen: 2 laws that involve C's values, certified,
    verified from the file, and conserved by SGD up to O(step^2)."""
    from exactcl.kernel.verifier import verify
    torch.manual_seed(5)
    module = nn.Sequential(*(nn.Linear(2, 2, bias=False) for _ in range(3))).double()
    module[1].requires_grad_(False)
    tm = translated(module, (2,))
    cert, result = exactcl.certify(tm, tmp_path / "frozen.json")
    assert (result.laws, result.proof) == (2, "sandwich")
    assert verify(tmp_path / "frozen.json").status == "verified"
    laws = tm.laws(result)
    coarse, fine = _sgd_drift(module, laws, 2e-3), _sgd_drift(module, laws, 1e-3)
    assert 3.0 < coarse / fine < 5.0, (coarse, fine)  # half the step: a quarter of the drift
    assert module[1].weight.grad is None


def test_a_module_with_every_parameter_frozen_is_refused():
    module = nn.Sequential(nn.Linear(2, 2))
    module.requires_grad_(False)
    refused(module, (2,), "every parameter frozen")


class ResSeq(nn.Sequential):
    def forward(self, x):
        return x + super().forward(x)


def test_a_sequential_subclass_with_its_own_forward_is_read_from_that_forward():
    """Read as a plain chain, this net would have 16 laws; it has 10."""
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(2, 3), ResSeq(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3)),
                           nn.Linear(3, 2))
    tm = translated(module, (2,))
    block = [Linear(3, 4, bias=True), ReLU(), Linear(4, 3, bias=True)]
    by_hand = net(Linear(2, 3, bias=True), Residual(*block), Linear(3, 2, bias=True))
    assert tm.program == by_hand
    chain = net(Linear(2, 3, bias=True), *block, Linear(3, 2, bias=True))
    assert exactcl.count(tm).laws == exactcl.count(by_hand).laws == 10
    assert exactcl.count(chain).laws == 16


class Reversed(nn.Sequential):
    def forward(self, x):
        for layer in reversed(self):
            x = layer(x)
        return x


class ExpLinear(nn.Linear):
    def forward(self, x):
        return torch.exp(super().forward(x))


class Squared(nn.Linear):
    def forward(self, x):
        y = super().forward(x)
        return y * y


def test_subclasses_of_torch_layers_are_read_from_their_own_forward():
    torch.manual_seed(0)
    tm = translated(Reversed(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 3)), (2,))
    assert tm.program == net(Linear(2, 3, bias=True), ReLU(), Linear(3, 2, bias=True))
    refused(nn.Sequential(ExpLinear(2, 2), nn.Linear(2, 1)), (2,),
            "exp (in 0) calls torch", "exp")
    refused(nn.Sequential(Squared(2, 2), nn.Linear(2, 1)), (2,), "mul (in 0) calls", "mul")


def test_parametrised_layers_and_hooks_are_refused():
    import warnings
    refused(nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(2, 2)),
                          nn.Linear(2, 1)), (2,), "ParametrizedLinear", "parametrised layer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        old = nn.utils.weight_norm(nn.Linear(2, 2))
    refused(nn.Sequential(old, nn.Linear(2, 1)), (2,), "forward pre hook on 0 (Linear)")
    module = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    module[1].register_forward_hook(lambda m, i, o: 2 * o)
    refused(module, (2,), "forward hook on 1 (Linear)")
    module = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    module[0].weight.register_hook(lambda g: 0 * g)
    refused(module, (2,), "gradient hook on the parameter '0.weight'")


class Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.spare = nn.Linear(2, 2), nn.Linear(2, 2)

    def forward(self, x):
        return self.used(x)


class Buffered(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.register_buffer("shift", torch.ones(2))

    def forward(self, x):
        return self.lin(x) + self.shift


def test_an_unread_parameter_or_a_buffer_that_changes_the_output_is_refused():
    refused(Unused(), (2,), "parameter 'spare.weight', which its forward never reads")
    refused(Buffered(), (2,), "add (in (the module itself))", "the tensor 'shift'")


def test_the_example_input_shape_is_checked_before_anything_is_allocated():
    refused(nn.Linear(4, 3), (5,), "'example_input_shape' must be (4,) for the Linear",
            "not (5,)")
    refused(nn.Linear(4, 3), (10**30,), "'example_input_shape' has", "more than the 65536")
    refused(nn.Conv1d(1, 1, 3), (1, 10**9), "'example_input_shape' has 1000000000 entries")
    refused(nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU()), (2, 9),
            "'example_input_shape' must be (1, length) for the Conv1d at 0")
    refused(nn.Sequential(nn.Conv2d(16, 1, 16)), (16, 64, 64), "unfold 9834496 input entries")


def test_a_torch_model_is_counted_certified_and_searched_like_its_program():
    torch.manual_seed(0)
    tm = translated(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), (3,))
    prog = net(Linear(3, 4, bias=True), ReLU(), Linear(4, 2, bias=True))
    assert exactcl.count(tm).laws == exactcl.count(prog).laws == 4
    a, _ = exactcl.certify(tm, reproducible=True)
    b, _ = exactcl.certify(prog, reproducible=True)
    assert dumps(a) == dumps(b)
    assert exactcl.laws(tm, 2).strings() == exactcl.laws(prog, 2).strings()
    assert tm.count().laws == 4


# -- what is read as what it is ---------------------------------------------------------

class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1, self.b1 = nn.Parameter(torch.randn(4, 3)), nn.Parameter(torch.randn(4))
        self.w2 = nn.Parameter(torch.randn(2, 4))

    def forward(self, x):
        h = F.relu(F.linear(x, self.w1, self.b1))
        return F.linear(h, self.w2)


class ConvView(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 2, stride=2)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        h = torch.relu(F.conv2d(x, self.conv.weight, self.conv.bias, stride=2))
        return self.head(h.view(x.size(0), -1))


class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

    def forward(self, x):
        y = self.a(x).relu_()
        y += self.b(y)
        return y


@pytest.mark.parametrize("build, shape, by_hand", [
    (lambda: nn.Sequential(nn.Identity(), nn.Linear(2, 3), nn.ReLU(inplace=True),
                           nn.Dropout(0.3), nn.Flatten(), nn.Linear(3, 1)).eval(), (2,),
     net(Linear(2, 3, bias=True), ReLU(), Linear(3, 1, bias=True))),
    (Functional, (3,), net(Linear(3, 4, bias=True), ReLU(), Linear(4, 2))),
    (ConvView, (1, 4, 4), net(Conv2d(1, 2, 2, stride=2, bias=True, size=(4, 4)), ReLU(),
                              Linear(8, 1, bias=True))),
    (InPlace, (3,), net(Linear(3, 3, bias=True), ReLU(), Residual(Linear(3, 3, bias=True)))),
    (lambda: nn.Sequential(nn.Conv1d(2, 3, 2), nn.ReLU(), nn.ReLU(), nn.Conv1d(3, 1, 2, stride=2),
                           nn.Flatten(), nn.Linear(2, 2)), (2, 5),
     net(Conv1d(2, 3, 2, bias=True, length=5), ReLU(), Conv1d(3, 1, 2, stride=2, bias=True),
         Linear(2, 2, bias=True))),
], ids=["no-ops", "functional", "conv-view", "in-place", "convs"])
def test_layers_functions_and_methods_read_as_what_they_are(build, shape, by_hand):
    torch.manual_seed(3)
    tm = translated(build(), shape)
    assert tm.program == by_hand
    assert exactcl.count(tm).laws == exactcl.count(by_hand).laws


def test_dropout_in_training_mode_is_refused_with_the_reason():
    refused(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Linear(2, 1)), (2,),
            "Dropout(p=0.5) in training mode", "call module.eval()")


def test_an_untraceable_forward_is_refused_naming_the_error():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            return self.lin(x) if x.sum() > 0 else -self.lin(x)

    refused(Branchy(), (2,), "cannot be traced by torch.fx")


# -- the output check is what stands between a user and a wrong certificate ------------

def test_a_translation_that_differs_from_the_module_is_refused(monkeypatch):
    """A map that reads a weight transposed gives another model: the output
    check refuses it instead of certifying it."""
    from exactcl.torch import bridge as torchbridge
    original = torchbridge._parameter_map

    def transposed(program, owners):
        return [(ex, t, idx[::-1]) if ex.startswith("W1") else (ex, t, idx)
                for ex, t, idx in original(program, owners)]

    monkeypatch.setattr(torchbridge, "_parameter_map", transposed)
    torch.manual_seed(0)
    refused(nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1)), (3,),
            "is not what exactcl read", "refused rather than counted as another model")


def test_the_check_runs_by_default_and_says_so_when_it_is_skipped():
    module = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert from_torch(module, (3,)).checked.startswith("output equals the module's forward")
    assert "check=False" in from_torch(module, (3,), check=False).checked
    with pytest.raises(InputError, match="Argument 'check' must be True, False or None"):
        from_torch(module, (3,), check="yes")


# -- random modules, random sharing and freezing ----------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


class Custom(nn.Module):
    """A forward written by hand: ``plan`` lists ("linear", name), ("relu",),
    ("residual", [plan]) read as F.linear on the module's own tensors,
    F.relu and x + f(x)."""

    def __init__(self, plan, tensors):
        super().__init__()
        self.plan = plan
        for name, t in tensors.items():
            setattr(self, name, t)

    def forward(self, x):
        return self.run(self.plan, x)

    def run(self, plan, x):
        for op in plan:
            if op[0] == "linear":
                x = F.linear(x, getattr(self, op[1]), getattr(self, op[2]) if op[2] else None)
            elif op[0] == "relu":
                x = F.relu(x)
            else:
                x = x + self.run(op[1], x)
        return x


@st.composite
def modules(draw):
    """(module, width of its input, the program written by hand, what
    is shared, what is frozen)."""
    n = draw(st.integers(1, 3))
    style = draw(st.sampled_from(["sequential", "custom"]))
    count = draw(st.integers(1, 3))
    layers, plan, built, tensors = [], [], [], {}
    width = n
    linears: list = []
    shared = False
    for k in range(count):
        out = draw(st.integers(1, 3))
        bias = draw(st.booleans())
        residual = draw(st.booleans()) and k > 0
        if residual:  # x + Linear(width, width)(x)
            reuse = [lin for lin in linears if lin.weight.shape == (width, width)]
            lin = draw(st.sampled_from(reuse)) if reuse and draw(st.booleans()) else \
                nn.Linear(width, width, bias=bias)
            shared |= any(lin is other for other in linears)
            linears.append(lin)
            from exactcl.torch.bridge import Residual as TorchResidual
            layers.append(TorchResidual(lin))
            name = f"r{k}"
            tensors[f"{name}w"] = lin.weight
            if lin.bias is not None:
                tensors[f"{name}b"] = lin.bias
            plan.append(("residual", [("linear", f"{name}w",
                                       f"{name}b" if lin.bias is not None else None)]))
            built.append(Residual(Linear(width, width, bias=lin.bias is not None)))
        else:
            lin = nn.Linear(width, out, bias=bias)
            linears.append(lin)
            layers.append(lin)
            tensors[f"w{k}"] = lin.weight
            if bias:
                tensors[f"b{k}"] = lin.bias
            plan.append(("linear", f"w{k}", f"b{k}" if bias else None))
            built.append(Linear(width, out, bias=bias))
            width = out
        if k < count - 1 and draw(st.booleans()):
            layers.append(nn.ReLU())
            plan.append(("relu",))
            built.append(ReLU())
    frozen = draw(st.integers(0, 3)) == 0
    if frozen:
        target = draw(st.sampled_from(linears))
        target.weight.requires_grad_(False)
    module = nn.Sequential(*layers) if style == "sequential" else Custom(plan, tensors)
    return module, n, built, shared, frozen


@settings(max_examples=40, deadline=None)
@given(modules())
def test_random_modules_are_read_faithfully_or_refused_by_name(case):
    module, n, built, shared, frozen = case
    hypothesis.event("shared" if shared else "frozen" if frozen else "translated")
    if shared:
        refused(module, (n,), "uses the parameter", "times (nodes")
        return
    if not any(p.requires_grad for p in module.parameters()):
        refused(module, (n,), "every parameter frozen")
        return
    tm = translated(module, (n,))
    by_hand = net(*built)
    assert tm.program == by_hand
    if frozen:  # the same program, with the frozen entries held at their values
        assert tm.frozen
        model = with_constants(from_program(by_hand), {ex: v for ex, _, _, v in tm.frozen},
                               "by hand")
        assert exactcl.count(tm).laws == exactcl.count(model).laws
    else:
        assert exactcl.count(tm).laws == exactcl.count(by_hand).laws


def test_a_relu_program_counts_the_laws_of_every_activation_pattern():
    """The README's caveat, checked: the scalar residual stream
    (1 + uv)(1 + st) (every unit on) has 3 laws; the program, whose phi keeps
    the indicators of every pattern, has 2."""
    import sympy
    u, v, s, t = sympy.symbols("u v s t")
    on = exactcl.count(exactcl.from_phi([(1 + u * v) * (1 + s * t)], [u, v, s, t]))
    block = Residual(Linear(1, 1), ReLU(), Linear(1, 1))
    assert (on.laws, exactcl.count(net(block, block)).laws) == (3, 2)


class Aliased(nn.Module):
    """One layer registered under two names, called once: not shared."""

    def __init__(self):
        super().__init__()
        self.first = nn.Linear(2, 3)
        self.second = self.first
        self.head = nn.Linear(3, 1)

    def forward(self, x):
        return self.head(F.relu(self.second(x)))


def test_a_layer_registered_twice_and_called_once_is_one_layer_named_as_torch_names_it():
    tm = translated(Aliased(), (2,))
    assert {t for _, t, _ in tm.parameter_map} == {n for n, _ in Aliased().named_parameters()}
    law = tm.laws()[0]
    assert law(Aliased()).dim() == 0


def test_inputs_beyond_what_a_program_holds_name_the_example_input_shape():
    refused(nn.Sequential(nn.Conv2d(1, 1, 3)), (1, 65, 65), "'example_input_shape' gives",
            "4225 positions")
    refused(nn.MultiheadAttention(4, 2, bias=False), (65, 4), "'example_input_shape' gives "
            "attention 65 tokens")

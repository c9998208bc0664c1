"""torch's nn.TransformerEncoderLayer (post-norm, ReLU) read by from_torch:
the program against the one written by hand, the output check against
the layer's own forward (batch_first False and True, alone, in
nn.Sequential and in a module of the user's), the parameter map and the
laws as torch functions against the exact polynomials, the counts, and
every refusal in one line naming the option."""

from fractions import Fraction

import pytest

import exactcl
from exactcl import Attention, InputError, LayerNorm, Linear, ReLU, Residual, net

torch = pytest.importorskip("torch")
nn = torch.nn


def _layer(d_model=4, nhead=2, dim_feedforward=8, dropout=0.0, **options):
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(d_model=d_model, nhead=nhead,
                                      dim_feedforward=dim_feedforward, dropout=dropout,
                                      **options).eval()


def _by_hand(d=4, heads=2, hidden=8, tokens=3, bias=True, eps=Fraction(1, 100000), after=()):
    return net(Residual(Attention(d, heads, tokens=tokens, bias=bias)),
               LayerNorm(d, eps, bias=bias),
               Residual(Linear(d, hidden, bias=bias), ReLU(), Linear(hidden, d, bias=bias)),
               LayerNorm(d, eps, bias=bias), *after)


class _Holder(nn.Module):
    """A user's module calling the layer (with ``call`` its extra arguments)."""

    def __init__(self, layer, call=None):
        super().__init__()
        self.layer, self.call = layer, call

    def forward(self, x):
        return self.call(self.layer, x) if self.call else self.layer(x)


def test_the_issue_s_layer_is_read_checked_and_counted_by_sandwich():
    """d_model=4, nhead=2, dim_feedforward=8, dropout=0, batch_first=False (the
    default) on 3 tokens: the program written by hand, the output equal to
    torch's forward, 172 parameters and 38 laws by sandwich."""
    tm = exactcl.from_torch(_layer(), (3, 4))
    assert tm.program == _by_hand()
    assert tm.checked.startswith("output equals the module's forward on 3 random inputs")
    r = exactcl.count(tm)
    assert (r.parameters, r.laws, r.proof) == (172, 38, "sandwich")


@pytest.mark.parametrize("batch_first", [False, True], ids=["tokens-batch-d", "batch-tokens-d"])
def test_the_output_check_runs_against_torch_s_forward_for_both_layouts(batch_first):
    tm = exactcl.from_torch(_layer(dim_feedforward=2, batch_first=batch_first), (2, 4))
    assert tm.program == _by_hand(hidden=2, tokens=2)
    assert tm.checked.startswith("output equals the module's forward")


def test_a_translation_that_differs_from_the_forward_is_refused(monkeypatch):
    """The check is real for batch_first=False: a norm2 whose forward no longer
    computes what the program does is caught by the per-example calls."""
    layer = _layer(dim_feedforward=2)
    real = layer.norm2.forward

    def shifted(x):
        return real(x) + 1e-3
    monkeypatch.setattr(layer.norm2, "forward", shifted)
    with pytest.raises(InputError, match="is not what exactcl read") as err:
        exactcl.from_torch(layer, (2, 4))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("batch_first", [False, True])
def test_inside_sequential_with_a_dense_layer_after_the_last_normalisation(batch_first):
    module = nn.Sequential(_layer(dim_feedforward=2, batch_first=batch_first),
                           nn.Linear(4, 2)).eval()
    tm = exactcl.from_torch(module, (2, 4))
    assert tm.program == _by_hand(hidden=2, tokens=2, after=(Linear(4, 2, bias=True),))
    assert tm.checked.startswith("output equals the module's forward")
    names = {t for _, t, _ in tm.parameter_map}
    assert {"0.self_attn.in_proj_weight", "0.norm2.bias", "1.weight"} <= names


def test_inside_a_user_module_every_parameter_maps_once_to_its_prefixed_tensor():
    module = _Holder(_layer(dim_feedforward=2)).eval()
    tm = exactcl.from_torch(module, (2, 4))
    seen = {(t, idx) for _, t, idx in tm.parameter_map}
    assert len(seen) == len(tm.parameter_map) == tm.program.D
    assert tm.program.D == sum(p.numel() for p in module.parameters())
    assert {t for _, t, _ in tm.parameter_map} == {name for name, _ in module.named_parameters()}
    assert ("G2_1", "layer.norm1.weight", (1,)) in tm.parameter_map
    assert ("bo_3", "layer.self_attn.out_proj.bias", (3,)) in tm.parameter_map


@pytest.fixture(scope="module")
def small():
    """dim_feedforward=2 on 2 tokens, in float64, and its count (26 laws)."""
    module = _layer(dim_feedforward=2).double()
    tm = exactcl.from_torch(module, (2, 4))
    return module, tm, tm.count()


def test_a_small_layer_has_26_laws_by_sandwich(small):
    _, tm, r = small
    assert tm.program == _by_hand(hidden=2, tokens=2)
    assert (r.parameters, r.laws, r.proof) == (118, 26, "sandwich")


def test_laws_as_torch_functions_are_the_exact_polynomials_at_the_parameters(small):
    module, tm, result = small
    laws = tm.laws(result)
    assert len(laws) == result.laws
    params = dict(module.named_parameters())
    point = [Fraction(float(params[t][idx].item())) for _, t, idx in tm.parameter_map]
    from exactcl.kernel.rings import poly_terms
    for law, h in zip(laws, result.exhibited):
        exact = Fraction(0)
        for mono, c in poly_terms(h):
            term = Fraction(c)
            for v, e in mono:
                term *= point[v] ** e
            exact += term
        assert abs(law(module).detach().item() - float(exact)) <= 1e-9 * (1 + abs(float(exact)))


def test_without_biases_the_layer_norms_linears_and_attention_have_none():
    tm = exactcl.from_torch(_layer(dim_feedforward=2, bias=False), (2, 4))
    assert tm.program == _by_hand(hidden=2, tokens=2, bias=False)
    assert tm.checked.startswith("output equals the module's forward")
    r = exactcl.count(tm)
    assert (r.parameters, r.laws, r.proof) == (88, 20, "sandwich")


@pytest.mark.parametrize("eps, exact", [(1e-05, Fraction(1, 100000)),
                                        (1e-6, Fraction(1, 1000000)), (0.25, Fraction(1, 4))])
def test_layer_norm_eps_is_read_as_the_decimal_it_prints_as(eps, exact):
    tm = exactcl.from_torch(_layer(dim_feedforward=2, layer_norm_eps=eps), (2, 4))
    assert tm.program == _by_hand(hidden=2, tokens=2, eps=exact)
    assert any(f"eps {eps!r} read as {exact}" in what for _, _, what in tm.nodes)


def test_masks_passed_as_none_and_is_causal_false_are_the_plain_call():
    module = _Holder(_layer(dim_feedforward=2),
                     lambda m, x: m(x, None, src_key_padding_mask=None, is_causal=False)).eval()
    tm = exactcl.from_torch(module, (2, 4))
    assert tm.program == _by_hand(hidden=2, tokens=2)
    assert tm.checked.startswith("output equals the module's forward")


def test_a_relu_module_as_activation_is_read():
    tm = exactcl.from_torch(_layer(dim_feedforward=2, activation=nn.ReLU()), (2, 4))
    assert tm.program == _by_hand(hidden=2, tokens=2)


@pytest.mark.parametrize("activation", ["gelu", nn.GELU(approximate="tanh"), nn.Tanh(),
                                        nn.Sigmoid(), nn.SiLU()],
                         ids=["gelu", "GELU-tanh-module", "Tanh", "Sigmoid", "SiLU"])
def test_a_smooth_activation_keeps_every_law_but_the_neurons(activation):
    """The ReLU layer's laws (docs/design.md, normalisation after the attention)
    but one per hidden neuron: 2 x 8 head laws, 5 of LN_1, 5 of LN_2; the
    forward checked against torch's."""
    layer = _layer(dim_feedforward=4, activation=activation)
    tm = exactcl.from_torch(layer, (2, 4))
    assert tm.checked.startswith("output equals the module's forward")
    r = exactcl.count(tm)
    assert (r.parameters, r.laws, r.proof) == (136, 26, "sandwich")
    relu = exactcl.count(exactcl.from_torch(_layer(dim_feedforward=4), (2, 4)))
    assert relu.laws == r.laws + 4


def _dropout_in_training():
    layer = _layer(dim_feedforward=2, dropout=0.1).train()
    layer.self_attn.dropout = 0.0  # the attention's own dropout off: dropout1 is refused
    return layer


@pytest.mark.parametrize("build, message", [
    (lambda: _layer(norm_first=True),
     "with norm_first=True, which exactcl cannot read: a pre-norm layer normalises each token "
     "with a LayerNorm before the attention"),
    (lambda: _layer(activation=torch.tanh), "with activation tanh, which exactcl cannot read: "
     "the activation function is not one exactcl reads in this layer; exactcl expected "
     "activation='relu' or 'gelu', or an activation module"),
    (lambda: _layer(activation=nn.Softplus()), "softplus cannot sit in a network with "
     "normalisations after its attention"),
    (lambda: _layer(dropout=0.1).train(), "drops attention weights at random (dropout=0.1)"),
    (_dropout_in_training, "is a Dropout(p=0.1) in training mode"),
    (lambda: _Holder(_layer(), lambda m, x: m(x, is_causal=True)),
     "calls it with is_causal=True; exactcl expected the TransformerEncoderLayer called on one "
     "tensor, without masks"),
    (lambda: _Holder(_layer(), lambda m, x: m(x, src_key_padding_mask=x)),
     "calls it with src_key_padding_mask"),
    (lambda: _Holder(_layer(), lambda m, x: m(x, x)), "calls it with src_mask"),
    (lambda: nn.TransformerEncoder(_layer(), 2, enable_nested_tensor=False),
     "torch.nn.TransformerEncoder at (the module itself), which exactcl cannot read: it stacks "
     "TransformerEncoderLayers, two LayerNorms each, and exactcl counts at most two"),
    (lambda: nn.TransformerDecoderLayer(4, 2, 8, dropout=0.0),
     "torch.nn.TransformerDecoderLayer at (the module itself), which exactcl cannot read: its "
     "cross-attention"),
], ids=["norm_first", "tanh-function", "softplus", "attention-dropout", "dropout1",
        "is_causal", "padding-mask", "src_mask", "encoder", "decoder"])
def test_what_is_not_counted_is_refused_in_one_line_naming_the_option(build, message):
    with pytest.raises(InputError) as err:
        exactcl.from_torch(build(), (3, 4))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_wrong_example_shape_is_refused_naming_it():
    with pytest.raises(InputError, match="Argument 'example_input_shape' must be "
                                         r"\(tokens, 4\)") as err:
        exactcl.from_torch(_layer(), (3, 5))
    assert "\n" not in str(err.value)


def test_two_layers_in_a_row_are_refused_as_two_attentions():
    module = nn.Sequential(_layer(dim_feedforward=2), _layer(dim_feedforward=2)).eval()
    with pytest.raises(InputError, match="at most one layer that mixes tokens") as err:
        exactcl.from_torch(module, (2, 4))
    assert "\n" not in str(err.value)


def test_the_laws_hold_for_torch_s_own_layer_along_small_gradient_steps(small):
    """The laws are symmetries of torch's layer itself, not only of the
    program's Taylor coefficients: under SGD (a batch of sequences, tokens x
    batch x d) each drifts like the square of the step, far less than the
    parameters' squared norm moves (the linear laws, sums of entries, and the
    key biases do not move at all)."""
    base, tm, result = small
    laws = tm.laws(result)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 8, 4, generator=gen, dtype=torch.float64)
    y = torch.randn(2, 8, 4, generator=gen, dtype=torch.float64)

    def norm(m):
        return sum((p.detach() ** 2).sum() for p in m.parameters())

    drifts, moves = [], []
    for lr in (5e-4, 1e-3):
        m = _layer(dim_feedforward=2).double()
        m.load_state_dict(base.state_dict())
        start, start_norm = torch.stack([law(m).detach() for law in laws]), norm(m)
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        for _ in range(20):
            opt.zero_grad()
            ((m(x) - y) ** 2).mean().backward()
            opt.step()
        drifts.append((torch.stack([law(m).detach() for law in laws]) - start).abs())
        moves.append(abs(norm(m) - start_norm).item())
    assert drifts[0].max().item() < 1e-2 * moves[0]
    clear = drifts[0] > 1e-9  # away from rounding and cancellations
    assert clear.sum().item() >= 8
    ratio = drifts[1][clear] / drifts[0][clear]
    assert ((ratio > 3.0) & (ratio < 5.0)).all(), ratio  # twice the step: four times the drift


def test_frozen_parameters_of_a_network_on_tokens_are_refused_in_one_line():
    """Frozen parameters are counted by expanding phi with them held at
    their values; a transformer layer is not polynomial: refused by name,
    not a traceback from the expansion."""
    layer = torch.nn.TransformerEncoderLayer(4, 2, dim_feedforward=2, dropout=0).eval()
    layer.norm1.weight.requires_grad_(False)
    tm = exactcl.from_torch(layer, (2, 4))
    with pytest.raises(exactcl.UnsupportedError, match=r"frozen parameters \(norm1.weight\)") \
            as err:
        exactcl.count(tm)
    assert "\n" not in str(err.value)

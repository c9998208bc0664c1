"""The layer registry (exactcl.layers.registry): every layer type known by one
line, and everything user-side found through it: spec syntax, canonical
form, forward rule, candidate-law role and torch translation. A new layer
type registered by itself is parsed, canonicalised, forwarded and read from
torch with no other edit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import pytest

from exactcl.layers import registry
from exactcl.layers.activations import LeakyReLU
from exactcl.layers.base import (
    ALONE,
    BLOCK,
    PARAMETRISED,
    PASSES_RESCALING,
    ROLES,
    Layer,
    SpecCall,
    spec_int,
)
from exactcl.layers.batchnorm import BatchNorm1d, BatchNorm2d
from exactcl.layers.embedding import Embedding
from exactcl.layers.forward import output
from exactcl.layers.heads import LogSoftmax, Softmax
from exactcl.layers.norm import GroupNorm, LayerNorm, RMSNorm
from exactcl.layers.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from exactcl.layers.program import (
    Attention,
    Conv1d,
    Conv2d,
    Linear,
    LinearAttention,
    Program,
    ReLU,
    Residual,
    parse_layers,
)
from exactcl.layers.smooth import ELU, GELU, Sigmoid, SiLU, Softplus, Tanh

#: Layers of every registered type, as their specs and reprs must give them back.
EXAMPLES = {
    Linear: [Linear(3, 4), Linear(3, 4, bias=True)],
    ReLU: [ReLU()],
    LeakyReLU: [LeakyReLU(), LeakyReLU("1/5"), LeakyReLU(-1), LeakyReLU(Fraction(0))],
    LogSoftmax: [LogSoftmax()],
    Softmax: [Softmax()],
    Conv1d: [Conv1d(1, 8, 3, length=16), Conv1d(2, 3, 2, stride=2, bias=True), Conv1d(1, 1, 1)],
    Conv2d: [Conv2d(1, 2, 2, size=(3, 3)), Conv2d(1, 2, (2, 3), stride=(1, 2), bias=True)],
    Residual: [Residual(Linear(4, 4), ReLU(), Linear(4, 4)),
               Residual(Residual(Linear(2, 2)), ReLU(), Linear(2, 2)),
               Residual(Conv1d(2, 2, 1, length=4), ReLU(), Conv1d(2, 2, 1))],
    Attention: [Attention(8, 4), Attention(8, 2, 2, tokens=4, kind="factors"),
                Attention(6, 3, kind="linear")],
    LinearAttention: [LinearAttention(4, 2), LinearAttention(4, 2, 3, tokens=5)],
    AvgPool1d: [AvgPool1d(2), AvgPool1d(3, stride=1)],
    AvgPool2d: [AvgPool2d(2), AvgPool2d((2, 3), stride=(1, 2))],
    MaxPool1d: [MaxPool1d(2), MaxPool1d(3, stride=2)],
    MaxPool2d: [MaxPool2d(2), MaxPool2d(2, stride=1), MaxPool2d((3, 2))],
    AdaptiveAvgPool1d: [AdaptiveAvgPool1d(1), AdaptiveAvgPool1d(4)],
    AdaptiveAvgPool2d: [AdaptiveAvgPool2d(1), AdaptiveAvgPool2d((2, 3))],
    Embedding: [Embedding(6, 3), Embedding(1, 1)],
    LayerNorm: [LayerNorm(5), LayerNorm(3, eps=0, bias=False),
                LayerNorm(4, eps="1/10", elementwise_affine=False)],
    RMSNorm: [RMSNorm(5), RMSNorm(3, eps=0), RMSNorm(4, eps="1/10", elementwise_affine=False)],
    GroupNorm: [GroupNorm(2, 6), GroupNorm(3, 9, eps=0, affine=False)],
    BatchNorm1d: [BatchNorm1d(5, batch=8), BatchNorm1d(3, batch=2, eps="1/10", affine=False)],
    BatchNorm2d: [BatchNorm2d(4, batch=8), BatchNorm2d(2, batch=2, eps="1/10", affine=False)],
    Tanh: [Tanh()],
    Sigmoid: [Sigmoid()],
    GELU: [GELU(), GELU("tanh")],
    SiLU: [SiLU()],
    Softplus: [Softplus(), Softplus("1/2"), Softplus(3)],
    ELU: [ELU(), ELU(Fraction(1, 2))],
}

HELP = ("Linear(n_in,n_out[,bias]), ReLU, "
        "Conv1d(c_in,c_out,k[,stride=s][,padding=p][,dilation=d][,groups=g][,bias][,length=n]), "
        "Conv2d(c_in,c_out,kxk[,stride=s][,padding=p][,dilation=d][,groups=g][,bias][,size=hxw]), "
        "Residual(layers...), "
        "Attention(d,heads[,head_dim][,tokens=n][,factors|linear][,bias]), "
        "LinearAttention(d,heads[,head_dim][,tokens=n]), LeakyReLU[(a/b)], LogSoftmax, "
        "Softmax, AvgPool1d(k[,stride=s]), AvgPool2d(kxk[,stride=s]), MaxPool1d(k[,stride=s]), "
        "MaxPool2d(kxk[,stride=s]), AdaptiveAvgPool1d(n), AdaptiveAvgPool2d(hxw), "
        "Embedding(tokens,dim), LayerNorm(n[,eps=a/b][,affine=False][,bias=False]), "
        "RMSNorm(n[,eps=a/b][,affine=False]), "
        "GroupNorm(groups,channels[,eps=a/b][,affine=False]), "
        "BatchNorm1d(m,batch=N[,eps=a/b][,affine=False]), "
        "BatchNorm2d(C,batch=N[,eps=a/b][,affine=False]), Tanh, Sigmoid, GELU[(erf|tanh)], "
        "SiLU, Softplus[(beta)] or ELU[(alpha)]")


def test_every_registered_type_has_examples():
    assert set(EXAMPLES) == set(registry.LAYER_TYPES)


@pytest.mark.parametrize("layer", [layer for layers in EXAMPLES.values() for layer in layers],
                         ids=repr)
def test_every_layer_round_trips_spec_parse_spec_and_repr(layer):
    (parsed,) = parse_layers(layer.spec(), "net:" + layer.spec())
    assert parsed == layer and type(parsed) is type(layer)
    assert parsed.spec() == layer.spec() and repr(parsed) == repr(layer)
    assert layer.canonical()[0] in type(layer).kinds


def test_every_kind_has_a_forward_rule_and_a_candidate_law_role():
    for kind, rule in registry.by_kind().items():
        assert rule.role in ROLES, kind
        assert rule.forward is not Layer.forward, kind
        if rule.role == PARAMETRISED:
            assert rule.weights and rule.readers is not Layer.readers, kind
        if rule.role == BLOCK:
            assert rule.inner is not Layer.inner, kind
        if rule.role == ALONE:
            assert rule.symmetries is not Layer.symmetries, kind
    # every kind the user side builds has its semantics in the kernel, and only those
    from exactcl.kernel.layers import RULES
    assert set(registry.by_kind()) == set(RULES) == {"linear", "relu", "leaky_relu", "conv",
                                                     "residual", "attention", "softmax_head",
                                                     "avgpool", "maxpool", "embedding",
                                                     "layer_norm", "rms_norm", "group_norm",
                                                     "batch_norm", "batch_norm_2d", "tanh",
                                                     "sigmoid", "gelu", "silu", "softplus",
                                                     "elu"}


def test_the_help_text_lists_every_spec_head_in_registry_order():
    text = registry.spec_help()
    assert text == HELP
    from exactcl.layers.program import _SPEC_LAYERS
    assert _SPEC_LAYERS == HELP
    heads = [re.match(r"[A-Za-z0-9]+", part).group().lower()
             for part in re.split(r", (?![^()]*\))| or ", text)]
    assert heads == [h for t in registry.LAYER_TYPES for h in t.spec_heads]
    assert set(heads) == set(registry.by_head())


def test_no_two_types_share_a_head_or_a_torch_name():
    for names in ("spec_heads", "torch_modules", "torch_functions", "torch_methods"):
        every = [n for t in registry.LAYER_TYPES for n in getattr(t, names)]
        assert len(every) == len(set(every)), names


def test_the_torch_refusals_list_what_the_registry_reads():
    from exactcl.torch import capture
    assert capture._expected_modules() == ("Linear, Conv1d, Conv2d, Embedding, ReLU, LeakyReLU, "
                                           "LogSoftmax, Softmax, AvgPool1d, AvgPool2d, "
                                           "MaxPool1d, MaxPool2d, AdaptiveAvgPool1d, "
                                           "AdaptiveAvgPool2d, LayerNorm, RMSNorm, GroupNorm, "
                                           "BatchNorm1d, BatchNorm2d, Tanh, Sigmoid, GELU, "
                                           "SiLU, Softplus, ELU, Flatten, Identity, "
                                           "Dropout, "
                                           "MultiheadAttention")
    assert capture._expected_functions() == ("a layer, F.relu, F.leaky_relu, F.max_pool1d/2d, "
                                             "F.linear, F.conv1d/2d, F.log_softmax, F.softmax, "
                                             "F.avg_pool1d/2d, F.adaptive_avg_pool1d/2d, "
                                             "F.embedding, F.layer_norm, F.rms_norm, "
                                             "F.group_norm, torch.tanh, torch.sigmoid, F.gelu, "
                                             "F.silu, F.softplus, F.elu, torch.flatten or a "
                                             "residual +")
    assert capture._expected_methods() == ("relu, log_softmax, softmax, tanh, sigmoid, flatten, "
                                           "view/reshape(x.size(0), -1), add or contiguous")


# -- a layer type registered by itself ---------------------------------------------------

@dataclass(frozen=True)
class Scale(Layer):
    """x -> c x, c a positive int: a toy activation."""

    c: int

    kinds = ("scale",)
    spec_heads = ("scale",)
    spec_help = "Scale(c)"
    role = PASSES_RESCALING
    torch_modules = ("Hardtanh",)  # read as its max_val, a toy translation

    def __repr__(self) -> str:
        return f"Scale({self.c})"

    def canonical(self, size=None) -> list:
        return ["scale", self.c]

    def spec(self) -> str:
        return f"Scale({self.c})"

    @classmethod
    def from_spec(cls, call: SpecCall) -> Scale:
        c = spec_int(call.body or "")
        if c is None or c < 1:
            raise call.fail("must have a positive int c")
        return cls(c)

    @staticmethod
    def forward(layer, run, a, shape):
        return [layer[1] * v for v in a], shape

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        x = reader.single_input(node, sub)
        return reader.append(node, x, cls(int(sub.max_val)), x.shape)


@pytest.fixture
def scale_registered(monkeypatch):
    monkeypatch.setattr(registry, "LAYER_TYPES", registry.LAYER_TYPES + (Scale,))


def test_a_new_layer_type_is_parsed_canonicalised_and_forwarded(scale_registered):
    layers = parse_layers("Conv1d(1,2,2,length=3),Scale(3),Residual(Linear(4,4),Scale(2)),"
                          "Linear(4,1)", "net:...")
    assert layers[1] == Scale(3) and layers[2].layers[1] == Scale(2)
    canonical = Program(tuple(layers)).canonical()
    assert canonical == [["conv", 1, 2, [2], [1], False, [3]], ["scale", 3],
                         ["residual", [["linear", 4, 4, False], ["scale", 2]]],
                         ["linear", 4, 1, False]]
    values = {f"K1_{o}_0_{t}": 1 for o in range(2) for t in range(2)}
    values.update({f"W2_{i}_{j}": int(i == j) for i in range(4) for j in range(4)})
    values.update({f"W3_0_{j}": Fraction(1, 2) for j in range(4)})
    # conv [3, 5, 3, 5], x3, plus twice itself: [27, 45, 27, 45], half their sum
    assert output(canonical, values, [1, 2, 3]) == [Fraction(72)]
    with pytest.raises(ValueError, match="layer 2, 'Scale\\(0\\)', must have a positive int c"):
        parse_layers("Linear(2,2),Scale(0)", "net:...")


def test_a_new_layer_type_is_read_from_torch(scale_registered):
    torch = pytest.importorskip("torch")
    from exactcl.torch.capture import capture
    module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Hardtanh(0.0, 3.0),
                                 torch.nn.Linear(2, 1))
    got = capture(torch, module, (2,))
    assert [repr(s.layer) for s in got.flat()] == ["Linear(2, 2, bias=True)", "Scale(3)",
                                                   "Linear(2, 1, bias=True)"]


def test_every_layer_type_is_public_at_the_top_of_the_package():
    import exactcl
    for layer_cls in registry.LAYER_TYPES:
        assert getattr(exactcl, layer_cls.__name__) is layer_cls
        assert layer_cls.__name__ in dir(exactcl)
    with pytest.raises(AttributeError, match="no attribute 'Pool'"):
        exactcl.Pool  # noqa: B018 (the attribute access is the test)

"""The layer types exactcl knows: one line each, in the order the spec
language's help text lists them, and the tables read from them.

A layer type is a subclass of :class:`~exactcl.layers.base.Layer` defined
in its family's module (everything user-side about it: checks, spec,
canonical form, forward rule, candidate-law role, torch translation); its
line here is all that makes it known to the spec parser, the forward
interpreter, the candidate laws and the torch capture.

>>> by_head()["conv2d"].__name__, by_head()["relu"].kinds
('Conv2d', ('relu',))
>>> layer_type("conv").__name__, layer_type("pool")
('Conv1d', None)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .activations import LeakyReLU, ReLU
from .attention import Attention, LinearAttention
from .base import Layer
from .batchnorm import BatchNorm1d, BatchNorm2d
from .conv import Conv1d, Conv2d
from .dense import Linear
from .embedding import Embedding
from .heads import LogSoftmax, Softmax
from .norm import GroupNorm, LayerNorm, RMSNorm
from .pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from .residual import Residual
from .smooth import ELU, GELU, Sigmoid, SiLU, Softplus, Tanh

__all__ = ["LAYER_TYPES", "by_head", "by_kind", "layer_type", "spec_help", "torch_functions",
           "torch_methods", "torch_modules"]

#: Every layer type, in the order the help text of spec errors lists them.
LAYER_TYPES: tuple[type[Layer], ...] = (
    Linear,
    ReLU,
    Conv1d,
    Conv2d,
    Residual,
    Attention,
    LinearAttention,
    LeakyReLU,
    LogSoftmax,
    Softmax,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    Embedding,
    LayerNorm,
    RMSNorm,
    GroupNorm,
    BatchNorm1d,
    BatchNorm2d,
    Tanh,
    Sigmoid,
    GELU,
    SiLU,
    Softplus,
    ELU,
)


@dataclass(frozen=True)
class _Tables:
    heads: dict
    kinds: dict
    modules: dict
    functions: dict
    methods: dict
    help: str


def _index(types, names) -> dict:
    """name -> the layer type giving it, from ``names(type)`` (the first
    type, should two give one name)."""
    out: dict = {}
    for t in types:
        for name in names(t):
            out.setdefault(name, t)
    return out


@lru_cache(maxsize=4)
def _tables(types: tuple) -> _Tables:
    helps = [t.spec_help for t in types]
    # types sharing a kind (Conv1d and Conv2d) share its rules: the first gives them
    return _Tables(_index(types, lambda t: t.spec_heads), _index(types, lambda t: t.kinds),
                   _index(types, lambda t: t.torch_modules),
                   _index(types, lambda t: t.torch_functions),
                   _index(types, lambda t: t.torch_methods),
                   ", ".join(helps[:-1]) + " or " + helps[-1])


def by_head() -> dict[str, type[Layer]]:
    """Spec head (lower case) -> layer type."""
    return _tables(LAYER_TYPES).heads


def by_kind() -> dict[str, type[Layer]]:
    """Canonical kind -> the layer type whose rules its layers follow."""
    return _tables(LAYER_TYPES).kinds


def layer_type(kind: object) -> type[Layer] | None:
    """The layer type of canonical layers of ``kind``, None for an unknown one."""
    return by_kind().get(kind) if isinstance(kind, str) else None


def spec_help() -> str:
    """The spec syntax of every layer type, for the message refusing an
    unknown layer."""
    return _tables(LAYER_TYPES).help


def torch_modules() -> dict[str, type[Layer]]:
    """Name of a ``torch.nn`` class -> the layer type reading it."""
    return _tables(LAYER_TYPES).modules


def torch_functions() -> dict[str, type[Layer]]:
    """``"F.name"`` or ``"torch.name"`` -> the layer type reading that function."""
    return _tables(LAYER_TYPES).functions


def torch_methods() -> dict[str, type[Layer]]:
    """Tensor method name -> the layer type reading it."""
    return _tables(LAYER_TYPES).methods

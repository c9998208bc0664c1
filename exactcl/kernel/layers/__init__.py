"""The kernel's semantics of every layer family, one module per family, and
the registry the interpreter (:mod:`exactcl.kernel.blocks`), the
certificate reader and the name check find them in. Adding a layer family
is its module here (a :class:`~exactcl.kernel.layers.base.LayerRule`) and
one line below.
"""

from __future__ import annotations

from .activations import LEAKY_RELU, RELU
from .attention import ATTENTION
from .base import LayerRule
from .batchnorm import BATCH_NORM, BATCH_NORM_2D
from .conv import CONV
from .dense import LINEAR
from .embedding import EMBEDDING
from .heads import SOFTMAX_HEAD
from .norm import GROUP_NORM, LAYER_NORM, RMS_NORM
from .pooling import AVG_POOL, MAX_POOL
from .residual import RESIDUAL
from .smooth import ELU, GELU, SIGMOID, SILU, SOFTPLUS, TANH

#: The registered layer rules, in the order messages list them.
RULES: dict[str, LayerRule] = {rule.kind: rule for rule in (
    LINEAR,
    RELU,
    CONV,
    RESIDUAL,
    ATTENTION,
    LEAKY_RELU,
    SOFTMAX_HEAD,
    AVG_POOL,
    MAX_POOL,
    EMBEDDING,
    LAYER_NORM,
    RMS_NORM,
    GROUP_NORM,
    BATCH_NORM,
    BATCH_NORM_2D,
    TANH,
    SIGMOID,
    GELU,
    SILU,
    SOFTPLUS,
    ELU,
)}

#: The kinds the chain evaluator (:mod:`exactcl.kernel.evaluator`) runs
#: alone, faster; a program with any other layer is a block program.
CHAIN_KINDS = ("linear", "relu")

#: net: name head -> rule.
NAME_HEADS: dict[str, LayerRule] = {head: rule for rule in RULES.values() for head in rule.heads}


def rule_of(layer: object) -> LayerRule | None:
    """The rule of a canonical layer (a list whose first item is its kind),
    or None when it names no registered kind."""
    if isinstance(layer, (list, tuple)) and layer and isinstance(layer[0], str):
        return RULES.get(layer[0])
    return None


def sequence_kinds() -> str:
    """The kinds a sequence may hold, for messages: 'linear, relu, conv or residual'."""
    kinds = [rule.kind for rule in RULES.values() if not rule.alone]
    return ", ".join(kinds[:-1]) + " or " + kinds[-1]


__all__ = ["CHAIN_KINDS", "NAME_HEADS", "RULES", "LayerRule", "rule_of", "sequence_kinds"]

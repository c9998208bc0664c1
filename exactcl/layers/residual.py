"""Residual blocks, x -> x + block(x): the layer, its spec
``Residual(layers...)``, its canonical form ``["residual", [layers...]]``,
its exact forward rule and its role for candidate laws (a block: its own
layers rescale among themselves, and the residual stream through it, see
:mod:`exactcl.models.blocks`). Its torch form, ``x + f(x)``, is read by
the capture's generic ``add`` (:mod:`exactcl.torch.capture`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..kernel.blocks import MAX_LAYERS, MAX_NESTING
from ..kernel.errors import InputError, ResourceError
from .base import (
    BLOCK,
    Layer,
    SpecCall,
    canonical_layers,
    check_layer_count,
    check_layer_objects,
    split_layers,
    tree_sizes,
)

__all__ = ["Residual"]


@dataclass(frozen=True, init=False)
class Residual(Layer):
    """x -> x + block(x): the block must give its input's shape.

    >>> from exactcl.layers.program import Linear, ReLU
    >>> Residual(Linear(4, 4), ReLU(), Linear(4, 4))
    Residual(Linear(4, 4), ReLU(), Linear(4, 4))
    """

    layers: tuple

    kinds = ("residual",)
    spec_heads = ("residual",)
    spec_help = "Residual(layers...)"
    example = "Residual(layers...)"
    role = BLOCK

    def __init__(self, *layers) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        check_layer_count(layers, "Argument 'layers' of Residual")
        check_layer_objects(layers, "Residual")
        depth, count = tree_sizes(layers)
        if depth + 1 > MAX_NESTING:
            raise InputError(f"Argument 'layers' of Residual nests residual blocks {depth + 1} "
                             f"deep; the limit is {MAX_NESTING}.")
        if count + 1 > MAX_LAYERS:
            raise ResourceError(f"Argument 'layers' of Residual makes a block of {count + 1:,} "
                                f"layers (itself and those of nested blocks included); the limit "
                                f"is {MAX_LAYERS:,}.")
        object.__setattr__(self, "layers", tuple(layers))

    def __repr__(self) -> str:
        return "Residual(" + ", ".join(map(repr, self.layers)) + ")"

    def canonical(self, size=None) -> list:
        return ["residual", canonical_layers(self.layers)]

    def canonical_at(self, shape) -> list:
        return ["residual", canonical_layers(self.layers, shape)]

    def spec(self) -> str:
        return "Residual(" + ",".join(layer.spec() for layer in self.layers) + ")"

    @property
    def children(self) -> tuple:
        return self.layers

    @classmethod
    def from_spec(cls, call: SpecCall) -> Residual:
        """``Residual(Linear(4,4),ReLU,Linear(4,4))``: its layers parsed in
        turn, numbered ``n.1``, ``n.2``..."""
        if not call.body:
            raise call.fail("must list the layers of its block")
        if call.depth >= MAX_NESTING:
            raise call.fail(f"nests residual blocks {call.depth + 1} deep; the limit is "
                            f"{MAX_NESTING}")
        return cls(*[call.parse(piece.strip(), f"{call.n}.{k}", call.depth + 1)
                     for k, piece in enumerate(split_layers(call.body), 1)])

    @staticmethod
    def forward(layer, run, a: list, shape):
        """``a + block(a)``."""
        inner, _ = run.sequence(layer[1], a, shape)
        return [u + v for u, v in zip(a, inner)], shape

    @staticmethod
    def inner(layer) -> list:
        return layer[1]

"""Activations: ReLU, its spec ``ReLU``, its canonical form ``["relu"]``,
its exact forward rule, its role for candidate laws (positive diagonal
rescalings of its units pass it), and its torch translation (``nn.ReLU``,
``F.relu``, ``torch.relu``, ``x.relu()`` and their in-place forms).
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import PASSES_RESCALING, Layer, SpecCall

__all__ = ["ReLU"]


@dataclass(frozen=True)
class ReLU(Layer):
    """A ReLU on a fixed activation pattern: phi keeps one indicator per
    neuron (the path-lifting), see :mod:`exactcl.kernel.evaluator`."""

    kinds = ("relu",)
    spec_heads = ("relu",)
    spec_help = "ReLU"
    example = "ReLU()"
    chain = True
    role = PASSES_RESCALING
    torch_modules = ("ReLU",)
    torch_functions = ("F.relu", "torch.relu", "torch.relu_", "F.relu_")
    torch_methods = ("relu", "relu_")

    def __repr__(self) -> str:
        return "ReLU()"

    def canonical(self, size=None) -> list:
        return ["relu"]

    def spec(self) -> str:
        return "ReLU"

    @classmethod
    def from_spec(cls, call: SpecCall) -> ReLU:
        if call.body:
            raise call.unknown()
        return cls()

    @staticmethod
    def forward(layer, run, a: list, shape):
        """``max(0, a)`` unit by unit, the pattern recorded."""
        run.patterns.append([1 if v > 0 else 0 for v in a])
        return [v if v > 0 else 0 * v for v in a], shape

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        return _from_torch(reader, node, reader.single_input(node, sub))

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        if len(node.args) != 1:
            raise reader.unknown_function(node, fn)
        return _from_torch(reader, node, reader.value(node, node.args[0]))

    @classmethod
    def from_torch_method(cls, reader, node, x):
        if len(node.args) != 1 or node.kwargs:
            raise reader.unknown_method(node)
        return _from_torch(reader, node, x)


def _from_torch(reader, node, x):
    """A ReLU on ``x`` (one after a ReLU is the same function, read as none)."""
    if x.steps and isinstance(x.steps[-1].layer, ReLU):
        reader.record(node, "ReLU after a ReLU (the same function)")
        return x
    return reader.append(node, x, ReLU(), x.shape)

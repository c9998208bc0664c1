"""Heads that see the logits only up to a common constant: ``LogSoftmax``
(log-probabilities: the head of a model trained with cross-entropy) and
``Softmax`` (probabilities), as the last layer after a dense layer. Their
spec is ``LogSoftmax`` / ``Softmax``, their canonical form
``["softmax_head", "log_softmax" | "softmax"]``; torch's ``nn.LogSoftmax``,
``nn.Softmax``, ``F.log_softmax``, ``F.softmax`` (and the tensor methods)
over the logits' dimension.

What is counted is the model's functional space, which is that of the
centred logits (I - J/n) z (:mod:`exactcl.kernel.layers.heads`): the head
adds the translation symmetry of the last layer (adding a common vector to
its rows and a constant to its bias), whose laws are the column sums of the
last weight and the sum of its bias. The exact forward rule gives the
head's real output (floats: exponentials), which is what a torch module is
compared with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .base import Layer, SpecCall, tensor_entries

__all__ = ["LogSoftmax", "Softmax"]


@dataclass(frozen=True)
class LogSoftmax(Layer):
    """log softmax(z) of the logits z (the last layer, after a dense layer).

    >>> from exactcl import Linear, net
    >>> net(Linear(3, 4), LogSoftmax()).canonical()[-1]
    ['softmax_head', 'log_softmax']
    """

    kinds = ("softmax_head",)
    spec_heads = ("logsoftmax",)
    spec_help = "LogSoftmax"
    example = "LogSoftmax()"
    head = "log_softmax"
    torch_modules = ("LogSoftmax",)
    torch_functions = ("F.log_softmax", "torch.log_softmax")
    torch_methods = ("log_softmax",)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def canonical(self, size=None) -> list:
        return ["softmax_head", self.head]

    def spec(self) -> str:
        return type(self).__name__

    @classmethod
    def from_spec(cls, call: SpecCall) -> Layer:
        if call.body:
            raise call.fail(f"takes no arguments (the softmax is over the logits): write "
                            f"{cls.__name__}")
        return cls()

    @staticmethod
    def forward(layer, run, a: list, shape):
        """The head's output in floats (log-probabilities or probabilities)."""
        z = [float(v) for v in a]
        top = max(z)
        log_total = top + math.log(sum(math.exp(v - top) for v in z))
        if layer[1] == "log_softmax":
            return [v - log_total for v in z], shape
        return [math.exp(v - log_total) for v in z], shape

    @staticmethod
    def linear_laws(lay) -> list:
        """The translation symmetry of the dense layer the head follows,
        W -> W + 1 v^T, b -> b + c 1 (every logit moved by the same amount):
        each column sum of W and the sum of b.

        >>> from exactcl import Linear, net
        >>> head = net(Linear(2, 2, bias=True), Linear(2, 3, bias=True), LogSoftmax())
        >>> [label for _, label in LogSoftmax.linear_laws(head.layout)]
        ['sum of column 0 of W2', 'sum of column 1 of W2', 'sum of b2']
        """
        if len(lay.layers) < 2 or lay.layers[-2][0] != "linear":
            return []
        n = sum(1 for name, *_ in lay.tensors if name[0] != "b")  # every weight tensor
        rows, cols, o = tensor_entries(lay, f"W{n}")
        out = [([o + i * cols + j for i in range(rows)], f"sum of column {j} of W{n}")
               for j in range(cols)]
        if any(name == f"b{n}" for name, *_ in lay.tensors):
            _, _, ob = tensor_entries(lay, f"b{n}")
            out.append(([ob + i for i in range(rows)], f"sum of b{n}"))
        return out

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        return _head(cls, reader, node, reader.single_input(node, sub), sub.dim)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        bound = reader.bind(node, ("input", "dim", "_stacklevel", "dtype"),
                            {"dim": None, "_stacklevel": 3, "dtype": None})
        if bound["dtype"] is not None:
            raise reader.refuse(node, "no dtype argument", f"passes dtype={bound['dtype']}")
        return _head(cls, reader, node, reader.value(node, bound["input"]), bound["dim"])

    @classmethod
    def from_torch_method(cls, reader, node, x):
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
        if len(node.args) > 2 or set(node.kwargs) - {"dim"}:
            raise reader.unknown_method(node)
        return _head(cls, reader, node, x, dim)


@dataclass(frozen=True)
class Softmax(LogSoftmax):
    """softmax(z) of the logits z (the last layer, after a dense layer)."""

    spec_heads = ("softmax",)
    spec_help = "Softmax"
    example = "Softmax()"
    head = "softmax"
    torch_modules = ("Softmax",)
    torch_functions = ("F.softmax", "torch.softmax")
    torch_methods = ("softmax",)


def _head(cls, reader, node, x, dim):
    """The head on ``x``, a vector of logits: ``dim`` must name its dimension."""
    if len(x.shape) != 1:
        raise reader.refuse(node, f"a {cls.__name__} over a vector of logits (after a Linear)",
                            f"gets its input of shape {x.shape}")
    if dim not in (1, -1):
        raise reader.refuse(node, f"a {cls.__name__} over the logits (dim=1 or dim=-1)",
                            f"has dim={dim!r}")
    return reader.append(node, x, cls(), x.shape)

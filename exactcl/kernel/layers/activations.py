"""Activations on a fixed activation pattern, ``["relu"]``: phi keeps one
indicator per unit (the path-lifting), and a probe draws the indicators
(see :mod:`exactcl.kernel.evaluator`). An activation keeps its input's
shape, holds no parameter, and must follow a layer that may end a program
(a dense layer, a convolution or a residual block)."""

from __future__ import annotations

from .base import LayerRule, hadamard


class ReLU(LayerRule):
    kind = "relu"
    heads = ("ReLU",)
    activation = True

    def check(self, layer, shape, at, checker):
        if len(layer) != 1:
            raise ValueError(f"{at} (relu) takes no sizes, not {list(layer[1:])!r}")
        return ("relu",), shape

    def compile(self, layer, shape, layout):
        op = ["relu", len(layout.relus), shape]
        layout.relus.append(shape[0] * shape[1])
        return op, shape

    def forward(self, words, op, a, point, sigma):
        return hadamard(a, sigma[op[1]], words.prime), None

    def backward(self, words, op, delta, saved, point, sigma, grads):
        return hadamard(delta, sigma[op[1]], words.prime)

    def expand(self, op, a, context):
        base = context.relu_base[op[1]]
        return [{tuple(sorted(m + (base + i,))): v for m, v in e.items()}
                for i, e in enumerate(a)]

    def read_name(self, head, inner, block):
        return ["relu"] if inner is None else None


RELU = ReLU()

"""Dense layers x -> W x (+ b), ``["linear", n_in, n_out, bias]``: the
weight ``W{l}_{i}_{j}`` (row i, column j, l the layer's number among the
parametrised layers) and the bias ``b{l}_{i}``. A dense layer after a
convolution reads its input flattened channel by channel."""

from __future__ import annotations

import re

from .. import densemod
from ..evaluator import _add, _mul, _transpose, check_linear
from .base import LayerRule, accumulate, reshape, sym_matmul, sym_sum

_INT = r"[1-9][0-9]{0,8}"
_NAME = re.compile(rf"({_INT}),({_INT})(,bias)?")


class Dense(LayerRule):
    kind = "linear"
    blas = True
    batched = True
    heads = ("Linear",)
    ends = True
    tokenwise = True

    def check(self, layer, shape, at, checker):
        _, n_in, n_out, bias = check_linear(layer, at)
        if shape is not None and shape[0] * shape[1] != n_in:
            raise ValueError(f"{at} (linear) takes {n_in} inputs but the layer before it "
                             f"has {shape[0] * shape[1]} outputs")
        return ("linear", n_in, n_out, bias), (n_out, 1, None)

    def input_shape(self, layer, first_shape):
        return (layer[1], 1, None)

    def parameters(self, layer) -> int:
        _, n_in, n_out, bias = layer
        return n_in * n_out + (n_out if bias else 0)

    def sizes(self, layer, entries, at, totals, sequence):
        totals["parameters"] += self.parameters(layer)
        return layer[2], None

    def compile(self, layer, shape, layout):
        _, n_in, n_out, bias = layer
        flatten = tuple(shape) if shape is not None and shape[1] != 1 else None
        n = layout.next_number()
        w = layout.add_weight(f"W{n}", n_out, n_in,
                              [f"W{n}_{i}_{j}" for i in range(n_out) for j in range(n_in)])
        b = layout.add_bias(f"b{n}", n_out, [f"b{n}_{i}" for i in range(n_out)]) if bias else None
        return ["linear", w, b, flatten], (n_out, 1)

    def forward(self, words, op, a, point, sigma):
        if op[3]:
            y = next(iter(a.values()))
            a = reshape(a, y.nrows() * y.ncols(), 1, words.prime)
        out = _mul(point[op[1]], a)
        if op[2] is not None:
            out = _add(out, point[words.bias_tensor(op[2])])
        return out, a

    def backward(self, words, op, delta, saved, point, sigma, grads):
        accumulate(grads, op[1], _mul(delta, _transpose(saved)))
        if op[2] is not None:
            accumulate(grads, words.bias_tensor(op[2]), delta)
        delta = _mul(_transpose(point[op[1]]), delta)
        if op[3]:
            delta = reshape(delta, op[3][0], op[3][1], words.prime)
        return delta

    def forward_batch(self, batch, op, A):
        if op[3]:  # (a flattened matrix input: not a program of batched layers)
            raise NotImplementedError("a dense layer after a matrix-shaped layer")
        out = densemod.matmul(batch.tensors[op[1]], A, batch.prime)
        if op[2] is not None:
            out += batch.bias(op[2])
            batch.reduce(out)
        return out, A

    def backward_batch(self, batch, op, delta, saved):
        batch.grad(op[1], delta, saved)
        if op[2] is not None:
            batch.grad(batch.bias_tensor(op[2]), delta, None)
        return densemod.matmul(batch.tensors[op[1]].T, delta, batch.prime)

    def expand(self, op, a, context):
        W = context.tensor(op[1])
        a = [row[0] for row in sym_matmul(W, [[e] for e in a])]
        if op[2] is not None:
            b = context.tensor(context.layout.bias_tensor(op[2]))
            a = [sym_sum(e, b[i][0]) for i, e in enumerate(a)]
        return a

    def ones(self, op, a, layout, sequence):
        rows = layout.tensors[op[1]][1]
        return [sum(a) + (op[2] is not None)] * rows

    def degree(self, op, sequence) -> int:
        return 1

    def products(self, op, layout):
        _, rows, cols, _ = layout.tensors[op[1]]
        return [(cols, rows, op[2] is not None)]

    def read_name(self, head, inner, block):
        m = _NAME.fullmatch(inner) if inner is not None else None
        if m is None:
            return None
        return ["linear", int(m.group(1)), int(m.group(2)), m.group(3) is not None]

    def fill_size(self, layer, shape, fill):
        return layer, None


LINEAR = Dense()

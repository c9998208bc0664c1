"""Residual blocks x -> x + block(x), ``["residual", [layers]]``: the block
must give its input's shape; blocks nest at most MAX_NESTING deep. The
block's layers are numbered with the program's (their parameters follow
the order they appear in)."""

from __future__ import annotations

from ..evaluator import _add
from .base import LayerRule, sym_sum

#: Residual blocks nest at most this deep.
MAX_NESTING = 8


class Residual(LayerRule):
    kind = "residual"
    blas = True
    batched = True
    heads = ("Residual",)
    ends = True
    nested = 1
    tokenwise = True

    def check(self, layer, shape, at, checker):
        if len(layer) != 2:
            raise ValueError(f"{at} (residual) must be ['residual', [layers]], not "
                             f"{list(layer)!r}")
        inner, got = checker.sequence(layer[1], shape, f"{at} (residual) ")
        if shape is None:  # the program starts with the block: its input is the block's
            shape = checker.input_shape(inner)
        if got[:2] != shape[:2]:
            raise ValueError(f"{at} (residual) must map its input to the same shape: its block "
                             f"takes {shape[0]} x {shape[1]} and gives {got[0]} x {got[1]}")
        return ("residual", inner), shape

    def input_shape(self, layer, first_shape):
        return first_shape(layer[1])

    def sizes(self, layer, entries, at, totals, sequence):
        return entries, sequence(layer[1], entries, f"{at} ")

    def compile(self, layer, shape, layout):
        inner, inner_shape = layout.compile_sequence(layer[1], shape)
        return ["residual", inner], inner_shape if shape is None else shape  # x + block(x)

    def forward(self, words, op, a, point, sigma):
        inner, tape = words.forward_sequence(op[1], a, point, sigma)
        return _add(a, inner), tape

    def backward(self, words, op, delta, saved, point, sigma, grads):
        return _add(delta, words.backward_sequence(op[1], delta, saved, point, sigma, grads))

    def forward_batch(self, batch, op, A):
        inner, tape = batch.forward_sequence(op[1], A)
        return batch.reduce(A + inner), tape

    def backward_batch(self, batch, op, delta, saved):
        return batch.reduce(delta + batch.backward_sequence(op[1], delta, saved))

    def forward_tokens(self, words, op, tokens, point, sigma):
        inner, tape = words.forward_tokens(op[1], tokens, point, sigma)
        return [_add(a, b) for a, b in zip(tokens, inner)], tape

    def backward_tokens(self, words, op, deltas, saved, point, sigma, grads):
        inner = words.backward_tokens(op[1], deltas, saved, point, sigma, grads)
        return [_add(a, b) for a, b in zip(deltas, inner)]

    def expand(self, op, a, context):
        inner = context.forward(op[1], a)
        return [sym_sum(x, y) for x, y in zip(a, inner)]

    def ones(self, op, a, layout, sequence):
        return [x + y for x, y in zip(a, sequence(op[1], a))]

    def degree(self, op, sequence) -> int:
        return sequence(op[1])

    def children(self, op) -> list:
        return op[1]

    def read_name(self, head, inner, block):
        layers = block(inner) if inner is not None else None
        return None if layers is None else ["residual", layers]

    def fill_size(self, layer, shape, fill):
        inner, _ = fill(layer[1], shape)
        return ["residual", inner], shape


RESIDUAL = Residual()

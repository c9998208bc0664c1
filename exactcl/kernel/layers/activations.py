"""Activations on a fixed activation pattern, ``["relu"]`` and
``["leaky_relu", "a/b"]``: phi keeps one indicator per unit (the
path-lifting), and a probe draws the indicators (see
:mod:`exactcl.kernel.evaluator`). An activation keeps its input's
shape, holds no parameter, and must follow a layer that may end a program
(a dense layer, a convolution or a residual block)."""

from __future__ import annotations

import re
from math import gcd

from flint import fmpq

from ..evaluator import _balanced
from .base import LayerRule, hadamard, put


class ReLU(LayerRule):
    kind = "relu"
    blas = True
    batched = True
    heads = ("ReLU",)
    activation = True
    tokenwise = True

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

    def _batch_mask(self, batch, op):
        """The units' multipliers of a batch of probes (a column per probe)."""
        return batch.masks[op[1]]

    def forward_batch(self, batch, op, A):
        return batch.reduce(A * self._batch_mask(batch, op)), None

    def backward_batch(self, batch, op, delta, saved):
        return batch.reduce(delta * self._batch_mask(batch, op))

    def expand(self, op, a, context):
        base = context.relu_base[op[1]]
        return [{tuple(sorted(m + (base + i,))): v for m, v in e.items()}
                for i, e in enumerate(a)]

    def read_name(self, head, inner, block):
        return ["relu"] if inner is None else None


RELU = ReLU()


#: A slope is a reduced rational "a/b" (b >= 1) of at most this many digits each.
MAX_SLOPE_DIGITS = 40
_SLOPE = re.compile(rf"(-?[1-9][0-9]{{0,{MAX_SLOPE_DIGITS - 1}}}|0)/([1-9][0-9]{{0,{MAX_SLOPE_DIGITS - 1}}})")


def read_slope(text: object) -> tuple[int, int] | None:
    """(a, b) of a slope written ``"a/b"`` in lowest terms with b >= 1, or None.

    >>> read_slope("1/100"), read_slope("-3/7"), read_slope("2/4"), read_slope("0.01")
    ((1, 100), (-3, 7), None, None)
    """
    m = _SLOPE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        return None
    a, b = int(m.group(1)), int(m.group(2))
    return (a, b) if gcd(a, b) == 1 else None


class LeakyReLU(ReLU):
    """``["leaky_relu", "a/b"]``: x -> x on active units, (a/b) x on the
    others. On a probe a unit is multiplied by q + (1 - q) sigma, q = a/b,
    computed mod p as a * b^-1; a prime dividing b is refused (the value
    would not be the reduction of the rational one), so a rank mod p stays
    a lower bound (docs/design.md, rational constants of a layer)."""

    kind = "leaky_relu"
    heads = ("LeakyReLU",)

    def check(self, layer, shape, at, checker):
        if len(layer) != 2 or read_slope(layer[1]) is None:
            raise ValueError(f"{at} (leaky_relu) must be ['leaky_relu', slope] with the slope a "
                             f"rational \"a/b\" in lowest terms, b >= 1, of at most "
                             f"{MAX_SLOPE_DIGITS} digits each, not {list(layer[1:])!r}")
        return ("leaky_relu", layer[1]), shape

    def compile(self, layer, shape, layout):
        op, shape = super().compile(layer, shape, layout)
        op[0] = "leaky_relu"
        return op + list(read_slope(layer[1])), shape

    @staticmethod
    def _slope(p: int, op) -> int:
        """q = a/b mod p (a prime dividing b refused)."""
        a, b = op[3:5]
        if b % p == 0:
            raise ValueError(f"the prime {p} divides the denominator of the slope {a}/{b}")
        return a * pow(b, -1, p) % p

    @classmethod
    def _mask(cls, words, op, sigma) -> list[int]:
        p = words.prime
        q = cls._slope(p, op)
        return [(q + (1 - q) * s) % p for s in sigma[op[1]]]

    def _batch_mask(self, batch, op):
        """q + (1 - q) sigma on a batch's columns: q and 1 - q balanced, each
        product below h^2 and the sum below 2^51, reduced."""
        p = batch.prime
        q = self._slope(p, op)
        return batch.reduce(float(_balanced((1 - q) % p, p)) * batch.masks[op[1]]
                            + float(_balanced(q, p)))

    def forward(self, words, op, a, point, sigma):
        return hadamard(a, self._mask(words, op, sigma), words.prime), None

    def backward(self, words, op, delta, saved, point, sigma, grads):
        return hadamard(delta, self._mask(words, op, sigma), words.prime)

    def expand(self, op, a, context):
        base, q = context.relu_base[op[1]], fmpq(op[3], op[4])
        out = []
        for i, e in enumerate(a):
            entry: dict = {}
            for m, v in e.items():
                if q:  # (a term whose coefficient is 0 is left out)
                    put(entry, m, v * q)
                if q != 1:
                    put(entry, tuple(sorted(m + (base + i,))), v * (1 - q))
            out.append(entry)
        return out

    def read_name(self, head, inner, block):
        return ["leaky_relu", inner] if read_slope(inner) is not None else None


LEAKY_RELU = LeakyReLU()

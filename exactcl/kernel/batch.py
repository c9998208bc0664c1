"""The fields of many probes of a block program at once, on BLAS.

The gradient of F = u . f(x) for one probe is one forward and one reverse
pass (:class:`exactcl.kernel.blocks.Words`, on jets). For B probes the two
passes run on B columns together: an activation is an n x B float64 array of
balanced residues mod p, one column per probe, and each layer's rule has a
batched form beside its jet form (:attr:`~exactcl.kernel.layers.base.LayerRule.batched`,
``forward_batch``, ``backward_batch``: dense layers, ReLU, LeakyReLU and
residual blocks). A weight's gradient for probe k is the outer product
delta_k a_k^T of the column of the reverse pass and the column of the
forward pass that reach it, so the reverse pass records those factors and
the rows are read off them: row k of the result is the value of probe k's
field, the same residues as :meth:`~exactcl.kernel.blocks.Words.row` gives
one probe at a time (``tests/test_blas_evaluator.py`` compares them).

Exact as :mod:`~exactcl.kernel.densemod` is: products by
:func:`~exactcl.kernel.densemod.matmul`, a product of two balanced residues
below h^2 < 2^50 and a sum of two below p, each reduced at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import densemod
from .layers import RULES

__all__ = ["ProbeBatch", "probe_rows"]


class ProbeBatch:
    """What the batched rules read: the prime, the parameter tensors at the
    point (float64 balanced residues), the masks of the activations (one
    n x B array per ReLU, a column per probe), and the factors of the
    gradients that the reverse pass records (:meth:`grad`)."""

    def __init__(self, words, masks: list[np.ndarray]) -> None:
        self.prime, self.masks = words.prime, masks
        self.tensors = [P[0].a for P in words.point]
        self._bias0 = words.bias_tensor(0)
        self.factors: dict[int, list[tuple[np.ndarray, np.ndarray | None]]] = {}

    def bias(self, b: int) -> np.ndarray:
        """Bias ``b`` at the point, as a column."""
        return self.tensors[self._bias0 + b]

    def bias_tensor(self, b: int) -> int:
        return self._bias0 + b

    def grad(self, t: int, delta: np.ndarray, a: np.ndarray | None) -> None:
        """Record that tensor t's gradient for probe k adds delta_k a_k^T (a
        bias: delta_k, ``a`` None)."""
        self.factors.setdefault(t, []).append((delta, a))

    def reduce(self, x: np.ndarray) -> np.ndarray:
        return densemod.reduce(x, self.prime, inplace=True)

    def forward_sequence(self, ops, A: np.ndarray) -> tuple[np.ndarray, list]:
        tape = []
        for op in ops:
            A, saved = RULES[op[0]].forward_batch(self, op, A)
            tape.append(saved)
        return A, tape

    def backward_sequence(self, ops, delta: np.ndarray, tape: list) -> np.ndarray:
        for op, saved in zip(reversed(ops), reversed(tape)):
            delta = RULES[op[0]].backward_batch(self, op, delta, saved)
        return delta


def _columns(vectors: Sequence[Sequence[int]], size: int, p: int) -> np.ndarray:
    """The vectors as the columns of a size x B array of balanced residues."""
    if not vectors:
        return np.zeros((size, 0))
    return densemod.balanced(np.array([[v % p for v in x] for x in vectors], dtype=np.int64),
                             p).T.copy()


def probe_rows(words, nodes: Sequence[int], out: np.ndarray) -> None:
    """Write the values of probe fields ``nodes`` of a block program's
    :class:`~exactcl.kernel.blocks.Words` (on BLAS,
    :meth:`~exactcl.kernel.blocks.BlockLayout.batched`) into the
    rows of ``out`` (len(nodes) x D), one forward and one reverse pass for
    all of them."""
    lay, p = words.layout, words.prime
    probes = [words.probes[n] for n in nodes]
    masks = [_columns([pr.sigma[i] for pr in probes], width, p)
             for i, width in enumerate(lay.relus)]
    batch = ProbeBatch(words, masks)
    X = _columns([pr.x for pr in probes], lay.input_shape[0], p)
    U = _columns([pr.u for pr in probes], lay.output_shape[0] * lay.output_shape[1], p)
    _, tape = batch.forward_sequence(lay.ops, X)
    batch.backward_sequence(lay.ops, U, tape)
    B = len(nodes)
    out[...] = 0.0
    for t, parts in batch.factors.items():
        _, rows, cols, o = lay.tensors[t]
        block = np.zeros((B, rows, cols))
        for delta, a in parts:
            if a is None:  # a bias: delta itself
                block[:, :, 0] += delta.T
            else:
                block += delta.T[:, :, None] * a.T[:, None, :]  # |terms| <= h^2 + p
            densemod.reduce(block, p, inplace=True)
        out[:, o:o + rows * cols] = block.reshape(B, rows * cols)

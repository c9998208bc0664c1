"""Embeddings, ``["embedding", V, d]``: token i gives row i of the weight E
(V x d). Token i written as the one-hot vector e_i, the layer is the dense
map x -> W x with W = E^T, and its parameters are named as a dense layer's:
``W{l}_{j}_{i}`` is E[i, j] (row j of W, column i), so that candidate
laws, readers and parameter order are a dense layer's.

Its data are one-hot vectors only, and the model on them is affine in the
input at a fixed pattern (net(e_i) = A e_i + B): its functional space is
that of A + B 1^T, which can be smaller than a dense layer's (A and B
apart) when a bias follows. So the rule maps the probe's input x to
x' = (x_1, ..., x_{V-1}, 1 - x_1 - ... - x_{V-1}), on the hyperplane of the
one-hot vectors, before W: then net(x') = sum_i x'_i net(e_i), every probe
field lies in the one-hot model's W, and the coefficients of net(x') in x
span exactly its components (docs/design.md, embeddings). x_V is not read.
The layer must be the program's first: its input is the token.
"""

from __future__ import annotations

import re

from flint import nmod_mat

from ..evaluator import _mul, _transpose
from .base import LayerRule, accumulate, positive, sym_matmul

_INT = r"[1-9][0-9]{0,8}"
_NAME = re.compile(rf"({_INT}),({_INT})")


def _plane(a: dict, V: int, p: int) -> dict:
    """The jet of x' from that of x (V x 1): the last entry replaced by 1 minus
    the others (its constant part), minus the others (its nilpotent parts)."""
    out = {}
    for m, y in a.items():
        head = [int(v) for v in y.entries()[:V - 1]]
        last = (1 if m == 0 else 0) - sum(head)
        out[m] = nmod_mat(V, 1, head + [last % p], p)
    if 0 not in out:
        out[0] = nmod_mat(V, 1, [0] * (V - 1) + [1], p)
    return out


class Embedding(LayerRule):
    kind = "embedding"
    heads = ("Embedding",)
    ends = True

    def check(self, layer, shape, at, checker):
        if len(layer) != 3 or not all(positive(v) for v in layer[1:]):
            raise ValueError(f"{at} (embedding) must be ['embedding', tokens, dim] with positive "
                             f"int sizes, not {list(layer)!r}")
        if shape is not None:
            raise ValueError(f"{at} (embedding) must be the program's first layer (its input is "
                             f"a token), not after another layer or inside a block")
        return ("embedding", layer[1], layer[2]), (layer[2], 1, None)

    def input_shape(self, layer, first_shape):
        return (layer[1], 1, None)

    def parameters(self, layer) -> int:
        return layer[1] * layer[2]

    def sizes(self, layer, entries, at, totals, sequence):
        totals["parameters"] += self.parameters(layer)
        return layer[2], None

    def compile(self, layer, shape, layout):
        _, V, d = layer
        n = layout.next_number()
        w = layout.add_weight(f"W{n}", d, V, [f"W{n}_{j}_{i}" for j in range(d) for i in range(V)])
        return ["embedding", w, V], (d, 1)

    def forward(self, words, op, a, point, sigma):
        x = _plane(a, op[2], words.prime)
        return _mul(point[op[1]], x), x

    def backward(self, words, op, delta, saved, point, sigma, grads):
        accumulate(grads, op[1], _mul(delta, _transpose(saved)))
        return {}  # the first layer: nothing before it takes a gradient

    def expand(self, op, a, context):
        V = op[2]
        zero = context.gens[0] - context.gens[0]
        last = {(): zero + 1}
        for entry in a[:V - 1]:
            for mono, v in entry.items():
                last[mono] = last[mono] - v if mono in last else -v
        x = list(a[:V - 1]) + [last]
        W = context.tensor(op[1])
        return [row[0] for row in sym_matmul(W, [[e] for e in x])]

    def ones(self, op, a, layout, sequence):
        rows = layout.tensors[op[1]][1]
        head = a[:op[2] - 1]
        return [sum(head) + 1 + sum(head)] * rows  # x'_V = 1 - sum of the others

    def degree(self, op, sequence) -> int:
        return 1

    def products(self, op, layout):
        _, rows, cols, _ = layout.tensors[op[1]]
        return [(cols, rows, False)]

    def read_name(self, head, inner, block):
        m = _NAME.fullmatch(inner) if inner is not None else None
        if m is None:
            return None
        return ["embedding", int(m.group(1)), int(m.group(2))]

    def fill_size(self, layer, shape, fill):
        return layer, None


EMBEDDING = Embedding()

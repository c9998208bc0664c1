"""Heads that see the logits only up to a common constant: ``["softmax_head",
kind]`` with kind ``"log_softmax"`` (log-probabilities, the head of a model
trained with cross-entropy) or ``"softmax"`` (probabilities).

Both are invariant under adding a constant to every logit, and their
gradients span exactly what those of the centred logits C z span,
C = I - J / n (J the all-ones n x n): the Jacobian of log_softmax at z is
I - 1 p^T, whose rows are combinations of differences e_i - e_k, and
softmax's is diag(p) (I - 1 p^T) with every p_i > 0. So the functional
space of the model is that of the centred logits, and this rule's
semantics is z -> C z (docs/design.md, heads). It must be the last layer,
after a dense layer (a vector of n >= 2 logits); 1/n is computed mod p as
the inverse of n, a prime dividing n refused.
"""

from __future__ import annotations

from flint import fmpq, nmod_mat

from ..evaluator import _mul
from .base import LayerRule

HEAD_KINDS = ("log_softmax", "softmax")


class SoftmaxHead(LayerRule):
    kind = "softmax_head"
    heads = ("LogSoftmax", "Softmax")
    ends = True
    final = True

    def check(self, layer, shape, at, checker):
        if len(layer) != 2 or layer[1] not in HEAD_KINDS:
            raise ValueError(f"{at} (softmax_head) must be ['softmax_head', kind] with kind one "
                             f"of {', '.join(HEAD_KINDS)}, not {list(layer[1:])!r}")
        if shape is None or shape[1] != 1 or shape[0] < 2:
            got = "the program's input" if shape is None else f"{shape[0]} x {shape[1]}"
            raise ValueError(f"{at} (softmax_head) must follow a dense layer of at least 2 "
                             f"outputs, not {got}")
        return ("softmax_head", layer[1]), shape

    def compile(self, layer, shape, layout):
        return ["softmax_head", shape[0]], shape

    @staticmethod
    def _centring(words, n: int) -> dict:
        p = words.prime
        if n % p == 0:
            raise ValueError(f"the prime {p} divides the number of logits {n}")
        inv = pow(n, -1, p)
        return {0: nmod_mat(n, n, [((1 if i == j else 0) - inv) % p for i in range(n)
                                   for j in range(n)], p)}

    def forward(self, words, op, a, point, sigma):
        return _mul(self._centring(words, op[1]), a), None

    def backward(self, words, op, delta, saved, point, sigma, grads):
        return _mul(self._centring(words, op[1]), delta)  # C is symmetric

    def expand(self, op, a, context):
        n = op[1]
        mean = fmpq(1, n)
        out = []
        for i in range(n):
            entry: dict = {}
            for k, e in enumerate(a):
                c = (1 if i == k else 0) - mean
                for m, v in e.items():
                    entry[m] = entry[m] + v * c if m in entry else v * c
            out.append(entry)
        return out

    def ones(self, op, a, layout, sequence):
        total = sum(a)  # |C| has entries at most 1: a bound on every output's terms
        return [x + total for x in a]

    def products(self, op, layout):
        return [(op[1], op[1], False)]

    def read_name(self, head, inner, block):
        if inner is not None:
            return None
        return ["softmax_head", "log_softmax" if head == "LogSoftmax" else "softmax"]


SOFTMAX_HEAD = SoftmaxHead()

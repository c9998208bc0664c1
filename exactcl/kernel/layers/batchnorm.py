"""Batch normalisation in training mode, ``["batch_norm", m, "a/b", affine, N]``:
each of the m features is normalised over the N examples of a batch,
y_ij = gamma_j Z_ij q_j^(-1/2) + beta_j with Z = C H (C = I - J/N, H the
batch, a row per example) and q_j = (1/N) |Z_j|^2 + eps, eps = a/b > 0;
gamma ``G{l}_{j}`` and beta ``b{l}_{j}`` when ``affine``.

The batch is a network on tokens (:mod:`exactcl.kernel.tokens`) whose
tokens are the examples: the layer is the one that mixes them, every other
layer acts on each example. The kernel evaluates it on the expansion at
identical examples, where q_j = eps + (terms of order 2 in t), with
eps^(-1/2) replaced by 1: every order of the output carries that constant
exactly once or not at all, so the fields stay in the functional space
and no root is taken (docs/design.md, batch normalisation in training
mode). It must be a layer of the top level; eps = 0 is refused (the
model is not analytic at identical examples).

This module is part of the verifier's trusted base: it imports only flint
and the kernel.
"""

from __future__ import annotations

from fractions import Fraction

from ..evaluator import _add, _mul, _scale, _transpose
from .activations import MAX_SLOPE_DIGITS, read_slope
from .attention_net import T_MASK, _const, _had, _series_max, _series_product, split, stack
from .base import LayerRule, accumulate, positive
from .norm import _half_binomials

__all__ = ["BATCH_NORM"]

#: The largest batch (the tokens of attention have the same bound).
MAX_BATCH = 64


def _eps(layer) -> tuple[int, int] | None:
    got = read_slope(layer[2]) if len(layer) == 5 else None
    return got if got is not None and got[0] > 0 else None


class BatchNorm(LayerRule):
    kind = "batch_norm"
    heads = ("BatchNorm1d",)
    ends = True
    crosses_tokens = True
    token_index = 4

    def check(self, layer, shape, at, checker):
        if (len(layer) != 5 or not positive(layer[1]) or _eps(layer) is None
                or not isinstance(layer[3], bool) or not positive(layer[4])):
            raise ValueError(f"{at} (batch_norm) must be ['batch_norm', m, eps, affine, batch] "
                             f"with m and batch positive ints, eps a rational \"a/b\" > 0 in "
                             f"lowest terms of at most {MAX_SLOPE_DIGITS} digits each (eps = 0 "
                             f"is not analytic at a batch of identical examples) and affine a "
                             f"bool, not {list(layer[1:])!r}")
        m, N = layer[1], layer[4]
        if not 2 <= N <= MAX_BATCH:
            raise ValueError(f"{at} (batch_norm) must normalise over a batch of 2 to "
                             f"{MAX_BATCH} examples, not {N}")
        if shape is not None and (shape[1] != 1 or shape[0] != m):
            raise ValueError(f"{at} (batch_norm) normalises {m} features, not "
                             f"{shape[0]} x {shape[1]}")
        if getattr(checker, "depth", 0):
            raise ValueError(f"{at} (batch_norm) must be a layer of the top level, not inside "
                             f"a residual block")
        return (self.kind,) + tuple(layer[1:]), (m, 1, None)

    def input_shape(self, layer, first_shape):
        return (layer[1], 1, None)

    def parameters(self, layer) -> int:
        return 2 * layer[1] * int(layer[3])

    def sizes(self, layer, entries, at, totals, sequence):
        totals["parameters"] += self.parameters(layer)
        return entries, None

    def compile(self, layer, shape, layout):
        _, m, eps, affine, N = layer
        g = b = None
        if affine:
            number = layout.next_number()
            g = layout.add_weight(f"G{number}", m, 1, [f"G{number}_{i}" for i in range(m)])
            b = layout.add_bias(f"b{number}", m, [f"b{number}_{i}" for i in range(m)])
        return [self.kind, m, read_slope(eps), g, b, N], (m, 1)

    def forward(self, words, op, a, point, sigma):
        raise ValueError("a batch normalisation acts on a batch: it is a layer of a network on "
                         "tokens (exactcl.kernel.tokens)")

    def _constants(self, words, op):
        _, m, (num, den), g, b, N = op
        p = words.prime
        if (2 * N * num * den) % p == 0:
            raise ValueError(f"the prime {p} divides 2 N = {2 * N} or eps = {num}/{den}")
        inv_n = pow(N, -1, p)
        return (inv_n, den * pow(num, -1, p) % p, pow(2, -1, p),
                _const(N, N, lambda i, j: int(i == j) - inv_n, p),
                _const(N, 1, lambda i, j: 1, p), _const(1, N, lambda i, j: 1, p))

    def forward_tokens(self, words, op, tokens, point, sigma):
        _, m, _, g, b, N = op
        p = words.prime
        consts = self._constants(words, op)
        inv_n, inv_eps, half, C, one_col, one_row = consts
        Z = _mul(C, stack(tokens, p))
        for mask, y in Z.items():
            if not mask & T_MASK and any(int(v) for v in y.entries()):
                raise ValueError("the centred batch has a term of order 0 in t: the examples "
                                 "of the expansion point are not identical")
        Z = {mask: y for mask, y in Z.items() if mask & T_MASK}  # every term holds t
        q = _scale(_mul(one_row, _had(Z, Z, p)), inv_n)  # q - eps, 1 x m, of order >= 2
        r = _scale(q, inv_eps)  # q / eps - 1, nilpotent
        s = _series(r, m, p, _half_binomials(p))  # (1 + r)^(-1/2)
        qi = _scale(_series(r, m, p, lambda j: (-1) ** j), inv_eps)  # 1 / q
        S = _mul(one_col, s)
        Y = _had(Z, S, p)
        out = Y
        if g is not None:
            out = _add(_had(Y, _mul(one_col, _transpose(point[g])), p),
                       _mul(one_col, _transpose(point[words.bias_tensor(b)])))
        return split(out, N, p), (Z, s, qi, Y, S, consts)

    def backward_tokens(self, words, op, deltas, saved, point, sigma, grads):
        _, m, _, g, b, N = op
        p = words.prime
        Z, s, qi, Y, S, (inv_n, _, half, C, one_col, one_row) = saved
        if not any(deltas):
            return [{} for _ in range(N)]
        zero = {0: _const(m, 1, lambda i, j: 0, p)[0]}
        dY = stack([d or zero for d in deltas], p)
        if g is not None:
            accumulate(grads, words.bias_tensor(b), _mul(_transpose(dY), one_col))
            accumulate(grads, g, _mul(_transpose(_had(dY, Y, p)), one_col))
            dY = _had(dY, _mul(one_col, _transpose(point[g])), p)
        # y = Z s, s = (q / eps)^(-1/2) up to the constant: ds = -(s / (2 q)) dq, q = 1^T (Z Z) / N
        ds = _mul(one_row, _had(dY, Z, p))
        dq = _scale(_had(ds, _had(s, qi, p), p), (-half) % p)
        dZ = _add(_had(dY, S, p), _had(Z, _mul(one_col, _scale(dq, 2 * inv_n % p)), p))
        return split(_mul(C, dZ), N, p)

    def expand(self, op, a, context):
        raise ValueError("a batch normalisation is not polynomial: its network is counted by "
                         "evaluation")

    def probe_degrees_tokens(self, op, degrees):
        return _probe_degrees(degrees)

    def theta_degree_tokens(self, op, r):
        """Z (degree r) times 1 + c w (w of degree 2 r), times gamma."""
        return 3 * r + (1 if op[3] is not None else 0)

    def majorant_tokens(self, op, a):
        return [_majorant(op, a)] * op[1]

    def den_tokens(self, op):
        """2 a N^4 (docs/design.md, batch normalisation in training mode)."""
        return 2 * op[2][0] * op[5] ** 4

    def degree(self, op, sequence) -> int:
        return 1 if op[3] is not None else 0

    def products(self, op, layout):
        N, m = op[5], op[1]
        return [(N, N, False), (m, N, False), (m, N, False), (m, N, False)]

    def read_name(self, head, inner, block):
        pieces = (inner or "").split(",")
        m = int(pieces[0]) if pieces[0].isdigit() and pieces[0][0] != "0" else None
        keys = dict(piece.split("=", 1) for piece in pieces[1:] if "=" in piece)
        if m is None or len(keys) != len(pieces) - 1 or set(keys) - {"eps", "affine", "batch"}:
            return None
        batch = keys.get("batch", "")
        affine = {"True": True, "False": False}.get(keys.get("affine", "True"))
        eps = keys.get("eps", "1/100000")
        if not batch.isdigit() or batch[0] == "0" or affine is None or read_slope(eps) is None:
            return None
        return ["batch_norm", m, eps, affine, int(batch)]


BATCH_NORM = BatchNorm()


def _series(r: dict, m: int, p: int, coefficient) -> dict:
    """sum_j coefficient(j) r^j (entrywise powers) on a nilpotent 1 x m jet."""
    out = _const(1, m, lambda i, j: 1, p)
    power, j = r, 1
    while power:
        out = _add(out, _scale(power, coefficient(j) % p))
        power, j = _had(power, r, p), j + 1
    return out


# -- degrees, majorant and denominators (docs/design.md, batch normalisation) -----------------

def _probe_degrees(degrees: list) -> list:
    """Degrees in the probe's entries of the orders 0..3 of the output, from
    those of the input (a constant, beta, has degree 0 at order 0)."""
    Z = [None] + list(degrees[1:])
    s = _series_max([0, None, None, None], _series_product(Z, Z))
    return _series_max(_series_product(Z, s), [0, None, None, None])


def _majorant(op, a: Fraction) -> Fraction:
    """A bound on the absolute coefficients of an output entry when those of
    every input entry are at most ``a``: |Z| <= 2 a, |w| <= 4 a^2,
    |s| <= 1 + (1/2) |w| / eps."""
    num, den = op[2]
    z = 2 * a
    s = 1 + Fraction(den, 2 * num) * 4 * a * a
    return z * s + (1 if op[3] is not None else 0)


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

from flint import nmod_mat

from ..evaluator import _add, _mul, _scale, _transpose
from .activations import MAX_SLOPE_DIGITS, read_slope
from .attention_net import T_MASK, _const, _had, _series_max, _series_product, split, stack
from .base import LayerRule, accumulate, positive
from .conv import conv_parts
from .norm import _half_binomials

__all__ = ["BATCH_NORM", "BATCH_NORM_2D"]

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



class BatchNorm2d(BatchNorm):
    """``["batch_norm_2d", C, "a/b", affine, N]``: each of the C channels of
    an image (C x P, a convolution's output) normalised over the N examples
    and the P positions, y = gamma_c Z q_c^(-1/2) + beta_c, q_c = (1/(N P))
    |Z_c|^2 + eps (docs/design.md, BatchNorm2d). The expansion is at a batch
    of zero images, so only convolutions may precede it (the first with
    zero padding or not, the later ones with padding 0): the activation it
    reads is then constant per channel at t = 0, which the centring removes.
    """

    kind = "batch_norm_2d"
    heads = ("BatchNorm2d",)
    #: The expansion's order-0 input is the zero image (exactcl.kernel.tokens).
    zero_origin = True

    def check(self, layer, shape, at, checker):
        kind = self.kind
        if (len(layer) != 5 or not positive(layer[1]) or _eps(layer) is None
                or not isinstance(layer[3], bool) or not positive(layer[4])):
            raise ValueError(f"{at} ({kind}) must be ['{kind}', channels, eps, affine, batch] "
                             f"with channels and batch positive ints, eps a rational \"a/b\" > 0 "
                             f"in lowest terms of at most {MAX_SLOPE_DIGITS} digits each (eps = "
                             f"0 is not analytic at a batch of identical examples) and affine a "
                             f"bool, not {list(layer[1:])!r}")
        C, N = layer[1], layer[4]
        if not 2 <= N <= MAX_BATCH:
            raise ValueError(f"{at} ({kind}) must normalise over a batch of 2 to {MAX_BATCH} "
                             f"examples, not {N}")
        if getattr(checker, "depth", 0):
            raise ValueError(f"{at} ({kind}) must be a layer of the top level, not inside a "
                             f"residual block")
        if shape is None or shape[2] is None or len(shape[2]) != 2:
            before = ("the program's input" if shape is None else
                      f"a vector of {shape[0] * shape[1]} entries" if shape[2] is None else
                      f"{shape[0]} channels of 1-D positions")
            raise ValueError(f"{at} ({kind}) must follow a Conv2d (it normalises the channels of "
                             f"an image), not {before}")
        if shape[0] != C:
            raise ValueError(f"{at} ({kind}) normalises {C} channels, not {shape[0]}")
        for n, before in enumerate(getattr(checker, "before", ()), 1):
            if before[0] != "conv":
                raise ValueError(f"{at} ({kind}) may follow only convolutions (the expansion at "
                                 f"zero images needs an input constant per channel), not layer "
                                 f"{n} ({before[0]})")
            padding = conv_parts(before)[6]
            if n > 1 and any(low or high for low, high in padding):
                raise ValueError(f"{at} ({kind}) may follow a padded convolution only as the "
                                 f"first layer (a padded convolution of a constant image is not "
                                 f"constant at the border), not layer {n} (conv with padding "
                                 f"{[list(pair) for pair in padding]})")
        return (kind,) + tuple(layer[1:]), shape

    def input_shape(self, layer, first_shape):
        raise ValueError(f"a program cannot start with {self.kind}: it follows a Conv2d")

    def compile(self, layer, shape, layout):
        op, _ = super().compile(layer, shape, layout)
        return op + [shape[1]], (shape[0], shape[1])

    def _consts(self, words, op):
        _, C, (num, den), g, b, N, P = op
        p = words.prime
        n = N * P
        if (2 * n * num * den) % p == 0:
            raise ValueError(f"the prime {p} divides 2 N P = {2 * n} or eps = {num}/{den}")
        return (pow(n, -1, p), den * pow(num, -1, p) % p, pow(2, -1, p),
                _const(n, 1, lambda i, j: 1, p), _const(1, n, lambda i, j: 1, p))

    def forward_tokens(self, words, op, tokens, point, sigma):
        _, C, _, g, b, N, P = op
        p = words.prime
        inv_n, inv_eps, half, one_col, one_row = self._consts(words, op)
        H = _join(tokens, C, P, p)  # C x N P: channel c's values over the batch and positions
        Z = _add(H, _mul(_scale(_mul(H, one_col), inv_n), one_row), -1)
        for mask, y in Z.items():
            if not mask & T_MASK and any(int(v) for v in y.entries()):
                raise ValueError("the centred batch has a term of order 0 in t: the examples "
                                 "of the expansion point are not identical images constant "
                                 "per channel")
        Z = {mask: y for mask, y in Z.items() if mask & T_MASK}  # every term holds t
        q = _transpose(_scale(_mul(_had(Z, Z, p), one_col), inv_n))  # q - eps, 1 x C
        r = _scale(q, inv_eps)  # q / eps - 1, nilpotent
        s = _transpose(_series(r, C, p, _half_binomials(p)))  # (1 + r)^(-1/2), C x 1
        qi = _transpose(_scale(_series(r, C, p, lambda j: (-1) ** j), inv_eps))  # 1 / q
        S = _mul(s, one_row)
        Y = _had(Z, S, p)
        out = Y
        if g is not None:
            out = _add(_had(Y, _mul(point[g], one_row), p),
                       _mul(point[words.bias_tensor(b)], one_row))
        return _part(out, N, P, p), (Z, s, qi, Y, S)

    def backward_tokens(self, words, op, deltas, saved, point, sigma, grads):
        _, C, _, g, b, N, P = op
        p = words.prime
        Z, s, qi, Y, S = saved
        if not any(deltas):
            return [{} for _ in range(N)]
        inv_n, _, half, one_col, one_row = self._consts(words, op)
        dY = _join(deltas, C, P, p)
        if g is not None:
            accumulate(grads, words.bias_tensor(b), _mul(dY, one_col))
            accumulate(grads, g, _mul(_had(dY, Y, p), one_col))
            dY = _had(dY, _mul(point[g], one_row), p)
        # y = Z s, ds = -(s / (2 q)) dq, q = (Z Z) 1 / (N P) + eps
        ds = _mul(_had(dY, Z, p), one_col)
        dq = _scale(_had(ds, _had(s, qi, p), p), (-half) % p)
        dZ = _add(_had(dY, S, p), _had(Z, _mul(_scale(dq, 2 * inv_n % p), one_row), p))
        dH = _add(dZ, _mul(_scale(_mul(dZ, one_col), inv_n), one_row), -1)  # the centring
        return _part(dH, N, P, p)

    def majorant_tokens(self, op, a):
        return [_majorant(op, a)] * (op[1] * op[6])

    def den_tokens(self, op):
        """2 a (N P)^4 (docs/design.md, BatchNorm2d)."""
        return 2 * op[2][0] * (op[5] * op[6]) ** 4

    def products(self, op, layout):
        n, C = op[5] * op[6], op[1]
        return [(n, C, False)] * 6

    def read_name(self, head, inner, block):
        got = super().read_name(head, inner, block)
        return None if got is None else [self.kind] + got[1:]


BATCH_NORM_2D = BatchNorm2d()


def _join(tokens: list, C: int, P: int, p: int) -> dict:
    """The C x (N P) jet whose row c holds channel c of token 0, then of
    token 1, ... (each token a C x P jet; a missing term is zero)."""
    masks = sorted({m for t in tokens for m in t})
    out = {}
    for m in masks:
        parts = [t[m].entries() if m in t else None for t in tokens]
        flat = []
        for c in range(C):
            for e in parts:
                flat += [0] * P if e is None else [int(v) for v in e[c * P:(c + 1) * P]]
        out[m] = nmod_mat(C, len(tokens) * P, flat, p)
    return out


def _part(A: dict, N: int, P: int, p: int) -> list:
    """The N tokens (C x P jets) of a C x (N P) jet (:func:`_join`'s inverse)."""
    out: list = [{} for _ in range(N)]
    for m, y in A.items():
        C = y.nrows()
        e = y.entries()
        for i in range(N):
            out[i][m] = nmod_mat(C, P, [int(v) for c in range(C) for v in
                                        e[c * N * P + i * P:c * N * P + (i + 1) * P]], p)
    return out


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


"""Batch normalisation in training mode, ``["batch_norm", m, "a/b", affine, N]``:
each of the m features is normalised over the N examples of a batch,
y_ij = gamma_j Z_ij q_j^(-1/2) + beta_j with Z = C H (C = I - J/N, H the
batch, a row per example) and q_j = (1/N) |Z_j|^2 + eps, eps = a/b > 0;
gamma ``G{l}_{j}`` and beta ``b{l}_{j}`` when ``affine``.

The batch is a network on tokens (:mod:`exactcl.kernel.tokens`) whose
tokens are the examples: the layer is the one that mixes them, every other
layer acts on each example. With eps > 0 the kernel evaluates it on the
expansion at identical examples, where q_j = eps + (terms of order 2 in t),
with eps^(-1/2) replaced by 1: every order of the output carries that
constant exactly once or not at all, so the fields stay in the functional
space and no root is taken. With eps = 0 (only dense layers before it) the
expansion is at the batch v x0^T + t X' (:func:`base_vector`), where
q_j = k^2 a_j^2 + (terms holding t) and q_j^(-1/2) = s0_j (1 + nu/q0)^(-1/2)
with s0_j = 1 / (k |a_j|) rational: a rank probe brings s0_j (a_j computed
exactly, :func:`levels`), a law-check probe a free variable per feature
(docs/design.md, batch normalisation in training mode). It must be a layer
of the top level.

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
from .norm import _eps, _half_binomials, _prefix, base_vector

__all__ = ["BATCH_NORM", "BATCH_NORM_2D"]

#: The largest batch (the tokens of attention have the same bound).
MAX_BATCH = 64


class BatchNorm(LayerRule):
    kind = "batch_norm"
    heads = ("BatchNorm1d",)
    ends = True
    crosses_tokens = True
    token_index = 4

    def _check_form(self, layer, at, checker, size: str, eps_rule: str) -> None:
        """The form ``[kind, size, eps, affine, batch]``, the batch's bounds
        and the top level, shared by both batch normalisations."""
        kind = self.kind
        if (len(layer) != 5 or not positive(layer[1]) or _eps(layer) is None
                or not isinstance(layer[3], bool) or not positive(layer[4])):
            raise ValueError(f"{at} ({kind}) must be ['{kind}', {size}, eps, affine, batch] "
                             f"with {size} and batch positive ints, eps a rational \"a/b\" "
                             f"{eps_rule} in lowest terms of at most {MAX_SLOPE_DIGITS} digits "
                             f"each and affine a bool, not {list(layer[1:])!r}")
        N = layer[4]
        if not 2 <= N <= MAX_BATCH:
            raise ValueError(f"{at} ({kind}) must normalise over a batch of 2 to {MAX_BATCH} "
                             f"examples, not {N}")
        if getattr(checker, "depth", 0):
            raise ValueError(f"{at} ({kind}) must be a layer of the top level, not inside a "
                             f"residual block")

    def check(self, layer, shape, at, checker):
        self._check_form(layer, at, checker, "m", ">= 0")
        m, N = layer[1], layer[4]
        if shape is not None and (shape[1] != 1 or shape[0] != m):
            raise ValueError(f"{at} (batch_norm) normalises {m} features, not "
                             f"{shape[0]} x {shape[1]}")
        if _eps(layer)[0] == 0:
            before = [k for k, *_ in getattr(checker, "before", ())]
            if any(k != "linear" for k in before):
                raise ValueError(f"{at} (batch_norm) with eps = 0 must have only dense layers "
                                 f"before it (it is expanded where its input is affine), not "
                                 f"{next(k for k in before if k != 'linear')}")
            if N == 2:
                raise ValueError(f"{at} (batch_norm) with eps = 0 must normalise over a batch "
                                 f"of 4 or more examples, not 2 (it then gives +-1)")
            if base_vector(N) is None:
                raise ValueError(f"{at} (batch_norm) with eps = 0 needs a batch with a base "
                                 f"vector (integers of sum 0 whose squared norm over N is a "
                                 f"rational square: every even N, most odd ones), not N = {N}")
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
        if read_slope(eps)[0] == 0:
            layout.token_levels = m  # s0 per feature: probe data (exactcl.kernel.tokens)
        return [self.kind, m, read_slope(eps), g, b, N], (m, 1)

    def token_base(self, op):
        """The order-0 weights of the tokens: v of :func:`base_vector` with
        eps = 0, None (every token x0) otherwise."""
        return base_vector(op[5])[0] if op[2][0] == 0 else None

    def forward(self, words, op, a, point, sigma):
        raise ValueError("a batch normalisation acts on a batch: it is a layer of a network on "
                         "tokens (exactcl.kernel.tokens)")

    def _constants(self, words, op):
        _, m, (num, den), g, b, N = op
        p = words.prime
        if (2 * N * max(num, 1) * den) % p == 0:
            raise ValueError(f"the prime {p} divides 2 N = {2 * N} or eps = {num}/{den}")
        inv_n = pow(N, -1, p)
        return (inv_n, pow(2, -1, p),
                _const(N, N, lambda i, j: int(i == j) - inv_n, p),
                _const(N, 1, lambda i, j: 1, p), _const(1, N, lambda i, j: 1, p))

    def forward_tokens(self, words, op, tokens, point, sigma):
        _, m, (num, den), g, b, N = op
        p = words.prime
        consts = self._constants(words, op)
        inv_n, half, C, one_col, one_row = consts
        Z = _mul(C, stack(tokens, p))
        if num:  # eps > 0: q0 = eps, s0 = eps^(-1/2) replaced by 1
            for mask, y in Z.items():
                if not mask & T_MASK and any(int(v) for v in y.entries()):
                    raise ValueError("the centred batch has a term of order 0 in t: the "
                                     "examples of the expansion point are not identical")
            Z = {mask: y for mask, y in Z.items() if mask & T_MASK}  # every term holds t
        q = _scale(_mul(one_row, _had(Z, Z, p)), inv_n)  # q - eps, 1 x m
        if num:
            q0, s0 = [num * pow(den, -1, p) % p] * m, [1] * m
        else:  # eps = 0: q0 = k^2 a_j^2 (its order 0), s0 from the probe (docs/design.md)
            q0 = [int(v) for v in q.pop(0, _const(1, m, lambda i, j: 0, p)[0]).entries()]
            s0 = _s0(sigma[-1], q0, Z, op, p)
        inv_q0 = [pow(v, -1, p) for v in q0]
        row = lambda vals: _const(1, m, lambda i, j: vals[j], p)  # noqa: E731
        r = _had(q, row(inv_q0), p)  # nu / q0, nilpotent
        s = _had(_series(r, m, p, _half_binomials(p)), row(s0), p)  # s0 (1 + r)^(-1/2)
        qi = _had(_series(r, m, p, lambda j: (-1) ** j), row(inv_q0), p)  # 1 / q
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
        Z, s, qi, Y, S, (inv_n, half, C, one_col, one_row) = saved
        if not any(deltas):
            return [{} for _ in range(N)]
        zero = {0: _const(m, 1, lambda i, j: 0, p)[0]}
        dY = stack([d or zero for d in deltas], p)
        if g is not None:
            accumulate(grads, words.bias_tensor(b), _mul(_transpose(dY), one_col))
            accumulate(grads, g, _mul(_transpose(_had(dY, Y, p)), one_col))
            dY = _had(dY, _mul(one_col, _transpose(point[g])), p)
        # y = Z s, s = q^(-1/2) (up to eps^(1/2) when eps > 0): ds = -(s / (2 q)) dq,
        # q = 1^T (Z Z) / N + eps
        ds = _mul(one_row, _had(dY, Z, p))
        dq = _scale(_had(ds, _had(s, qi, p), p), (-half) % p)
        dZ = _add(_had(dY, S, p), _had(Z, _mul(one_col, _scale(dq, 2 * inv_n % p)), p))
        return split(_mul(C, dZ), N, p)

    def expand(self, op, a, context):
        raise ValueError("a batch normalisation is not polynomial: its network is counted by "
                         "evaluation")

    def probe_degrees_tokens(self, op, degrees):
        if op[2][0]:
            return _probe_degrees(degrees)
        return _probe_degrees_zero(degrees, op[1])

    def theta_degree_tokens(self, op, r):
        """Z (degree r) times 1 + c w (w of degree 2 r), times gamma; with eps
        = 0, Z times the series to nu^3 (nu of degree 2 r), times gamma, plus
        4 m deg q0 (q0 of degree 2 r) for the cleared denominators."""
        gamma = 1 if op[3] is not None else 0
        if op[2][0]:
            return 3 * r + gamma
        return 7 * r + gamma + 4 * op[1] * 2 * r

    def majorant_tokens(self, op, a):
        return [_majorant(op, a) if op[2][0] else _majorant_zero(op, a)] * op[1]

    def den_tokens(self, op):
        """2 a N^4 (docs/design.md, batch normalisation in training mode);
        with eps = 0, 16 (the binomials) times N^3 per factor q0 or nu of a
        cleared product (4 m + 3 of them) and N for Z."""
        if op[2][0]:
            return 2 * op[2][0] * op[5] ** 4
        return 16 * op[5] ** (3 * (4 * op[1] + 3) + 1)

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
        eps = "0/1" if eps == "0" else eps
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
        self._check_form(layer, at, checker, "channels", "> 0")
        if _eps(layer)[0] == 0:
            raise ValueError(f"{at} ({kind}) must have eps > 0 (the expansion at zero images "
                             f"needs it; eps = 0 is counted for batch_norm after dense layers "
                             f"only), not eps = 0")
        C = layer[1]
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


def levels(layout, raw_point, x0: list[int], p: int) -> list[int]:
    """s0_j = 1 / (k |a_j|) mod p for a rank probe of an eps = 0
    normalisation: a = A x0 (the dense layers before it, exactly over the
    integers at the integer point), its signs from those integers."""
    op = next(op for op in layout.ops if op[0] == "batch_norm")
    v, k = base_vector(op[5])
    a = [x - y for x, y in zip(_prefix(layout, raw_point, x0),
                               _prefix(layout, raw_point, [0] * len(x0)))]
    out = []
    for j, aj in enumerate(a):
        s0 = 1 / (k * abs(aj)) if aj else None
        if s0 is None or s0.numerator % p == 0 or s0.denominator % p == 0:
            raise ValueError(f"the batch normalisation's level a_{j} = {aj} of the probe vanishes "
                             f"(or mod p = {p}): no expansion there")
        out.append(s0.numerator * pow(s0.denominator, -1, p) % p)
    return out


def _s0(level, q0: list[int], Z: dict, op, p: int) -> list[int]:
    """s0 of an eps = 0 normalisation from the probe's level data: a rank
    probe's s0_j (checked: s0_j^2 q0_j = 1), a law check's lambdas (q0_j != 0
    mod p, else ZeroDivisionError: another prime). The order 0 of the
    centred batch must be v a^T."""
    v = base_vector(op[5])[0]
    Z0 = Z.get(0)
    if Z0 is not None:
        ref = next(i for i, x in enumerate(v) if x)
        for i, vi in enumerate(v):
            for j in range(op[1]):
                if (int(Z0[i, j]) * v[ref] - vi * int(Z0[ref, j])) % p:
                    raise ValueError("the centred batch's order 0 is not v a^T: the expansion "
                                     "point is not the batch v x0^T")
    kind, values = level
    if kind == "formal":
        if any(x == 0 for x in q0):
            raise ZeroDivisionError("a batch normalisation's level q0 is 0 mod p")
        return [x % p for x in values]
    if any(s * s % p * x % p != 1 for s, x in zip(values, q0)):
        raise ValueError("the batch normalisation's s0 is not q0^(-1/2): the probe's level data "
                         "does not match its expansion point")
    return list(values)


# -- degrees, majorant and denominators (docs/design.md, batch normalisation) -----------------

def _probe_degrees(degrees: list) -> list:
    """Degrees in the probe's entries of the orders 0..3 of the output, from
    those of the input (a constant, beta, has degree 0 at order 0)."""
    Z = [None] + list(degrees[1:])
    s = _series_max([0, None, None, None], _series_product(Z, Z))
    return _series_max(_series_product(Z, s), [0, None, None, None])


def _probe_degrees_zero(degrees: list, m: int) -> list:
    """As :func:`_probe_degrees` with eps = 0: Z has an order 0, the series
    of (1 + nu/q0)^(-1/2) runs to nu^3 (nu = q - q0, orders 1..3, 1/q0
    counted as a constant), times lambda (1), plus 4 m deg q0 (deg q0 = 2
    deg x0) for the cleared denominators (docs/design.md)."""
    Z = list(degrees)
    nu = [None] + _series_product(Z, Z)[1:]
    s, power = [0, None, None, None], [0, None, None, None]
    for _ in range(3):
        power = _series_product(power, nu)
        s = _series_max(s, power)
    extra = 1 + 4 * m * 2 * (degrees[0] or 0)
    out = _series_max(_series_product(Z, s), [0, None, None, None])
    return [None if v is None else v + extra for v in out]


def _majorant_zero(op, a: Fraction) -> Fraction:
    """With eps = 0, a bound on the absolute coefficients of an output
    entry's numerator over prod_j q0_j^4: |Z| <= 2 a, |nu|, |q0| <= 4 a^2
    (q = (1/N) sum_i Z_ij^2), so each term Z s0 c_i nu^i q0^(4m - i) is at
    most 2 a (1 + 4 a^2)^3 max(1, 4 a^2)^(4 m)."""
    q = 4 * a * a
    return 2 * a * (1 + q) ** 3 * max(Fraction(1), q) ** (4 * op[1]) + \
        (1 if op[3] is not None else 0)


def _majorant(op, a: Fraction) -> Fraction:
    """A bound on the absolute coefficients of an output entry when those of
    every input entry are at most ``a``: |Z| <= 2 a, |w| <= 4 a^2,
    |s| <= 1 + (1/2) |w| / eps."""
    num, den = op[2]
    z = 2 * a
    s = 1 + Fraction(den, 2 * num) * 4 * a * a
    return z * s + (1 if op[3] is not None else 0)


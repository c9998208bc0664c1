"""Layer normalisation, ``["layer_norm", n, "a/b", affine, bias]``: a vector
h of n features becomes y = (C h) s, s = q^(-1/2), q = (1/n) |C h|^2 + eps
(C = I - J/n, eps = a/b >= 0), then gamma * y + beta elementwise when
``affine`` (``G{l}_{i}`` and, with ``bias``, ``b{l}_{i}``).

The model is algebraic (docs/design.md, normalisation layers):

* a **rank** probe (integer input, at the integer point theta0) uses the
  root r of its level q mod p, with s = r^-1 (1 + nu/q)^(-1/2) on jets (nu
  the nilpotent part of q): a ring map of Z[1/d][sqrt q_1, ..., sqrt q_m]
  to F_p, sound when the levels q_k are independent modulo rational
  squares, which :class:`Levels` certifies with Legendre symbols at
  auxiliary primes. Each probe carries candidate inputs; the first whose
  level is a nonzero square mod p is taken (:func:`probe_input`);
* a **law-check** probe (every entry uniform mod p, ``probe.s`` a 0 then
  one lambda per level, :func:`probe_level`) uses lambda as s itself: the
  residual is then the polynomial lambda R_1 + R_0 of the design notes,
  divided by q.

The derivative rule is ds = -(s / (2q)) dq, true for the real s and the one
the law check's polynomial is defined with. A normalisation is a layer of
the top level after dense layers only, at most one per program.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from math import isqrt

from flint import nmod, nmod_mat

from ..evaluator import PROBE_BITS, _add, _mul, _scale, _transpose
from .activations import MAX_SLOPE_DIGITS, read_slope
from .attention_net import _had
from .base import LayerRule, accumulate, positive

#: Candidate inputs per rank probe (times 2^(G - 1) for G levels): the
#: chance that none has every level a square mod p is about e^-CANDIDATES.
CANDIDATES = 48
#: Groups of a group normalisation at most (each probe draws 2^(G - 1) times
#: more candidates).
MAX_GROUPS = 4
#: The tag of a network on tokens' level data among the indicators
#: (exactcl.kernel.layers.postnorm).
TOKEN_LEVEL = "tokens"
#: Auxiliary primes for the Legendre symbols start here.
LEGENDRE_START = 2**40
#: Auxiliary primes beyond the levels to certify (rank margin).
LEGENDRE_MARGIN = 48


def _eps(layer) -> tuple[int, int] | None:
    got = read_slope(layer[2]) if len(layer) == 5 else None
    return got if got is not None and got[0] >= 0 else None


#: Entries of a base vector searched for an odd batch (:func:`base_vector`).
BASE_ENTRIES = range(-6, 7)
#: Nonzero entries of a base vector searched for an odd batch at most.
BASE_SUPPORT = 8


def _square_root(q: Fraction) -> Fraction | None:
    num, den = isqrt(q.numerator), isqrt(q.denominator)
    return Fraction(num, den) if num * num == q.numerator and den * den == q.denominator else None


def base_vector(N: int) -> tuple[tuple[int, ...], Fraction] | None:
    """(v, k): integers v_1..v_N with sum 0 and |v|^2 / N = k^2 a rational
    square: the batch an eps = 0 batch normalisation is expanded at, the
    direction of the first normalisation after an attention (docs/design.md);
    None when the fixed search finds none (N = 3 has none).

    >>> base_vector(4)
    ((1, -1, 1, -1), Fraction(1, 1))
    >>> base_vector(5)
    ((3, 1, -1, -3, 0), Fraction(2, 1))
    >>> base_vector(3) is None
    True
    """
    if N % 2 == 0:
        return tuple((-1) ** i for i in range(N)), Fraction(1)
    return _odd_base(N)


_ODD_BASES: dict = {}


def _odd_base(N: int):
    """The first nonincreasing vector of nonzero entries of magnitude <= B
    (B = 1, 2, .. the largest of BASE_ENTRIES), of 2 to BASE_SUPPORT entries
    (fewest first), padded with zeros, with sum 0 and |v|^2 N a square."""
    def search(prefix: list, size: int, values: list):
        if len(prefix) == size:
            if sum(prefix) == 0:
                k = _square_root(Fraction(sum(x * x for x in prefix), N))
                if k is not None:
                    return tuple(prefix) + (0,) * (N - size), k
            return None
        top = prefix[-1] if prefix else values[0]
        for x in values:
            if x <= top:
                got = search(prefix + [x], size, values)
                if got is not None:
                    return got
        return None
    if N not in _ODD_BASES:
        _ODD_BASES[N] = None
        for bound in range(1, max(BASE_ENTRIES) + 1):
            values = sorted((x for x in BASE_ENTRIES if x and abs(x) <= bound), reverse=True)
            got = next((g for size in range(2, min(N, BASE_SUPPORT) + 1)
                        if (g := search([], size, values)) is not None), None)
            if got is not None:
                _ODD_BASES[N] = got
                break
    return _ODD_BASES[N]


class LayerNorm(LayerRule):
    kind = "layer_norm"
    heads = ("LayerNorm",)
    ends = True
    #: After the attention of a network on tokens, on each token.
    tokenwise_with = ("attention",)
    #: The eps a name that writes none stands for (torch's 1e-05).
    default_eps = "1/100000"

    def check(self, layer, shape, at, checker):
        if (len(layer) != 5 or not positive(layer[1]) or _eps(layer) is None
                or not isinstance(layer[3], bool) or not isinstance(layer[4], bool)
                or (layer[4] and not layer[3])):
            raise ValueError(f"{at} (layer_norm) must be ['layer_norm', n, eps, affine, bias] "
                             f"with n a positive int, eps a rational \"a/b\" >= 0 in lowest "
                             f"terms of at most {MAX_SLOPE_DIGITS} digits each, affine and bias "
                             f"bools (bias only with affine), not {list(layer[1:])!r}")
        n, kind = layer[1], self.kind
        if shape is not None and (shape[1] != 1 or shape[0] != n):
            raise ValueError(f"{at} ({kind}) normalises a vector of {n} features, not "
                             f"{shape[0]} x {shape[1]}")
        if self._small(n, _eps(layer)[0] == 0):
            low = 3 if self.centred else 2
            raise ValueError(f"{at} ({kind}) must have n >= {low} features, or n = {low - 1} "
                             f"with eps > 0 (with eps = 0 it gives +-1), not n = {n}")
        before = [k for k, *_ in getattr(checker, "before", ())]
        if getattr(checker, "tokens", None) is not None:
            self._check_after_attention(layer, at, checker, n)
            return (kind,) + tuple(layer[1:]), (n, 1, None)
        if getattr(checker, "depth", 0) or any(k != "linear" for k in before):
            last = before[-1] if before else "a residual block"
            raise ValueError(f"{at} ({kind}) must be a layer of the top level with only "
                             f"dense layers before it, not after {last}")
        return (kind,) + tuple(layer[1:]), (n, 1, None)

    def _check_after_attention(self, layer, at, checker, n: int) -> None:
        """In a network on tokens: a layer of the top level after the
        attention, at most two (docs/design.md, normalisation after the
        attention), the first with a base vector of n for the rational root."""
        kind, before = self.kind, list(getattr(checker, "before", ()))
        if checker.mixing != "attention" or getattr(checker, "depth", 0):
            raise ValueError(f"{at} ({kind}) in a network on tokens must be a layer of the top "
                             f"level of a network with attention")

        def holds_attention(layers) -> bool:
            return any(item[0] == "attention" or (item[0] == "residual"
                                                  and holds_attention(item[1]))
                       for item in layers)
        if not holds_attention(before):
            raise ValueError(f"{at} ({kind}) in a network with attention must come after the "
                             f"attention (its level is then expanded at equal tokens)")
        norms = [item for item in before if item[0] in ("layer_norm", "rms_norm")]
        if len(norms) >= 2:
            raise ValueError(f"{at} ({kind}) would be the third normalisation after the "
                             f"attention; at most two are counted (a third level needs a root "
                             f"in a quadratic field)")
        if not norms and kind == "layer_norm" and base_vector(n) is None:
            raise ValueError(f"{at} ({kind}) as the first normalisation after the attention "
                             f"needs n with a base vector (integers of sum 0 whose squared norm "
                             f"over n is a rational square: every even n, most odd ones), not "
                             f"n = {n}")

    def _small(self, n: int, eps_zero: bool) -> bool:
        """Too few features: the level is then a square (or the layer constant)."""
        return n < 2 or (n == 2 and eps_zero)

    def input_shape(self, layer, first_shape):
        return (layer[1], 1, None)

    def parameters(self, layer) -> int:
        return layer[1] * (int(layer[3]) + int(layer[4]))

    def sizes(self, layer, entries, at, totals, sequence):
        totals["parameters"] += self.parameters(layer)
        return entries, None

    def compile(self, layer, shape, layout):
        _, n, eps, affine, bias = layer
        g = b = None
        if affine:
            number = layout.next_number()
            g = layout.add_weight(f"G{number}", n, 1, [f"G{number}_{i}" for i in range(n)])
            if bias:
                b = layout.add_bias(f"b{number}", n, [f"b{number}_{i}" for i in range(n)])
        if layout.tokens is not None:  # after the attention: acts on each token
            op = [self.kind, n, read_slope(eps), g, b, None, len(layout.token_norms)]
            layout.token_norms.append(op)
            return op, (n, 1)
        before = layout.numbered - int(affine)  # only dense layers before it
        op = [self.kind, n, read_slope(eps), g, b, before]
        layout.norm = op
        return op, (n, 1)

    # -- semantics over jets -------------------------------------------------------------

    #: Whether it centres its input (C = I - J/n) before scaling (RMSNorm does not).
    centred = True

    def _constants(self, words, n: int, eps: tuple[int, int]):
        p = words.prime
        if n % p == 0 or eps[1] % p == 0:
            raise ValueError(f"the prime {p} divides n = {n} or the denominator of eps")
        inv = pow(n, -1, p)
        mean = inv if self.centred else 0
        centre = {0: nmod_mat(n, n, [((1 if i == j else 0) - mean) % p for i in range(n)
                                     for j in range(n)], p)}
        return centre, inv, eps[0] * pow(eps[1], -1, p) % p

    def forward(self, words, op, a, point, sigma):
        _, n, eps, g, b, _ = op[:6]
        p = words.prime
        centre, inv, e = self._constants(words, n, eps)
        z = _mul(centre, a)
        q = _add(_scale(_mul(_transpose(z), z), inv), {0: nmod_mat(1, 1, [e], p)})
        # ("root", [r]), ("formal", [lambda]) or, after an attention, ("s0", [s0], checked):
        # Words puts it last
        level = sigma[-1]
        q0 = int(q[0][0, 0]) if 0 in q else 0
        if q0 == 0:
            raise ZeroDivisionError(f"the level of the normalisation is 0 mod {p}")
        if level[0] == "root":
            if level[1][0] * level[1][0] % p != q0:
                raise ValueError("the root does not match the probe's level")
            s0 = pow(level[1][0], -1, p)
        else:
            s0 = level[1][0] % p
            if level[0] == "s0" and level[2] and s0 * s0 % p * q0 % p != 1:
                raise ValueError("the normalisation's s0 is not q0^(-1/2): the probe's level "
                                 "data does not match its expansion point")
        nu = {m: y for m, y in q.items() if m}
        qinv = pow(q0, -1, p)
        s = _series(s0, nu, qinv, _half_binomials(p), p)
        qi = _series(qinv, nu, qinv, lambda j: (-1) ** j, p)
        y = _mul(z, s)
        out = y
        if g is not None:
            out = _had(point[g], y, p)
        if b is not None:
            out = _add(out, point[words.bias_tensor(b)])
        return out, (z, s, qi, y)

    def forward_tokens(self, words, op, tokens, point, sigma):
        """After the attention of a network on tokens (docs/design.md,
        normalisation after the attention): every token by :meth:`forward`
        with the probe's s0 (one order-0 level for all tokens), which a rank
        probe's level data must match on each token: s0^2 q0 = 1 mod p."""
        tag, _, roots, checked = sigma[-1]
        if tag != TOKEN_LEVEL:
            raise ValueError("a normalisation after the attention needs the probe's level data")
        return super().forward_tokens(words, op, tokens, point, [("s0", [roots[op[6]]], checked)])

    def backward(self, words, op, delta, saved, point, sigma, grads):
        _, n, eps, g, b, _ = op[:6]
        p = words.prime
        z, s, qi, y = saved
        if b is not None:
            accumulate(grads, words.bias_tensor(b), delta)
        if g is not None:
            accumulate(grads, g, _had(delta, y, p))
            delta = _had(delta, point[g], p)
        centre, inv, _ = self._constants(words, n, eps)
        # y = s z, ds = -(s / (n q)) z^T dz: g_z = s g_y - (s / (n q)) (z . g_y) z
        dot = _mul(_transpose(z), delta)
        coeff = _scale(_mul(_mul(s, qi), dot), (-inv) % p)
        gz = _add(_mul(delta, s), _mul(z, coeff))
        return _mul(centre, gz)

    def expand(self, op, a, context):
        raise ValueError("a layer normalisation is not polynomial: its program is counted by "
                         "evaluation (engine='program')")

    def ones(self, op, a, layout, sequence):
        # a bound on the coefficients of q times the polynomial parts (design notes):
        # |n^2 b q|_1 <= b n (2 S)^2 + a n^2 with S the bound on the input's entries
        _, n, (num, den), g, b, _ = op[:6]
        S = sum(a) + 1
        bound = (den * n * 4 * S * S + num * n * n + 1) * 2 * S
        return [max(bound, 2**20) + 1] * n

    def degree(self, op, sequence) -> int:
        return 1 if op[3] is not None else 0

    def products(self, op, layout):
        return [(op[1], op[1], True), (op[1], 1, False)]

    def read_name(self, head, inner, block):
        pieces = (inner or "").split(",")
        n = int(pieces[0]) if pieces[0].isdigit() and pieces[0][0] != "0" else None
        keys = dict(piece.split("=", 1) for piece in pieces[1:] if "=" in piece)
        if n is None or len(keys) != len(pieces) - 1 or set(keys) - {"eps", "affine", "bias"}:
            return None
        eps = keys.get("eps", self.default_eps)
        eps = "0/1" if eps == "0" else eps
        flags = {k: {"True": True, "False": False}.get(keys.get(k, "True")) for k in
                 ("affine", "bias")}
        if read_slope(eps) is None or None in flags.values():
            return None
        return ["layer_norm", n, eps, flags["affine"], flags["bias"] and flags["affine"]]


LAYER_NORM = LayerNorm()


class RMSNorm(LayerNorm):
    """``["rms_norm", n, "a/b", affine]``: y = h s, s = (|h|^2 / n + eps)^(-1/2),
    then gamma * y when ``affine`` (``G{l}_{i}``); no centring, no bias. The
    same arguments as a layer normalisation's (its level is not a square
    for n >= 2 or eps > 0)."""

    kind = "rms_norm"
    heads = ("RMSNorm",)
    centred = False
    default_eps = f"1/{2**23}"  # torch's eps=None in float32

    def check(self, layer, shape, at, checker):
        if len(layer) != 4 or not isinstance(layer[3], bool):
            raise ValueError(f"{at} (rms_norm) must be ['rms_norm', n, eps, affine] with n a "
                             f"positive int, eps a rational \"a/b\" >= 0 and affine a bool, not "
                             f"{list(layer[1:])!r}")
        canonical, shape = super().check(list(layer) + [False], shape, at, checker)
        return canonical[:4], shape

    def _small(self, n: int, eps_zero: bool) -> bool:
        return n < 1 or (n == 1 and eps_zero)

    def parameters(self, layer) -> int:
        return layer[1] * int(layer[3])

    def compile(self, layer, shape, layout):
        return super().compile(list(layer) + [False], shape, layout)

    def read_name(self, head, inner, block):
        got = super().read_name(head, (inner or "") + ",bias=False", block)
        return None if got is None else ["rms_norm"] + got[1:4]


RMS_NORM = RMSNorm()


class GroupNorm(LayerNorm):
    """``["group_norm", G, C, "a/b", affine]``: the C features in G groups of
    m = C / G, each group normalised as a layer normalisation of m features
    (its own level q_g), then gamma * y + beta per feature when ``affine``
    (``G{l}_{i}``, ``b{l}_{i}``). A probe has G levels; the arguments of
    the design notes hold level by level (F is affine in each s_g)."""

    kind = "group_norm"
    heads = ("GroupNorm",)
    tokenwise_with = ()

    def check(self, layer, shape, at, checker):
        ok = (len(layer) == 5 and positive(layer[1]) and positive(layer[2])
              and read_slope(layer[3]) is not None and read_slope(layer[3])[0] >= 0
              and isinstance(layer[4], bool))
        if not ok or layer[2] % layer[1]:
            raise ValueError(f"{at} (group_norm) must be ['group_norm', groups, channels, eps, "
                             f"affine] with positive int sizes, groups dividing channels, eps a "
                             f"rational \"a/b\" >= 0 and affine a bool, not {list(layer[1:])!r}")
        groups, n = layer[1], layer[2]
        if groups > MAX_GROUPS:
            raise ValueError(f"{at} (group_norm) has {groups} groups; the limit is {MAX_GROUPS} "
                             f"(a probe needs every level a square mod p)")
        if n // groups < 2 or (n // groups == 2 and read_slope(layer[3])[0] == 0):
            raise ValueError(f"{at} (group_norm) must have groups of at least 3 channels, or 2 "
                             f"with eps > 0 (with eps = 0 they give +-1), not {n // groups}")
        as_layer_norm = ["layer_norm", n, layer[3], layer[4], layer[4]]
        _, shape = LayerNorm.check(self, as_layer_norm, shape, at, checker)
        return ("group_norm",) + tuple(layer[1:]), shape

    def input_shape(self, layer, first_shape):
        return (layer[2], 1, None)

    def parameters(self, layer) -> int:
        return 2 * layer[2] * int(layer[4])

    def compile(self, layer, shape, layout):
        _, groups, n, eps, affine = layer
        op, shape = super().compile(["group_norm", n, eps, affine, affine], shape, layout)
        op.append(groups)
        return op, shape

    def _matrices(self, words, n: int, groups: int, eps):
        p = words.prime
        m = n // groups
        if m % p == 0 or eps[1] % p == 0:
            raise ValueError(f"the prime {p} divides the group size {m} or the denominator of eps")
        inv = pow(m, -1, p)
        centre = {0: nmod_mat(n, n, [((1 if i == j else 0) - (inv if i // m == j // m else 0))
                                     % p for i in range(n) for j in range(n)], p)}
        sums = {0: nmod_mat(groups, n, [int(i // m == g) for g in range(groups)
                                        for i in range(n)], p)}
        spread = {0: nmod_mat(n, groups, [int(i // m == g) for i in range(n)
                                          for g in range(groups)], p)}
        return centre, sums, spread, inv, eps[0] * pow(eps[1], -1, p) % p

    def forward(self, words, op, a, point, sigma):
        _, n, eps, g, b, _, groups = op
        p = words.prime
        centre, sums, spread, inv, e = self._matrices(words, n, groups, eps)
        z = _mul(centre, a)
        q = _add(_scale(_mul(sums, _had(z, z, p)), inv),
                 {0: nmod_mat(groups, 1, [e] * groups, p)})
        level = sigma[-1]
        q0 = [int(v) for v in q[0].entries()] if 0 in q else [0] * groups
        if 0 in q0:
            raise ZeroDivisionError(f"a level of the normalisation is 0 mod {p}")
        if level[0] == "root":
            if any(r * r % p != v for r, v in zip(level[1], q0)) or len(level[1]) != groups:
                raise ValueError("the roots do not match the probe's levels")
            s0 = [pow(r, -1, p) for r in level[1]]
        else:
            s0 = [v % p for v in level[1]]
        nu = {m: y for m, y in q.items() if m}
        qinv = [pow(v, -1, p) for v in q0]
        s = _series_vector(s0, nu, qinv, _half_binomials(p), p)
        qi = _series_vector(qinv, nu, qinv, lambda j: (-1) ** j, p)
        spread_s = _mul(spread, s)
        y = _had(z, spread_s, p)
        out = y
        if g is not None:
            out = _had(point[g], y, p)
        if b is not None:
            out = _add(out, point[words.bias_tensor(b)])
        return out, (z, s, qi, y, spread_s)

    def backward(self, words, op, delta, saved, point, sigma, grads):
        _, n, eps, g, b, _, groups = op
        p = words.prime
        z, s, qi, y, spread_s = saved
        if b is not None:
            accumulate(grads, words.bias_tensor(b), delta)
        if g is not None:
            accumulate(grads, g, _had(delta, y, p))
            delta = _had(delta, point[g], p)
        centre, sums, spread, inv, _ = self._matrices(words, n, groups, eps)
        # per group: g_z = s g_y - (s / (m q)) (z_g . g_y) z
        dots = _mul(sums, _had(z, delta, p))
        coeff = _scale(_had(_had(s, qi, p), dots, p), (-inv) % p)
        gz = _add(_had(delta, spread_s, p), _had(z, _mul(spread, coeff), p))
        return _mul(centre, gz)

    def read_name(self, head, inner, block):
        pieces = (inner or "").split(",")
        if len(pieces) < 2 or not all(x.isdigit() and x[0] != "0" for x in pieces[:2]):
            return None
        got = super().read_name(head, ",".join([pieces[1]] + pieces[2:] + ["bias=True"]), block)
        if got is None:
            return None
        return ["group_norm", int(pieces[0]), got[1], got[2], got[3]]


GROUP_NORM = GroupNorm()


def _series_vector(s0: list[int], nu: dict, qinv: list[int], coefficient, p: int) -> dict:
    """Per entry g: s0_g * sum_j coefficient(j) (nu_g / q0_g)^j on jets of
    G x 1 matrices (nu nilpotent)."""
    groups = len(s0)
    out = {0: nmod_mat(groups, 1, s0, p)}
    term = _had(nu, {0: nmod_mat(groups, 1, qinv, p)}, p)
    power, j = term, 1
    while power:
        c = coefficient(j) % p
        out = _add(out, _had(power, {0: nmod_mat(groups, 1, [v * c % p for v in s0],
                                                          p)}, p))
        power, j = _had(power, term, p), j + 1
    return out


# -- jets -----------------------------------------------------------------------------------

def _half_binomials(p: int):
    """j -> binomial(-1/2, j) mod p."""
    half = pow(2, -1, p)

    def coefficient(j: int) -> int:
        c = 1
        for i in range(j):
            c = c * ((-half - i) % p) % p * pow(i + 1, -1, p) % p
        return c
    return coefficient


def _series(s0: int, nu: dict, qinv: int, coefficient, p: int) -> dict:
    """s0 * sum_j coefficient(j) (nu / q0)^j on 1 x 1 jets (nu nilpotent)."""
    out = {0: nmod_mat(1, 1, [s0], p)}
    term = _scale(nu, qinv)
    power, j = term, 1
    while power:
        out = _add(out, _scale(power, s0 * (coefficient(j) % p) % p))
        power, j = _mul(power, term), j + 1
    return out


# -- levels of probes -----------------------------------------------------------------------

def _prefix(layout, raw_point, x: list[int]) -> list[int]:
    """The normalisation's input h at the integer point, exactly (dense layers)."""
    h = list(x)
    for op in layout.ops:
        if op[0] != "linear":
            break
        _, rows, cols, o = layout.tensors[op[1]]
        W = raw_point[o:o + rows * cols]
        h = [sum(W[i * cols + j] * h[j] for j in range(cols)) for i in range(rows)]
        if op[2] is not None:
            _, _, _, ob = layout.tensors[layout.bias_tensor(op[2])]
            h = [v + raw_point[ob + i] for i, v in enumerate(h)]
    return h


def level_numerators(layout, raw_point, x) -> list[int]:
    """d q of each level as integers, d = :func:`level_denominator`: b (m
    |h_g|^2 - (sum h_g)^2) + a m^2 per group g of m features (one group of
    n for a layer normalisation), b |h|^2 + a n for RMSNorm."""
    kind, n, (a, b), *_ = layout.norm
    h = _prefix(layout, raw_point, x)
    if kind == "rms_norm":
        return [b * sum(v * v for v in h) + a * n]
    m = n // levels_of(layout.norm)
    parts = [h[i:i + m] for i in range(0, n, m)]
    return [b * (m * sum(v * v for v in g) - sum(g) ** 2) + a * m * m for g in parts]


def level_numerator(layout, raw_point, x) -> int:
    """The numerator of a program's one level (:func:`level_numerators`)."""
    return level_numerators(layout, raw_point, x)[0]


def level_denominator(layout) -> int:
    """d with q = N / d: m^2 b (m features per group), n b (RMSNorm)."""
    kind, n, (a, b), *_ = layout.norm
    m = n // levels_of(layout.norm)
    return n * b if kind == "rms_norm" else m * m * b


def levels_of(op) -> int:
    """The levels (groups) of a normalisation's op: one but for a group norm."""
    return op[6] if op[0] == "group_norm" else 1


def norm_degree(op) -> int:
    """What a normalisation adds to the degree of the law check's polynomial
    in the probe: one for the lambdas, and each group's level q_g, of
    degree 2 (L + 1) after L dense layers (docs/design.md)."""
    return 1 + levels_of(op) * 2 * (op[5] + 1)


def _is_prime(m: int) -> bool:
    if m < 2:
        return False
    for d in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if m % d == 0:
            return m == d
    d, s = m - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):  # deterministic below 3.3e24
        x = pow(a, d, m)
        if x in (1, m - 1):
            continue
        for _ in range(s - 1):
            x = x * x % m
            if x == m - 1:
                break
        else:
            return False
    return True


class Levels:
    """The levels q_k of the probes a Words evaluates, certified independent
    modulo rational squares as they come (design notes; a network on tokens
    passes ``layout=None``, ``bad=1`` and ``d=1`` and adds numerator times
    denominator of each level, the attention's head dimension first when it
    is not a square): per level, its
    row of Legendre symbols at the auxiliary primes (LEGENDRE_MARGIN more
    of them than levels, found as levels come), kept reduced over F_2.
    ``count`` is kept for the callers' sake: primes are found lazily.
    """

    def __init__(self, layout, count: int = 0, *, bad: int | None = None,
                 d: int | None = None) -> None:
        if layout is not None:
            _, n, (a, b), *_ = layout.norm
            bad, d = n * b, level_denominator(layout)
        self.bad, self.d = bad, d  # a network on tokens gives numerators of classes (d = 1)
        self.primes: list[int] = []
        self.numerators: list[int] = []
        self.pivots: dict[int, int] = {}  # leading bit -> reduced row

    def _row(self, numerator: int) -> int:
        row = 0
        for i, ell in enumerate(self.primes):
            v = numerator * self.d % ell  # the class of q = N / d is that of N d
            if v == 0:
                raise ValueError(f"the auxiliary prime {ell} divides a normalisation level")
            if pow(v, (ell - 1) // 2, ell) != 1:
                row |= 1 << i
        return row

    def _reduce(self, row: int) -> int:
        while row:
            top = row.bit_length() - 1
            if top not in self.pivots:
                return row
            row ^= self.pivots[top]
        return 0

    def add(self, numerator: int) -> None:
        """Certify one more level (its numerator d q), or ValueError."""
        if len(self.primes) < len(self.numerators) + 1 + LEGENDRE_MARGIN:
            m = self.primes[-1] if self.primes else LEGENDRE_START
            while len(self.primes) < len(self.numerators) + 1 + 2 * LEGENDRE_MARGIN:
                m += 1
                if _is_prime(m) and self.bad % m:
                    self.primes.append(m)
            self.pivots = {}  # more columns: every row again
            for old in self.numerators:
                row = self._reduce(self._row(old))
                self.pivots[row.bit_length() - 1] = row
        row = self._reduce(self._row(numerator))
        if not row:
            raise ValueError("the normalisation levels of the probes are not independent modulo "
                             "rational squares (a level is a square, or a product of others "
                             "times a square): the ring map to F_p is not certified")
        self.pivots[row.bit_length() - 1] = row
        self.numerators.append(numerator)


def probe_input(layout, raw_point, candidates: list[list[int]], levels: Levels, p: int):
    """(input, ("root", [r_g])) for a rank probe: the first candidate whose
    levels are nonzero squares mod p, its levels certified by ``levels``."""
    scale = pow(level_denominator(layout), -1, p)
    for x in candidates:
        numerators = level_numerators(layout, raw_point, x)
        roots = []
        for numerator in numerators:
            q = numerator % p * scale % p
            try:
                r = int(nmod(q, p).sqrt()) if q else None
            except Exception:  # no root mod p: the next candidate
                r = None
            if r is None:
                break
            roots.append(min(r, p - r))
        if len(roots) < len(numerators):
            continue
        for numerator in numerators:
            levels.add(numerator)
        return x, ("root", roots)
    raise ValueError(f"no candidate input of the probe has square levels mod {p}")


def probe_level(words, probe) -> tuple:
    """(input, level data) of ``probe`` in ``words`` (a block Words): a
    law-check probe keeps its input and
    uses s = lambda (one per level, after a 0 in ``probe.s``); a rank probe takes the first of its candidates (its x,
    then ``probe.s`` cut in inputs) whose level is a nonzero square mod p."""
    if probe.s and probe.s[0] == 0:  # law-check probes mark their lambdas with a 0
        return probe.x, ("formal", list(probe.s[1:]))
    lay = words.layout
    if words.levels is None:
        words.levels = Levels(lay)
    n = len(probe.x)
    options = [list(probe.x)] + [list(probe.s[i:i + n]) for i in range(0, len(probe.s), n)]
    return probe_input(lay, words.raw_point, options, words.levels, words.prime)


def candidates(layout, seed: str, k: int) -> tuple[int, ...]:
    """A normalised program's other candidate inputs of probe ``k`` of the
    family ``seed``, from the SHAKE-256 stream of ``"{seed}/{k}/levels"``
    read as x is (8 bytes big-endian each, reduced to [1, 2**PROBE_BITS]);
    none for other programs, whose probes are unchanged."""
    if layout.norm is None:
        return ()
    count = layout.probe_sizes()[0] * (CANDIDATES * 2 ** (levels_of(layout.norm) - 1) - 1)
    stream = hashlib.shake_256(f"{seed}/{k}/levels".encode()).digest(8 * count)
    return tuple(int.from_bytes(stream[8 * i:8 * i + 8], "big") % (1 << PROBE_BITS) + 1
                 for i in range(count))

"""Normalisations after the attention of a network on tokens (docs/design.md,
normalisation after the attention): what a probe brings for the
attention's scale s = 1/sqrt(k) and the order-0 roots s0 of at most two
layer normalisations acting on each token.

* A **rank** probe computes the order 0 of the network at equal tokens
  exactly over Q at the integer point (:func:`order0`: dense layers, ReLUs
  at the probe's bits, residual sums, the attention at equal tokens, the
  first normalisation with its rational root). Its input x0 is chosen so
  that the first normalisation's level is a rational square
  (:func:`rank_level`), the second's level is a rational number whose root
  is taken mod p when it exists (else the next candidate), and every
  irrational root (k's, the second level's) is certified independent
  modulo rational squares by :class:`~exactcl.kernel.layers.norm.Levels`.
* A **law-check** probe takes s, s0 and s0' as free variables.

The level data reaches the layers as the last entry of the indicators,
``("tokens", s, [s0, s0'], checked)``: with ``checked`` the kernel's
normalisations refuse an s0 that is not q0^(-1/2) mod p for the level q0
their forward pass computes.

This module is part of the verifier's trusted base: it imports only flint
and the kernel.
"""

from __future__ import annotations

from fractions import Fraction

from flint import fmpq, fmpq_mat, nmod

from ..evaluator import PROBE_BITS
from .norm import CANDIDATES, TOKEN_LEVEL, Levels, _is_prime, _square_root, base_vector
from .smooth import SMOOTH_KINDS, coefficients, keeps_scale

__all__ = ["LEVEL_TAG", "attention_scale", "candidate_count", "formal_level", "mod", "norm_ops",
           "order0", "rank_level", "serves", "serving_prime"]

#: The tag of the level data among the indicators.
LEVEL_TAG = TOKEN_LEVEL


def norm_ops(layout) -> list:
    """The normalisations of a network on tokens, in order (top level)."""
    return list(getattr(layout, "token_norms", ()))


def _attention_op(ops):
    for op in ops:
        if op[0] == "attention":
            return op
        if op[0] == "residual":
            got = _attention_op(op[1])
            if got is not None:
                return got
    return None


def attention_scale(layout) -> tuple[int, Fraction | None]:
    """(k, 1/sqrt(k) when rational else None) of the network's attention."""
    k = _attention_op(layout.ops)[1][4]
    r = _square_root(Fraction(k))
    return k, None if r is None else 1 / r


def serves(layout, p: int) -> bool:
    """Whether the rank probes of ``layout`` can be evaluated mod the prime
    ``p``: True but for an attention with normalisations after it whose head
    dimension k is not a square and has no root mod p (ranks are taken
    modulo the primes where it has one: docs/design.md), or an attention
    with smooth activations around it (section 8)."""
    if not norm_ops(layout) and not keeps_scale(layout):
        return True
    k, rational = attention_scale(layout)
    return rational is not None or (k % p != 0 and pow(k, (p - 1) // 2, p) == 1)


def serving_prime(layout, p: int) -> int:
    """The first prime from ``p`` on that :func:`serves` ``layout``."""
    while not serves(layout, p):
        p += 1
        while not _is_prime(p):
            p += 1
    return p


def scale_level(layout, p: int) -> tuple:
    """The level data of a network on tokens with smooth activations and no
    normalisation: the attention's scale 1/sqrt(k) mod p (a root of k mod p
    when k is no square; ZeroDivisionError when it has none)."""
    k, s_att = attention_scale(layout)
    if s_att is not None:
        return (LEVEL_TAG, mod(s_att, p), [], True)
    r = _root_of(Fraction(k), p)
    if r is None:
        raise ZeroDivisionError(f"the head dimension {k} has no square root mod {p}")
    return (LEVEL_TAG, pow(r, -1, p), [], True)


def candidate_count(layout) -> int:
    """Entries of a rank probe's candidates: (m, u) per candidate, m of the
    first normalisation's n features."""
    return CANDIDATES * (norm_ops(layout)[0][1] + 1) if norm_ops(layout) else 0


def formal_level(values) -> tuple:
    """A law check's level data: s and each s0 free variables."""
    values = list(values)
    return (LEVEL_TAG, values[0], values[1:], False)


# -- the order 0 at equal tokens, exactly ----------------------------------------------------

def _tensor(layout, raw_point, index: int) -> list[list[int]]:
    _, rows, cols, o = layout.tensors[index]
    return [raw_point[o + i * cols:o + (i + 1) * cols] for i in range(rows)]


def _column(layout, raw_point, bias: int) -> list[int]:
    _, rows, _, o = layout.tensors[layout.bias_tensor(bias)]
    return list(raw_point[o:o + rows])


def _matvec(W, h):
    return [sum((w * x for w, x in zip(row, h)), Fraction(0)) for row in W]


def _level(op, h) -> Fraction:
    """q = |C h|^2 / n + eps of a normalisation op at a token's input h."""
    n, (a, b) = op[1], op[2]
    mean = sum(h, Fraction(0)) / n if op[0] == "layer_norm" else Fraction(0)
    return sum(((v - mean) ** 2 for v in h), Fraction(0)) / n + Fraction(a, b)


def _normalise(layout, raw_point, op, h, s0: Fraction):
    mean = sum(h, Fraction(0)) / op[1] if op[0] == "layer_norm" else Fraction(0)
    y = [(v - mean) * s0 for v in h]
    if op[3] is not None:
        gamma = [row[0] for row in _tensor(layout, raw_point, op[3])]
        y = [g * v for g, v in zip(gamma, y)]
    if op[4] is not None:
        y = [v + c for v, c in zip(y, _column(layout, raw_point, op[4]))]
    return y


class _Stop(Exception):
    def __init__(self, h) -> None:
        self.h = h


def order0(layout, raw_point, x0, bits, roots: dict, stop: int):
    """The input (exact, Fractions) of normalisation number ``stop`` at t = 0,
    every token x0: the per-token layers at the indicators ``bits``, the
    attention at equal tokens, normalisation i with its root ``roots[i]``."""
    def run(ops, h):
        for op in ops:
            kind = op[0]
            if kind == "linear":
                h = _matvec(_tensor(layout, raw_point, op[1]), h)
                if op[2] is not None:
                    h = [v + c for v, c in zip(h, _column(layout, raw_point, op[2]))]
            elif kind == "relu":
                h = [v if bit else Fraction(0) for v, bit in zip(h, bits[op[1]])]
            elif kind == "leaky_relu":
                slope = Fraction(op[3], op[4])
                h = [v if bit else slope * v for v, bit in zip(h, bits[op[1]])]
            elif kind == "residual":
                h = [a + b for a, b in zip(h, run(op[1], h))]
            elif kind == "attention":
                layer, weights, biases = op[1], op[2], op[3]
                out = [Fraction(0)] * layer[2]
                for head in range(layer[3]):
                    v = _matvec(_tensor(layout, raw_point, weights[4 * head + 2]), h)
                    if biases is not None:
                        v = [a + c for a, c in zip(v, _column(layout, raw_point,
                                                              biases[3 * head + 2]))]
                    out_w = _tensor(layout, raw_point, weights[4 * head + 3])  # O_h, k x d
                    out = [o + sum((v[a] * out_w[a][c] for a in range(len(v))), Fraction(0))
                           for c, o in enumerate(out)]
                if biases is not None:
                    out = [o + c for o, c in zip(out, _column(layout, raw_point, biases[-1]))]
                h = out
            elif kind in SMOOTH_KINDS:  # at its anchor: c_0 (rational here: section 8)
                c0 = coefficients(op[3], 0)[0]
                h = [Fraction(c0[0])] * len(h)
            elif kind in ("layer_norm", "rms_norm"):
                if op[6] == stop:
                    raise _Stop(h)
                h = _normalise(layout, raw_point, op, h, roots[op[6]])
            else:
                raise ValueError(f"a network with a normalisation after its attention holds "
                                 f"no {kind} layer before its last normalisation")
        return h
    try:
        run(layout.ops, [Fraction(v) for v in x0])
    except _Stop as got:
        return got.h
    raise ValueError(f"the network has no normalisation number {stop}")


def _affine(layout, raw_point, bits):
    """(A, c) with the first normalisation's order-0 input A x0 + c."""
    d = layout.input_shape[0] * layout.input_shape[1]
    c = order0(layout, raw_point, [0] * d, bits, {}, 0)
    columns = [[a - b for a, b in zip(order0(layout, raw_point,
                                              [int(i == j) for i in range(d)], bits, {}, 0),
                                       c)] for j in range(d)]
    return [[columns[j][i] for j in range(d)] for i in range(len(c))], c


def _base(op):
    """(w, k_w) of the first normalisation: its base vector (LayerNorm), 1 (RMSNorm)."""
    n = op[1]
    if op[0] == "rms_norm":
        return (1,) * n, Fraction(1)
    return base_vector(n)


def _first_input(op, candidate: list[int]):
    """(h0, s0): h0 = K w + m with q0 = (K k_w + u)^2 (docs/design.md)."""
    n, (a, b) = op[1], op[2]
    w, kw = _base(op)
    shift = 1 << PROBE_BITS - 1
    m = [Fraction(v - shift) for v in candidate[:n]]
    u = Fraction(candidate[n])
    if op[0] == "layer_norm":
        mean = sum(m) / n
        m = [v - mean for v in m]
    ww = sum(x * x for x in w)
    along = sum(x * y for x, y in zip(m, w)) / ww
    m = [v - along * x for v, x in zip(m, w)]
    K = (sum(v * v for v in m) / n + Fraction(a, b) - u * u) / (2 * kw * u)
    root = K * kw + u
    if root == 0:
        return None
    return [K * x + v for x, v in zip(w, m)], 1 / abs(root)


def mod(q: Fraction, p: int) -> int:
    """q mod p (ZeroDivisionError when p divides its denominator: another prime)."""
    if q.denominator % p == 0:
        raise ZeroDivisionError(f"the prime {p} divides a denominator of the expansion point")
    return q.numerator * pow(q.denominator, -1, p) % p


def _root_of(q: Fraction, p: int) -> int | None:
    v = mod(q, p)
    if v == 0:
        return None
    try:
        r = int(nmod(v, p).sqrt())
    except Exception:  # no root mod p
        return None
    return min(r, p - r)


def _levels(words, k: int, s_att) -> Levels:
    if words.levels is None:
        words.levels = Levels(None, bad=1, d=1)
        if s_att is None:  # k is not a square: one more level (docs/design.md)
            words.levels.add(k)
    return words.levels


def rank_level(words, pr, bits) -> tuple[list[Fraction], tuple]:
    """(x0, level data) of a rank probe: the first of its candidates (m, u)
    whose second level (if any) is a nonzero square mod p; ZeroDivisionError
    when k has no root mod p (another prime), ValueError when no candidate
    serves."""
    layout, p, raw = words.layout, words.prime, words.raw_point
    ops = norm_ops(layout)
    k, s_att = attention_scale(layout)
    if s_att is None:
        r = _root_of(Fraction(k), p)
        if r is None:
            raise ZeroDivisionError(f"the head dimension {k} has no square root mod {p}")
        scale = pow(r, -1, p)
    else:
        scale = mod(s_att, p)
    levels = _levels(words, k, s_att)
    A, c = _affine(layout, raw, bits)
    if len(A) != len(A[0]):
        raise ValueError("the first normalisation must read as many features as the input has")
    matrix = fmpq_mat(len(A), len(A), [fmpq(v.numerator, v.denominator) for row in A
                                       for v in row])
    if matrix.det() == 0:
        raise ValueError("the first normalisation's order-0 input is not invertible in x0 at "
                         "the point: no expansion point with a rational root")
    n1 = ops[0][1] + 1
    for j in range(0, len(pr.s), n1):
        got = _first_input(ops[0], list(pr.s[j:j + n1]))
        if got is None:
            continue
        h0, s0 = got
        rhs = fmpq_mat(len(h0), 1, [fmpq((v - w).numerator, (v - w).denominator)
                                    for v, w in zip(h0, c)])
        x0 = [Fraction(int(v.p), int(v.q)) for v in matrix.solve(rhs).entries()]
        roots = [mod(s0, p)]
        if len(ops) > 1:
            q2 = _level(ops[1], order0(layout, raw, x0, bits, {0: s0}, 1))
            r2 = _root_of(q2, p)
            if r2 is None:
                continue
            if q2.numerator * q2.denominator not in levels.numerators:  # (one x0 for all
                levels.add(q2.numerator * q2.denominator)  # probes with smooth units)
            roots.append(pow(r2, -1, p))
        return x0, (LEVEL_TAG, scale, roots, True)
    raise ValueError(f"no candidate of the probe gives square levels mod {p}")

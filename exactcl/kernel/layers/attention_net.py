"""Softmax attention as a layer of a network on N tokens (docs/design.md,
attention inside a network): its forward and reverse pass over the jets of
the expansion at identical tokens, its degrees and its majorant.

The activations of a token program are lists of N jets, one column
(d x 1) per token (:mod:`exactcl.kernel.tokens`); the attention stacks
them into X (N x d, a row per token), computes, per head h and with s = 1,

    Q = X Q_h^T + 1 b_q^T,  K = X K_h^T + 1 b_k^T,  V = X V_h^T + 1 b_v^T
    L = Q K^T,  M = L - L e_0 1^T            (no term free of t)
    E = 1 + M + M∘M/2 + M∘M∘M/6              (exp(M) to order 3)
    n = E 1 - N 1,  z = n / N,  w = (1 - z + z∘z - z∘z∘z) / N
    P = diag(w) E                            (softmax(M) to order 3)
    out = sum_h P V O_h + 1 b_o^T

and splits ``out`` into tokens again. Every step is a ring operation on
jets or a rational constant (1/2, 1/6, 1/N) evaluated mod p, so the value
is the reduction of the exact truncated series; the reverse pass is the
chain rule of these steps.

This module is part of the verifier's trusted base: it imports only flint
and the kernel.
"""

from __future__ import annotations

from fractions import Fraction

from flint import nmod_mat

from ..evaluator import _add, _mul, _scale, _transpose
from .base import accumulate

__all__ = ["T_BITS", "T_MASK", "attention_backward", "attention_forward", "attention_majorant",
           "attention_probe_degrees", "attention_theta_degree", "stack", "split"]


#: The nilpotents e_a, e_b, e_c of the expansion's t (t = e_a + e_b + e_c),
#: above every bit a bracket word uses (exactcl.kernel.tokens).
T_BITS = (1 << 61, 1 << 62, 1 << 63)
T_MASK = T_BITS[0] | T_BITS[1] | T_BITS[2]


# -- jets of matrices: stacking tokens, entrywise products ---------------------------------

def stack(columns: list, p: int) -> dict:
    """The N x d jet whose row i is token i's column (d x 1)."""
    masks = sorted({m for col in columns for m in col})
    d = next(iter(columns[0].values())).nrows()
    out = {}
    for m in masks:
        flat = []
        for col in columns:
            y = col.get(m)
            flat += [0] * d if y is None else y.entries()
        out[m] = nmod_mat(len(columns), d, flat, p)
    return out


def split(A: dict, N: int, p: int) -> list:
    """The tokens (columns d x 1) of an N x d jet."""
    out: list = [{} for _ in range(N)]
    for m, y in A.items():
        d = y.ncols()
        entries = y.entries()
        for i in range(N):
            out[i][m] = nmod_mat(d, 1, entries[i * d:(i + 1) * d], p)
    return out


def _had(A: dict, B: dict, p: int) -> dict:
    """The entrywise product of two jets of matrices of one shape (on the
    entries as nmod, reduced mod p by flint: no conversion to int)."""
    if not A or not B:
        return {}
    y0 = next(iter(A.values()))
    rows, cols = y0.nrows(), y0.ncols()
    la = [(m, y.entries()) for m, y in A.items()]
    lb = [(m, y.entries()) for m, y in B.items()]
    acc: dict = {}
    for ma, xa in la:
        for mb, xb in lb:
            if ma & mb:
                continue
            m = ma | mb
            got = acc.get(m)
            if got is None:
                acc[m] = [u * v for u, v in zip(xa, xb)]
            else:
                acc[m] = [g + u * v for g, u, v in zip(got, xa, xb)]
    return {m: nmod_mat(rows, cols, vals, p) for m, vals in acc.items()}


def _diag(w: dict, p: int) -> dict:
    """The jet of diag(w) for a jet of columns w (N x 1)."""
    out = {}
    for m, y in w.items():
        n = y.nrows()
        D = nmod_mat(n, n, p)
        for i, v in enumerate(y.entries()):
            D[i, i] = v
        out[m] = D
    return out


def _without_constant(M: dict, T: int) -> dict:
    """M without its terms free of t (``T`` the mask of t's nilpotents),
    refused unless they are zero: the logits minus each row's first entry
    have no term of order 0 (equal tokens give row-constant logits)."""
    out = {}
    for m, y in M.items():
        if m & T:
            out[m] = y
        elif any(int(v) for v in y.entries()):
            raise ValueError("the centred logits have a term of order 0 in t: the tokens "
                             "of the expansion point are not equal")
    return out


def _const(rows: int, cols: int, value, p: int) -> dict:
    return {0: nmod_mat(rows, cols, [value(i, j) % p for i in range(rows) for j in range(cols)],
                        p)}


# -- the layer ------------------------------------------------------------------------------

def attention_forward(words, op, tokens: list, point: list, scale: int = 1
                      ) -> tuple[list, tuple]:
    """(output tokens, what the reverse pass needs) of the attention ``op``
    (``["attention", layer, weight tensors, bias tensors or None]``); the
    logits are multiplied by ``scale`` (1 but for a normalisation after the
    attention: docs/design.md)."""
    layer, weights, biases = op[1], op[2], op[3]
    p = words.prime
    heads, N = layer[3], layer[5]
    if N % p == 0 or p in (2, 3):
        raise ValueError(f"the prime {p} divides 6 N = {6 * N}")
    inv = {c: pow(c, -1, p) for c in (2, 6, N)}
    X = stack(tokens, p)
    one_col = _const(N, 1, lambda i, j: 1, p)
    one_row = _const(1, N, lambda i, j: 1, p)
    ones = _const(N, N, lambda i, j: 1, p)
    e0 = _const(N, 1, lambda i, j: int(i == 0), p)
    out: dict = {}
    saved = []
    for h in range(heads):
        proj = []
        for t in range(3):  # Q, K, V
            Y = _mul(X, _transpose(point[weights[4 * h + t]]))
            if biases is not None:
                Y = _add(Y, _mul(one_col, _transpose(point[words.bias_tensor(biases[3 * h + t])])))
            proj.append(Y)
        Qy, Ky, Vy = proj
        L = _mul(Qy, _transpose(Ky))
        M = _without_constant(_add(L, _mul(_mul(L, e0), one_row), -1), T_MASK)
        if scale != 1:
            M = _scale(M, scale)
        M2 = _had(M, M, p)
        M3 = _had(M2, M, p)
        E = _add(_add(ones, M), _add(_scale(M2, inv[2]), _scale(M3, inv[6])))
        n = _add(_mul(E, one_col), _scale(one_col, N), -1)
        z = _scale(n, inv[N])
        z2 = _had(z, z, p)
        z3 = _had(z2, z, p)
        w = _scale(_add(_add(one_col, z, -1), _add(z2, z3, -1)), inv[N])
        W = _diag(w, p)
        P = _mul(W, E)
        H = _mul(P, Vy)
        out = _add(out, _mul(H, point[weights[4 * h + 3]]))
        saved.append((Qy, Ky, Vy, M, M2, E, z, z2, W, P, H))
    if biases is not None:
        out = _add(out, _mul(one_col, _transpose(point[words.bias_tensor(biases[-1])])))
    return split(out, N, p), (X, saved, inv, scale)


def attention_backward(words, op, deltas: list, saved: tuple, point: list, grads: list) -> list:
    """The reverse pass: parameter gradients into ``grads``, the tokens' deltas back."""
    layer, weights, biases = op[1], op[2], op[3]
    p = words.prime
    heads, N = layer[3], layer[5]
    X, per_head, inv, scale = saved
    dOut = stack(deltas, p)
    one_col = _const(N, 1, lambda i, j: 1, p)
    one_row = _const(1, N, lambda i, j: 1, p)
    ones = _const(N, N, lambda i, j: 1, p)
    e0_row = _const(1, N, lambda i, j: int(j == 0), p)
    dX: dict = {}
    if biases is not None:
        accumulate(grads, words.bias_tensor(biases[-1]), _mul(_transpose(dOut), one_col))
    for h in range(heads):
        Qy, Ky, Vy, M, M2, E, z, z2, W, P, H = per_head[h]
        o = weights[4 * h + 3]
        accumulate(grads, o, _mul(_transpose(H), dOut))
        dH = _mul(dOut, _transpose(point[o]))
        dP = _mul(dH, _transpose(Vy))
        dVy = _mul(_transpose(P), dH)
        dE = _mul(W, dP)
        dw = _mul(_had(dP, E, p), one_col)
        # w = (1 - z + z^2 - z^3) / N, z = (E 1 - N) / N
        slope = _add(_add(_scale(z, 2), _scale(z2, 3), -1), one_col, -1)
        dn = _scale(_had(dw, slope, p), inv[N] * inv[N] % p)
        dE = _add(dE, _mul(dn, one_row))
        dM = _had(dE, _add(_add(ones, M), _scale(M2, inv[2])), p)
        dL = _add(dM, _mul(_mul(dM, one_col), e0_row), -1)
        if scale != 1:
            dL = _scale(dL, scale)
        dQy = _mul(dL, Ky)
        dKy = _mul(_transpose(dL), Qy)
        for t, dY in enumerate((dQy, dKy, dVy)):
            m = weights[4 * h + t]
            dYt = _transpose(dY)
            accumulate(grads, m, _mul(dYt, X))
            if biases is not None:
                accumulate(grads, words.bias_tensor(biases[3 * h + t]), _mul(dYt, one_col))
            dX = _add(dX, _mul(dY, point[m]))
    return split(dX, N, p) if dX else [{} for _ in range(N)]


# -- degrees and majorant (docs/design.md, attention inside a network) ------------------------

def _series_product(a: list, b: list) -> list:
    """Degrees of the orders 0..3 of a product of series (None: zero)."""
    out: list = [None] * 4
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            if x is not None and y is not None and i + j < 4:
                out[i + j] = x + y if out[i + j] is None else max(out[i + j], x + y)
    return out


def _series_max(*series) -> list:
    out = []
    for values in zip(*series):
        known = [v for v in values if v is not None]
        out.append(max(known) if known else None)
    return out


def attention_probe_degrees(layer, degrees: list) -> list:
    """Degrees in the probe's entries of the orders 0..3 of the output, from
    those of the input: a constant (a bias, 1) has degree 0 at order 0."""
    const = [0, None, None, None]
    Y = _series_max(degrees, const)  # X M^T + 1 b^T
    L = _series_product(Y, Y)
    M = [None] + L[1:]
    M2 = _series_product(M, M)
    E = _series_max(const, M, M2, _series_product(M2, M))
    n = [None] + E[1:]
    n2 = _series_product(n, n)
    w = _series_max(const, n, n2, _series_product(n2, n))
    P = _series_product(w, E)
    return _series_max(_series_product(P, Y), const)


def attention_theta_degree(layer, r: int) -> int:
    """Degree in theta of the output for an input of degree ``r``: a product
    surviving the truncation holds at most three entries of M (degree
    2 r + 2 each), then X V^T (r + 1) and O (1).

    >>> attention_theta_degree(["attention", "softmax", 2, 1, 1, 3], 1)
    15
    """
    return 6 * (r + 1) + (r + 1) + 1


def attention_majorant(layer, a: Fraction) -> Fraction:
    """A bound on the absolute coefficients of an output entry (every
    order, at t = 1) when those of every input entry are at most ``a``."""
    _, _, d, heads, k, N = layer[:6]
    bias = 1 if len(layer) == 7 and layer[6] is True else 0
    y = d * a + bias
    m = 2 * k * y * y  # |L - L e_0 1^T| <= 2 |L|
    e = 1 + m + m * m / 2 + m * m * m / 6
    z = (N * e + N) / N
    w = (1 + z + z * z + z * z * z) / N
    return heads * k * N * w * e * y + bias

"""Dense linear algebra modulo a prime p < 2^26 on BLAS, exact by
construction (docs/design.md, section 1, dense modular ranks).

A matrix is a float64 array of **balanced residues**, integers in
[-(p - 1)/2, (p - 1)/2], so |entry| < 2^25. Every product of two such
matrices is computed as A B = A B_hi 2^13 + A B_lo with B = B_hi 2^13 + B_lo,
|B_hi|, |B_lo| <= 2^12 (:func:`matmul`): each term of a dot product is at
most 2^25 2^12 = 2^37 in absolute value, and a dot product of at most
:data:`MAX_INNER` = 2^15 terms at most 2^52 < 2^53, so every partial sum in
any summation order is an integer represented exactly in float64 and BLAS
returns the exact integer; x - rint(x / p) p then reduces it exactly
(|x| < 2^53, p < 2^26). Longer products are cut into pieces of MAX_INNER.
A leaf panel of at most :data:`LEAF` columns is eliminated entry by entry
on the same balanced floats (a multiplier x inv(y) and a product f y' stay
below 2^51 before they are reduced); a triangle of at most LEAF rows is
solved on int64 residues in [0, p) (fewer than LEAF products below 2^52
each: the sum stays below 2^57).

The rank is that of a recursive LU factorisation with row pivoting: the
left half of the columns factored, the right half updated by a triangular
solve and one Schur complement product, then factored. It is the rank of
the matrix over F_p, the same number FLINT's ``nmod_mat.rank`` gives (the
tests compare them on matrices of every rank, at the extreme residues), so
a rank mod p is a lower bound on the rank over Q as in section 1.

This module is part of the verifier's trusted base: it imports only numpy
and the kernel.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LEAF", "MAX_INNER", "MAX_PRIME", "balanced", "matmul", "rank", "reduce"]

#: The largest prime this module computes with (exclusive).
MAX_PRIME = 1 << 26
#: The split of a right factor: B = B_hi SPLIT + B_lo.
SPLIT = 1 << 13
#: The longest dot product computed by one BLAS call (2^15 terms of at most 2^37).
MAX_INNER = 1 << 15
#: Columns of a panel eliminated entry by entry (int64), rows of a triangle solved so.
LEAF = 32


def _check_prime(p: int) -> None:
    if not (isinstance(p, int) and 2 < p < MAX_PRIME):
        raise ValueError(f"the prime of a dense modular kernel must be odd and below 2^26, "
                         f"not {p!r}")


def reduce(x: np.ndarray, p: int) -> np.ndarray:
    """Balanced residues of a float64 array of integers of absolute value < 2^53.

    >>> reduce(np.array([7.0, -7.0, 3.0, 4.0]), 7).tolist()
    [0.0, 0.0, 3.0, -3.0]
    """
    return x - np.rint(x / p) * p


def balanced(values, p: int) -> np.ndarray:
    """A float64 array of balanced residues from integers (any size: reduced
    mod p as Python or numpy integers first).

    >>> balanced([[10, -1], [2**70, 3]], 7).tolist()
    [[3.0, -1.0], [2.0, 3.0]]
    """
    _check_prime(p)
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind not in "iu" or arr.dtype.itemsize > 8:
        arr = np.array([[int(v) % p for v in row] for row in values], dtype=np.int64) \
            if arr.ndim == 2 else np.array([int(v) % p for v in values], dtype=np.int64)
    else:
        arr = arr.astype(np.int64) % p
    return reduce(arr.astype(np.float64), p)


def matmul(A: np.ndarray, B: np.ndarray, p: int) -> np.ndarray:
    """A B mod p, balanced, for balanced A and B (module docstring: every
    partial sum below 2^53).

    >>> A = balanced([[3, 5]], 11); B = balanced([[2], [4]], 11)
    >>> matmul(A, B, 11).tolist()
    [[4.0]]
    """
    if A.shape[1] > MAX_INNER:
        out = np.zeros((A.shape[0], B.shape[1]))
        for s in range(0, A.shape[1], MAX_INNER):
            out = reduce(out + matmul(A[:, s:s + MAX_INNER], B[s:s + MAX_INNER], p), p)
        return out
    hi = np.rint(B / SPLIT)
    lo = B - hi * SPLIT
    return reduce(reduce(A @ hi, p) * SPLIT + A @ lo, p)


# -- unit lower triangular solves ---------------------------------------------------------------

def _trsm(L: np.ndarray, B: np.ndarray, p: int) -> np.ndarray:
    """X with L X = B mod p, L unit lower triangular (its diagonal not read),
    balanced; recursive, the leaves by forward substitution on int64."""
    k = L.shape[0]
    if k <= LEAF:
        X = np.mod(B.astype(np.int64), p)
        Li = np.mod(L.astype(np.int64), p)
        for t in range(1, k):
            # t < LEAF products below 2^52 each: the int64 sum stays below 2^57
            X[t] = (X[t] - (Li[t, :t] @ X[:t]) % p) % p
        return reduce(X.astype(np.float64), p)
    h = k // 2
    X1 = _trsm(L[:h, :h], B[:h], p)
    X2 = _trsm(L[h:, h:], reduce(B[h:] - matmul(L[h:, :h], X1, p), p), p)
    return np.vstack([X1, X2])


# -- the recursive factorisation ------------------------------------------------------------------

def _leaf(A: np.ndarray, r: int, c0: int, c1: int, p: int) -> list[int]:
    """Eliminate columns c0..c1 of rows r.. of A entry by entry: pivot rows
    moved to r, r + 1, ... (whole rows swapped), multipliers stored below
    each pivot in its column, the other rows' panel entries zeroed. The pivot
    columns, in order. Balanced float64 throughout: a multiplier f = x inv(y)
    and a product f y' are below 2^51 before they are reduced."""
    P = A[r:, c0:c1].copy()
    m = P.shape[0]
    pivots: list[int] = []
    k = 0
    for j in range(c1 - c0):
        if k == m:
            break
        nz = np.flatnonzero(P[k:, j])
        if nz.size == 0:
            continue
        i = k + int(nz[0])
        if i != k:
            P[[k, i]] = P[[i, k]]
            A[[r + k, r + i]] = A[[r + i, r + k]]
        inv = pow(int(P[k, j]) % p, -1, p)
        f = reduce(P[k + 1:, j] * inv, p)
        if j + 1 < c1 - c0:
            P[k + 1:, j + 1:] = reduce(P[k + 1:, j + 1:] - f[:, None] * P[k, j + 1:], p)
        P[k + 1:, j] = f  # the multipliers, below the pivot
        pivots.append(c0 + j)
        k += 1
    A[r:, c0:c1] = P
    return pivots


def _factor(A: np.ndarray, r: int, c0: int, c1: int, p: int) -> list[int]:
    """Factor columns c0..c1 of rows r.. in place; the pivot columns (their
    rows are r, r + 1, ...)."""
    if r >= A.shape[0] or c0 >= c1:
        return []
    if c1 - c0 <= LEAF:
        return _leaf(A, r, c0, c1, p)
    mid = (c0 + c1) // 2
    left = _factor(A, r, c0, mid, p)
    k = len(left)
    if k:
        L = A[r:r + k][:, left]  # strictly lower part: the multipliers among the pivots
        U = _trsm(L, A[r:r + k, mid:c1], p)
        A[r:r + k, mid:c1] = U
        if r + k < A.shape[0]:
            F = A[r + k:][:, left]
            A[r + k:, mid:c1] = reduce(A[r + k:, mid:c1] - matmul(F, U, p), p)
    right = _factor(A, r + k, mid, c1, p)
    return left + right


def rank(values, p: int) -> int:
    """The rank over F_p of an integer matrix (a list of rows or an array).

    >>> rank([[1, 2, 3], [2, 4, 6], [0, 0, 1]], 101)
    2
    >>> rank([[0, 0], [0, 0]], 101)
    0
    """
    A = balanced(values, p)
    if A.ndim != 2 or not A.size:
        return 0
    if A.shape[0] < A.shape[1]:  # fewer columns to split: factor the transpose
        A = np.ascontiguousarray(A.T)
    return len(_factor(A, 0, 0, A.shape[1], p))

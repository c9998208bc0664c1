"""Dense linear algebra modulo a prime p < 2^26 on BLAS, exact by
construction (docs/design.md, section 1, dense modular ranks).

A matrix is a float64 array of **balanced residues**, integers in
[-h, h], h = (p - 1)/2 < 2^25. A product of two such matrices
(:func:`matmul`) is a sum of terms at most h^2 in absolute value; when the
inner dimension K has K h^2 < 2^52 (p < 2^20 and K <= 2^14: the growth's
prime) every partial sum, in any summation order, is an integer
represented exactly in float64, so BLAS returns the exact integer.
Otherwise the right factor is split, B = B_hi 2^13 + B_lo with |B_hi|,
|B_lo| <= 2^12, and each of the two products has terms at most h 2^12 <
2^37 (2^15 of them stay below 2^52). Longer products are cut into pieces,
each reduced. x - rint(x / p) p then reduces an exact |x| < 2^52 to
[-h, h] exactly (:func:`reduce`).
A leaf panel of at most :data:`LEAF` columns is eliminated column by
column on the same balanced floats (a multiplier x inv(y) stays below
2^51 before it is reduced, each update is a product of fewer than LEAF
terms, as above); a triangle of at most LEAF rows is
solved row by row, on floats when its sums of fewer than LEAF
terms stay below 2^52, else on int64 residues in [0, p) (products below
2^52 each: the sum stays below 2^55). Large temporaries are worked through
in blocks of at most :data:`CHUNK` entries.

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

import contextlib
import functools
import os

import numpy as np

__all__ = ["CHUNK", "LEAF", "MAX_PRIME", "THREADS", "WIDE", "ModMat", "balanced", "echelon",
           "echelon_in_place", "matmul", "matmul_sub", "pivot_columns", "rank", "rank_in_place",
           "reduce", "set_threads", "sparse_rank", "sub_product"]

#: Blocks of more columns than this are ranked here rather than by FLINT, at
#: a prime below 2^20 (the growth's and the verifier's for wider programs:
#: benchmarks/bench_densemod.py measures where it is faster).
WIDE = 2048
#: The largest prime this module computes with (exclusive).
MAX_PRIME = 1 << 26
#: The split of a right factor: B = B_hi SPLIT + B_lo.
SPLIT = 1 << 13
#: Columns of a panel eliminated entry by entry, rows of a triangle solved so.
LEAF = 32
#: The most entries of a temporary array in a reduction or an update: larger
#: ones are worked through in blocks of rows, so that the temporaries are reused
#: memory rather than pages mapped afresh for every product.
CHUNK = 1 << 20


#: BLAS threads of the kernel's products: 1 unless EXACTCL_BLAS_THREADS says
#: otherwise (machines are shared; :func:`set_threads` changes it).
THREADS = max(1, int(os.environ.get("EXACTCL_BLAS_THREADS", "1") or 1))


def set_threads(n: int) -> None:
    """Use ``n`` BLAS threads in this module's products (1 by default)."""
    global THREADS
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the BLAS threads must be a positive int, not {n!r}")
    THREADS = n


def _threads():
    """The BLAS thread limit for one factorisation (threadpoolctl's)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover (a core dependency)
        return contextlib.nullcontext()
    return threadpool_limits(limits=THREADS, user_api="blas")


def _check_prime(p: int) -> None:
    if not (isinstance(p, int) and 2 < p < MAX_PRIME):
        raise ValueError(f"the prime of a dense modular kernel must be odd and below 2^26, "
                         f"not {p!r}")


def reduce(x: np.ndarray, p: int, inplace: bool = False) -> np.ndarray:
    """Balanced residues of a float64 array of integers of absolute value
    below 2^52 (in place with ``inplace``): x / p is then within
    |x| 2^-53 / p < 1/(2p) of its true value, which is at least 1/(2p) from
    any half-integer (p is odd), so rint gives the nearest quotient and the
    residue is in [-h, h], h = (p - 1)/2, exactly. Large arrays are reduced
    :data:`CHUNK` entries at a time (the same arithmetic on each entry).

    >>> reduce(np.array([7.0, -7.0, 3.0, 4.0]), 7).tolist()
    [0.0, 0.0, 3.0, -3.0]
    """
    if not inplace:
        x = np.array(x, dtype=np.float64)
    if x.size <= CHUNK or x.ndim > 2:
        _reduce_block(x, p)
    elif x.ndim == 1:
        for s in range(0, x.size, CHUNK):
            _reduce_block(x[s:s + CHUNK], p)
    else:
        rows = max(1, CHUNK // x.shape[1])
        for s in range(0, x.shape[0], rows):
            _reduce_block(x[s:s + rows], p)
    return x


def _reduce_block(x: np.ndarray, p: int) -> None:
    q = np.divide(x, p)
    np.rint(q, out=q)
    q *= p
    x -= q


def balanced(values, p: int) -> np.ndarray:
    """A float64 array of balanced residues from integers (any size: reduced
    mod p as Python or numpy integers first).

    >>> balanced([[10, -1], [2**70, 3]], 7).tolist()
    [[3.0, -1.0], [2.0, 3.0]]
    """
    _check_prime(p)
    arr = np.asarray(values)
    if arr.dtype.kind == "f" and arr.size and float(np.max(np.abs(arr))) < 2.0**52:
        if not np.array_equal(arr, np.rint(arr)):
            raise ValueError("a dense modular matrix holds integers, not fractions")
        return reduce(np.array(arr, dtype=np.float64, order="C"), p, inplace=True)
    if arr.dtype == object or arr.dtype.kind not in "iu" or arr.dtype.itemsize > 8:
        arr = np.array([[int(v) % p for v in row] for row in values], dtype=np.int64) \
            if arr.ndim == 2 else np.array([int(v) % p for v in values], dtype=np.int64)
    elif arr.size and int(np.max(np.abs(arr))) >= 1 << 52:
        arr = arr % p  # (exact in int64) before the conversion to float64
    return reduce(arr.astype(np.float64, order="C"), p, inplace=True)


def _inner(bound: int) -> int:
    """The longest dot product whose terms are at most ``bound`` in absolute
    value with every partial sum below 2^52 (exact in float64, and reduced
    exactly by :func:`reduce`)."""
    return max(1, ((1 << 52) - 1) // max(bound, 1))


@functools.lru_cache(maxsize=64)
def _lengths(p: int) -> tuple[int, int, int]:
    """The longest inner dimensions modulo p: of one product (terms below h^2),
    of each split product beside the reduced high part (terms below h 2^12,
    plus one below 2^38), and of one product subtracted from a balanced C."""
    h = (p - 1) // 2
    return _inner(h * h), _inner(h << 12) // 2, _inner(h * h + h) - 1


def matmul(A: np.ndarray, B: np.ndarray, p: int) -> np.ndarray:
    """A B mod p, balanced, for balanced A and B (|entries| <= h = (p - 1)/2).

    One BLAS product when its terms, at most h^2, add up to less than 2^52
    over the inner dimension (for p < 2^20, 2^14 terms: the growth's prime);
    else B = B_hi 2^13 + B_lo (|B_hi|, |B_lo| <= 2^12) and two products of
    terms at most h 2^12 < 2^37 (2^15 of them). Longer inner dimensions are
    cut into pieces, each reduced (module docstring).

    >>> A = balanced([[3, 5]], 11); B = balanced([[2], [4]], 11)
    >>> matmul(A, B, 11).tolist()
    [[4.0]]
    """
    whole, longest, _ = _lengths(p)
    if A.shape[1] <= whole:
        return reduce(A @ B, p, inplace=True)
    if A.shape[1] > longest:
        out = np.zeros((A.shape[0], B.shape[1]))
        for s in range(0, A.shape[1], longest):
            out = reduce(out + matmul(A[:, s:s + longest], B[s:s + longest], p), p,
                         inplace=True)
        return out
    hi = np.rint(B / SPLIT)
    lo = B - hi * SPLIT
    out = reduce(A @ hi, p, inplace=True)
    out *= SPLIT
    out += A @ lo
    return reduce(out, p, inplace=True)


def matmul_sub(C: np.ndarray, A: np.ndarray, B: np.ndarray, p: int) -> np.ndarray:
    """C - A B mod p, balanced (C balanced): one reduction when A B is one
    BLAS product whose sum with C stays below 2^52, else
    :func:`matmul` then the difference."""
    if A.shape[1] <= _lengths(p)[2]:  # |C| + K h^2 < 2^52
        out = A @ B
        np.subtract(C, out, out=out)
        return reduce(out, p, inplace=True)
    return reduce(C - matmul(A, B, p), p, inplace=True)


def sub_product(C: np.ndarray, A: np.ndarray, B: np.ndarray, p: int,
                columns: list[int] | slice | None = None) -> None:
    """C <- C - A B mod p in place (C a view, balanced), where A is the given
    array or, with ``columns``, those columns of it (a list gathered block by
    block, a slice read in place); blocks of rows of C of at most :data:`CHUNK` entries, each as
    :func:`matmul_sub`.

    >>> C = np.array([[1.0, 2.0], [3.0, -3.0]]); sub_product(C, np.eye(2), C.copy(), 7)
    >>> C.tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """
    if not C.size:
        return
    rows = max(1, CHUNK // max(C.shape[1], 1))
    for s in range(0, C.shape[0], rows):
        part = A[s:s + rows]
        if columns is not None:
            part = part[:, columns]
        C[s:s + rows] = matmul_sub(C[s:s + rows], part, B, p)


# -- unit lower triangular solves ---------------------------------------------------------------

def _trsm(L: np.ndarray, B: np.ndarray, p: int) -> np.ndarray:
    """X with L X = B mod p, L unit lower triangular (its diagonal not read),
    balanced; recursive, the leaves by forward substitution."""
    X = np.array(B, dtype=np.float64)
    _trsm_in_place(L, X, p)
    return X


def _trsm_in_place(L: np.ndarray, X: np.ndarray, p: int) -> None:
    """:func:`_trsm` overwriting X (a view holding B)."""
    _triangle_in_place(L, X, p, lower=True)


def _triangle_in_place(T: np.ndarray, X: np.ndarray, p: int, lower: bool) -> None:
    """X <- T^-1 X mod p, T unit lower (``lower``) or unit upper triangular,
    only its strict part read, X overwritten; recursive, the leaves by
    substitution row by row: fewer than LEAF terms below h^2 each per row, on
    floats when their sum stays below 2^52, else on int64 residues in [0, p)
    (below 2^57)."""
    k = T.shape[0]
    if k <= LEAF:
        order = range(1, k) if lower else range(k - 2, -1, -1)

        def known(t):  # the rows already solved that row t reads
            return slice(None, t) if lower else slice(t + 1, None)
        if LEAF * ((p - 1) // 2) ** 2 < 1 << 52:
            for t in order:
                row = X[t]
                row -= T[t, known(t)] @ X[known(t)]
                reduce(row, p, inplace=True)
            return
        Xi = np.mod(X.astype(np.int64), p)
        Ti = np.mod(T.astype(np.int64), p)
        for t in order:
            Xi[t] = (Xi[t] - (Ti[t, known(t)] @ Xi[known(t)]) % p) % p
        X[...] = reduce(Xi.astype(np.float64), p, inplace=True)
        return
    h = k // 2
    first, second = (slice(None, h), slice(h, None)) if lower else (slice(h, None), slice(None, h))
    _triangle_in_place(T[first, first], X[first], p, lower)
    sub_product(X[second], T[second, first], X[first], p)
    _triangle_in_place(T[second, second], X[second], p, lower)


# -- the recursive factorisation ------------------------------------------------------------------

def _leaf(A: np.ndarray, r: int, c0: int, c1: int, p: int) -> list[int]:
    """Eliminate columns c0..c1 of rows r.. of A entry by entry: pivot rows
    moved to r, r + 1, ... (whole rows swapped), multipliers stored below
    each pivot in its column, the other rows' panel entries zeroed. The pivot
    columns, in order.

    Left-looking, on the panel transposed (a column per row of T): column j
    is brought up to date only when it is reached, by one product of the
    pivot rows' entries with the multipliers found so far (fewer than LEAF
    terms, :func:`matmul_sub`'s bounds), and a new pivot row's later entries
    likewise; a multiplier x inv(y) is below 2^51 before it is reduced. The
    same pivots, multipliers and entries as eliminating column by column."""
    T = np.array(A[r:, c0:c1].T)  # T[j] is column c0 + j of the panel
    width, m = T.shape
    M = np.zeros((min(width, m), m))  # M[s]: the multipliers of pivot s (rows below it)
    pivots: list[int] = []
    k = 0
    for j in range(width):
        if k == m:
            break
        col = T[j, k:]
        if k:  # column j's entries below the pivots, brought up to date
            col[:] = matmul_sub(col[None], T[j:j + 1, :k], M[:k, k:], p)[0]
        nz = np.flatnonzero(col)
        if nz.size == 0:
            continue
        i = k + int(nz[0])
        if i != k:
            T[:, [k, i]] = T[:, [i, k]]
            M[:k, [k, i]] = M[:k, [i, k]]
            A[[r + k, r + i]] = A[[r + i, r + k]]
        inv = pow(int(T[j, k]) % p, -1, p)
        f = reduce(T[j, k + 1:] * inv, p, inplace=True)
        T[j, k + 1:] = f  # the multipliers, below the pivot
        M[k, k + 1:] = f
        if k and j + 1 < width:  # the pivot row's later entries, up to date
            T[j + 1:, k] = matmul_sub(T[j + 1:, k][:, None], T[j + 1:, :k], M[:k, k:k + 1],
                                      p)[:, 0]
        pivots.append(c0 + j)
        k += 1
    A[r:, c0:c1] = T.T
    return pivots


def _factor(A: np.ndarray, r: int, c0: int, c1: int, p: int) -> list[int]:
    """Factor columns c0..c1 of rows r.. in place; the pivot columns (their
    rows are r, r + 1, ...). The updates work in place on A, the pivot
    columns read as a slice when they are consecutive."""
    if r >= A.shape[0] or c0 >= c1:
        return []
    if c1 - c0 <= LEAF:
        return _leaf(A, r, c0, c1, p)
    mid = (c0 + c1) // 2
    left = _factor(A, r, c0, mid, p)
    k = len(left)
    if k:
        # the pivot columns: a slice (a view) when they are consecutive
        taken = slice(left[0], left[-1] + 1) if left[-1] - left[0] + 1 == k else left
        # the strictly lower part of L: the multipliers among the pivots
        U = A[r:r + k, mid:c1]
        _trsm_in_place(A[r:r + k][:, taken], U, p)
        if r + k < A.shape[0]:
            sub_product(A[r + k:, mid:c1], A[r + k:], U, p, columns=taken)
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
    with _threads():
        return len(_factor(A, 0, 0, A.shape[1], p))


def rank_in_place(A: np.ndarray, p: int) -> int:
    """:func:`rank` of a C-contiguous float64 array that already holds balanced
    residues (checked: integers in [-h, h], read block by block), factored in
    place without a copy: the array is overwritten. For the verifier's largest
    matrices, whose copies would double its memory.

    >>> A = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]); rank_in_place(A, 101)
    1
    """
    _check_prime(p)
    h = (p - 1) // 2
    if not (isinstance(A, np.ndarray) and A.dtype == np.float64 and A.ndim == 2
            and A.flags.c_contiguous):
        raise ValueError("rank_in_place takes a C-contiguous 2-d float64 array")
    if not A.size:
        return 0
    for s in range(0, A.shape[0], 256):
        block = A[s:s + 256]
        if block.min() < -h or block.max() > h or not np.array_equal(block, np.rint(block)):
            raise ValueError(f"rank_in_place takes balanced residues mod {p} (integers in "
                             f"[-{h}, {h}])")
    if 2 * A.shape[0] < A.shape[1]:  # far fewer rows: the transpose (a small copy)
        A = np.ascontiguousarray(A.T)
    with _threads():
        return len(_factor(A, 0, 0, A.shape[1], p))


def pivot_columns(values, p: int) -> list[int]:
    """The first independent columns of a matrix over F_p, in order (each
    column independent of the columns before it).

    >>> pivot_columns([[1, 2, 0, 1], [0, 0, 1, 1]], 7)
    [0, 2]
    """
    A = balanced(values, p)
    if A.ndim != 2 or not A.size:
        return []
    with _threads():
        return _factor(A, 0, 0, A.shape[1], p)


def _upper_solve(U: np.ndarray, B: np.ndarray, p: int) -> np.ndarray:
    """X with U X = B mod p, U upper triangular with nonzero diagonal (its
    strictly lower part not read); B is overwritten by X."""
    d = np.mod(np.diag(U).astype(np.int64), p)
    inv = np.array([pow(int(v), -1, p) for v in d], dtype=np.float64)
    Un = reduce(U * inv[:, None], p, inplace=True)  # |U| h: below 2^51
    B *= inv[:, None]
    reduce(B, p, inplace=True)
    _triangle_in_place(Un, B, p, lower=False)
    return B


def echelon(values, p: int) -> tuple[np.ndarray, list[int]]:
    """(R, pivots): the reduced row echelon form of a matrix over F_p
    (balanced, its rank rows) and its pivot columns.

    >>> R, piv = echelon([[2, 4, 1], [1, 2, 0]], 7)
    >>> np.mod(R, 7).astype(int).tolist(), piv
    ([[1, 2, 0], [0, 0, 1]], [0, 2])
    """
    A = balanced(values, p)
    if A.ndim != 2 or not A.size:
        return np.zeros((0, A.shape[-1] if A.ndim == 2 else 0)), []
    return echelon_in_place(A, p)


def echelon_in_place(A: np.ndarray, p: int) -> tuple[np.ndarray, list[int]]:
    """:func:`echelon` of a C-contiguous 2-d float64 array that holds balanced
    residues mod p (as this module's operations leave them; not checked),
    overwritten. For an array its caller computed and owns.

    >>> A = np.array([[2.0, -3.0, 1.0], [1.0, 2.0, 0.0]])
    >>> R, piv = echelon_in_place(A, 7); np.mod(R, 7).astype(int).tolist(), piv
    ([[1, 2, 0], [0, 0, 1]], [0, 2])
    """
    with _threads():
        piv = _factor(A, 0, 0, A.shape[1], p)
        # A holds L (below the diagonal, in the pivot columns) and U: its first rows'
        # upper part, an echelon form of the row space with leading entries at piv (the
        # other rows' Schur complement is zero); the multipliers lie in the pivot
        # columns, below U's diagonal, where the solve does not read
        k = len(piv)
        free = np.ones(A.shape[1], dtype=bool)
        free[piv] = False
        R = np.zeros((k, A.shape[1]))
        R[np.arange(k), piv] = 1.0
        if free.any():
            # R = U_P^-1 U: the identity on the pivot columns, solved on the others alone
            R[:, free] = _upper_solve(A[:k, piv], A[:k][:, free], p)
    return R, piv


def sparse_rank(rows, columns, p: int) -> int:
    """The rank over F_p of sparse rows ({column: value}) on ``columns``."""
    index = {c: k for k, c in enumerate(columns)}
    A = np.zeros((len(rows), len(columns)), dtype=np.int64)
    for r, row in enumerate(rows):
        if row:
            A[r, [index[c] for c in row]] = [x % p for x in row.values()]
    return rank(A, p)


# -- matrices of the evaluator --------------------------------------------------------------------

class ModMat:
    """A matrix over F_p (p < 2^26) as a float64 array of balanced residues,
    with the operations of FLINT's ``nmod_mat`` that the evaluator's jets use
    (``*`` by a matrix or an integer, ``+``, ``-``, :meth:`transpose`,
    :meth:`nrows`, :meth:`ncols`, :meth:`entries`), so that
    :class:`~exactcl.kernel.evaluator.Words` runs on BLAS unchanged and hands
    its values over as arrays. Products by :func:`matmul` (its bounds); a sum
    or difference of balanced residues is below p, a product by a reduced
    integer below h^2 < 2^50: each is reduced exactly by :func:`reduce`.

    >>> A = ModMat.of(2, 2, [1, 2, 3, 4], 7)
    >>> (A * A).entries(), (A + A * 3).entries(), A.transpose().entries()
    ([0, 3, 1, 1], [4, 1, 5, 2], [1, 3, 2, 4])
    """

    __slots__ = ("a", "p")

    def __init__(self, a: np.ndarray, p: int) -> None:
        self.a, self.p = a, p

    @classmethod
    def of(cls, rows: int, cols: int, values, p: int) -> ModMat:
        """The matrix of ``rows`` x ``cols`` integers (row by row)."""
        a = balanced(list(values), p) if rows * cols else np.zeros(0)
        if a.size != rows * cols:
            raise ValueError(f"a {rows} x {cols} matrix needs {rows * cols} entries, not {a.size}")
        return cls(a.reshape(rows, cols), p)

    def nrows(self) -> int:
        return self.a.shape[0]

    def ncols(self) -> int:
        return self.a.shape[1]

    def entries(self) -> list[int]:
        """The entries in [0, p), row by row (as ``nmod_mat.entries`` read as ints)."""
        return np.mod(self.a, self.p).astype(np.int64).ravel().tolist()

    def transpose(self) -> ModMat:
        return ModMat(self.a.T, self.p)

    def __mul__(self, other) -> ModMat:
        if isinstance(other, ModMat):
            return ModMat(matmul(self.a, other.a, self.p), self.p)
        c = int(other) % self.p
        c -= self.p if c > self.p // 2 else 0
        return ModMat(reduce(self.a * c, self.p, inplace=True), self.p)

    __rmul__ = __mul__

    def __add__(self, other: ModMat) -> ModMat:
        return ModMat(reduce(self.a + other.a, self.p, inplace=True), self.p)

    def __sub__(self, other: ModMat) -> ModMat:
        return ModMat(reduce(self.a - other.a, self.p, inplace=True), self.p)

    def __neg__(self) -> ModMat:
        return ModMat(-self.a, self.p)

    def reshape(self, rows: int, cols: int) -> ModMat:
        """The same entries, row by row, in ``rows`` x ``cols``."""
        return ModMat(self.a.reshape(rows, cols), self.p)

    def hadamard(self, mask) -> ModMat:
        """Each entry times the corresponding entry of ``mask`` (flat integers)."""
        m = np.asarray(mask, dtype=np.float64).reshape(self.a.shape)
        if m.size and float(np.max(np.abs(m))) >= self.p:  # (the evaluator's are reduced)
            m = balanced(np.asarray(mask, dtype=object) % self.p, self.p).reshape(self.a.shape)
        return ModMat(reduce(self.a * m, self.p, inplace=True), self.p)

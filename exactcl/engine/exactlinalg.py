"""Exact linear algebra over Q for the engine: canonical bases, kernels
(directly, or modular with rational reconstruction and an exact check), and
the modular kernels they start from.

Kernels that are returned are exact over Q and put in canonical form
(reduced row echelon form, each row scaled to a primitive integer vector
with positive leading entry), so equal spaces give equal bases.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from fractions import Fraction
from math import gcd, isqrt

from flint import fmpq, fmpq_mat, fmpz_mat, nmod_mat

from ..kernel.linalg import matrix_mod, rank_mod
from ..kernel.rings import rational_mod

__all__ = [
    "canonical_rows",
    "kernel_Q",
    "kernel_Q_modular",
    "kernel_mod",
    "matrix_kernel_mod",
    "nullity_mod",
    "primitive",
    "rational_reconstruction",
    "rows_mod",
]


def nullity_mod(rows: Sequence[Sequence[int]], ncols: int, prime: int) -> int:
    """ncols - rank mod p: an upper bound on the nullity over Q."""
    return ncols - rank_mod(rows, ncols, prime)


def primitive(row: Sequence[Fraction | int]) -> list[int]:
    """Scale a rational vector to a primitive integer vector with positive
    leading entry.

    >>> primitive([Fraction(-1, 2), Fraction(1, 3), 0])
    [3, -2, 0]
    """
    fr = [Fraction(x) for x in row]
    den = 1
    for x in fr:
        den = den * x.denominator // gcd(den, x.denominator)
    ints = [int(x * den) for x in fr]
    g = 0
    for x in ints:
        g = gcd(g, x)
    if g == 0:
        return ints
    lead = next(x for x in ints if x)
    sign = 1 if lead > 0 else -1
    return [sign * x // g for x in ints]


def canonical_rows(rows: Sequence[Sequence[Fraction | int]], ncols: int) -> list[list[int]]:
    """A canonical basis of the row span: RREF over Q, rows made primitive.

    >>> canonical_rows([[2, 4, 0], [1, 2, 1]], 3)
    [[1, 2, 0], [0, 0, 1]]
    """
    if not rows:
        return []
    entries = [Fraction(x) for row in rows for x in row]
    m = fmpq_mat(len(rows), ncols, [fmpq(x.numerator, x.denominator) for x in entries])
    reduced, rank = m.rref()
    out = []
    for r in range(int(rank)):
        out.append(primitive([Fraction(int(reduced[r, c].p), int(reduced[r, c].q))
                              for c in range(ncols)]))
    return out


def kernel_Q(rows: Sequence[Sequence[int]], ncols: int) -> list[list[int]]:
    """Exact right kernel over Q of an integer matrix, in canonical form.

    Notes
    -----
    ``fmpz_mat.nullspace`` returns a basis in the first ``nullity`` columns
    of a square matrix padded with zero columns; it is sliced, then put in
    canonical form by :func:`canonical_rows`.

    >>> kernel_Q([[1, 1, 0], [0, 0, 1]], 3)
    [[1, -1, 0]]
    >>> kernel_Q([], 2)
    [[1, 0], [0, 1]]
    """
    if not rows:
        return [[int(i == j) for j in range(ncols)] for i in range(ncols)]
    basis, nullity = fmpz_mat(len(rows), ncols, [int(x) for row in rows for x in row]).nullspace()
    nullity = int(nullity)
    vectors = [[int(basis[i, j]) for i in range(ncols)] for j in range(nullity)]
    return canonical_rows(vectors, ncols)


def rows_mod(rows: Sequence[Sequence[Fraction | int]], prime: int) -> list[list[int]]:
    """Reduce rational rows modulo a prime."""
    return [[rational_mod(Fraction(x), prime) for x in row] for row in rows]


def rational_reconstruction(a: int, m: int) -> Fraction | None:
    """The fraction r/s with |r|, s <= sqrt(m/2) and r = a s mod m, if any.

    >>> p = 2**61 - 1
    >>> rational_reconstruction(Fraction(-3, 7).numerator * pow(7, -1, p) % p, p)
    Fraction(-3, 7)
    """
    a %= m
    bound = isqrt(m // 2)
    r0, r1, s0, s1 = m, a, 0, 1
    while r1 > bound:
        q = r0 // r1
        r0, r1 = r1, r0 - q * r1
        s0, s1 = s1, s0 - q * s1
    if s1 == 0 or abs(s1) > bound or gcd(r1, abs(s1)) != 1:
        return None
    return Fraction(r1, s1)


def kernel_mod(rows: Sequence[Sequence[int]], ncols: int, prime: int) -> list[list[int]]:
    """Basis of the right kernel mod p in reduced row echelon form.

    >>> kernel_mod([[1, 1, 0], [0, 0, 1]], 3, 101)
    [[1, 100, 0]]
    """
    if not rows:
        return [[int(i == j) for j in range(ncols)] for i in range(ncols)]
    return matrix_kernel_mod(matrix_mod(rows, ncols, prime))


def matrix_kernel_mod(matrix: nmod_mat) -> list[list[int]]:
    """Right kernel of an ``nmod_mat`` as rows in reduced row echelon form.

    >>> matrix_kernel_mod(nmod_mat(1, 2, [1, 1], 7))
    [[1, 6]]
    """
    basis, nullity = matrix.nullspace()
    nullity, ncols = int(nullity), matrix.ncols()
    if nullity == 0:
        return []
    kt = nmod_mat(nullity, ncols, [int(basis[i, j]) for j in range(nullity)
                                   for i in range(ncols)], matrix.modulus())
    reduced, rank = kt.rref()
    return [[int(reduced[r, c]) for c in range(ncols)] for r in range(int(rank))]


def kernel_Q_modular(
    sparse_rows: Sequence[dict[int, int]],
    ncols: int,
    prime: int,
    seed: int = 0,
) -> list[list[int]]:
    """Exact kernel over Q of a sparse integer matrix, by a modular kernel,
    rational reconstruction and exact verification; canonical form as
    :func:`kernel_Q`.

    Notes
    -----
    The rows are first compressed by a seeded sparse random combination R
    (two buckets per row) to about ``ncols`` rows. Since
    ker_Q(A) <= ker_p(A) <= ker_p(RA) in dimension, reconstructed vectors
    that satisfy A v = 0 exactly over Z and are as many as the nullity of
    RA mod p span ker_Q(A): the result is proven, whatever the random
    choices. When reconstruction or verification fails (an unlucky prime
    or sketch), the exact ``fmpz_mat.nullspace`` of the full matrix is used.

    >>> kernel_Q_modular([{0: 1, 1: 1}, {2: 1}], 3, 2**61 - 1)
    [[1, -1, 0]]
    """
    rows = [r for r in sparse_rows if any(r.values())]
    if not rows:
        return [[int(i == j) for j in range(ncols)] for i in range(ncols)]
    if len(rows) > 2 * ncols + 32:
        rng = random.Random(seed)
        buckets = ncols + 32
        compressed: list[dict[int, int]] = [{} for _ in range(buckets)]
        for row in rows:
            for _ in range(2):
                target = compressed[rng.randrange(buckets)]
                coeff = 1 + rng.getrandbits(prime.bit_length() + 8) % (prime - 1)
                for c, x in row.items():
                    target[c] = target.get(c, 0) + coeff * x
    else:
        compressed = rows
    sketch = nmod_mat(len(compressed), ncols, prime)  # sparse rows: set the nonzeros only
    for r, row in enumerate(compressed):
        for c, x in row.items():
            sketch[r, c] = x % prime
    candidate = []
    for vec in matrix_kernel_mod(sketch):
        fracs = [rational_reconstruction(x, prime) if x else Fraction(0) for x in vec]
        if any(f is None for f in fracs):
            candidate = None
            break
        candidate.append(primitive(fracs))
    if candidate is not None and all(
            sum(x * v[c] for c, x in row.items()) == 0 for row in rows for v in candidate):
        return candidate
    full = [[row.get(c, 0) for c in range(ncols)] for row in rows]
    return kernel_Q(full, ncols)

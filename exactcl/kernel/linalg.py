"""Exact and modular linear algebra on python-flint matrices.

Ranks that decide anything are computed modulo a prime: for an integer
matrix A and a prime p, ``rank(A mod p) <= rank_Q(A)``, so a modular rank
is a rigorous lower bound. Kernels that are returned are exact over Q and
put in canonical form (reduced row echelon form, each row scaled to a
primitive integer vector with positive leading entry), so equal spaces
give equal bases.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from math import gcd, isqrt

from flint import fmpq, fmpq_mat, fmpq_mpoly, fmpz_mat, nmod_mat

from .budget import flint_products
from .rings import rational_mod

__all__ = [
    "BlockBasis",
    "IncrementalBasis",
    "StackBasis",
    "canonical_rows",
    "independent_rows_mod",
    "kernel_Q",
    "kernel_Q_modular",
    "kernel_mod",
    "nullity_mod",
    "primitive",
    "rank_mod",
    "rational_reconstruction",
]


def _mat_mod(rows: Sequence[Sequence[int] | Mapping[int, int]], ncols: int, prime: int
             ) -> nmod_mat:
    """Rows dense (sequences) or sparse ({column: value}) as a matrix mod p."""
    if not rows or not ncols:
        return nmod_mat(len(rows), ncols, prime)
    if isinstance(rows[0], Mapping):
        matrix = nmod_mat(len(rows), ncols, prime)
        for r, row in enumerate(rows):
            for c, x in row.items():
                matrix[r, c] = x % prime
        return matrix
    return nmod_mat(fmpz_mat(rows), prime)  # via fmpz: faster, and reduces mod p in C


def _pivots(reduced: nmod_mat, rank: int) -> list[int]:
    """Pivot columns of a matrix in reduced row echelon form."""
    pivots, col, ncols = [], 0, reduced.ncols()
    for r in range(rank):
        while col < ncols and int(reduced[r, col]) == 0:
            col += 1
        pivots.append(col)
        col += 1
    return pivots


def rank_mod(rows: Sequence[Sequence[int] | Mapping[int, int]], ncols: int, prime: int) -> int:
    """Rank modulo ``prime`` of the matrix with the given rows (dense or sparse).

    >>> rank_mod([[1, 2], [2, 4]], 2, 101)
    1
    """
    if not rows:
        return 0
    return int(_mat_mod(rows, ncols, prime).rank())


def independent_rows_mod(rows: Sequence[Sequence[int]], ncols: int, prime: int) -> list[int]:
    """Indices of the rows kept by a greedy scan: each is independent mod p of
    the kept rows before it.

    >>> independent_rows_mod([[1, 2], [2, 4], [0, 1]], 2, 101)
    [0, 2]
    """
    if not rows:
        return []
    transposed = nmod_mat(ncols, len(rows), [rows[j][i] % prime for i in range(ncols)
                                             for j in range(len(rows))], prime)
    reduced, rank = transposed.rref()
    return _pivots(reduced, int(rank))


class IncrementalBasis:
    """Vectors mod p kept one batch at a time when they raise the rank.

    Notes
    -----
    The span of the kept vectors is held as its reduced echelon basis E
    (an ``nmod_mat`` with spare zero rows, doubled when full) with pivot
    columns P. A batch B is reduced by one product, B' = B - B[:, P] E,
    which vanishes on P; a batch vector raises the rank exactly when its
    reduced row is independent of the reduced rows before it, which one
    echelon form of the small matrix B'^T decides. The new vectors enter
    E by one rank-k update. Every step is a flint product or echelon form
    of size batch x D; nothing is recomputed from scratch.
    :func:`independent_rows_mod` on all vectors at once is the reference
    this is tested against.

    >>> B = IncrementalBasis(3, 101)
    >>> B.add([[1, 0, 0], [2, 0, 0], [0, 1, 0]])
    [0, 2]
    >>> B.rank, B.add([[1, 1, 0], [0, 0, 5]])
    (2, [1])
    """

    def __init__(self, ncols: int, prime: int, keep_rows: bool = True) -> None:
        self.ncols = ncols
        self.prime = prime
        self.keep_rows = keep_rows
        #: the kept vectors, in order (when ``keep_rows``)
        self.rows: list[Sequence[int] | Mapping[int, int]] = []
        self._rank = 0
        self._pivots: list[int] = []
        self._slot: dict[int, int] = {}  # pivot column -> its row of the echelon basis
        self._echelon = nmod_mat(0, ncols, prime)  # spare rows past the rank are zero

    @property
    def rank(self) -> int:
        return self._rank

    def add(self, batch: Sequence[Sequence[int] | Mapping[int, int]],
            limit: int | None = None) -> list[int]:
        """Keep the batch vectors that raise the rank; return their batch indices.

        Vectors are dense sequences of length ``ncols`` or sparse mappings
        {column: value} (one kind per batch). With ``limit``, stop once the
        rank reaches it.
        """
        batch = list(batch)
        room = self.ncols - self.rank
        if limit is not None:
            room = min(room, limit - self.rank)
        if not batch or room <= 0:
            return []
        p, n, spare = self.prime, self.ncols, self._echelon.nrows()
        sparse = isinstance(batch[0], Mapping)
        if sparse:
            reduced = nmod_mat(len(batch), n, p)
            coeffs = nmod_mat(len(batch), spare, p)
            for r, vector in enumerate(batch):
                for c, x in vector.items():
                    x %= p
                    if x:
                        reduced[r, c] = x
                        slot = self._slot.get(c)
                        if slot is not None:
                            coeffs[r, slot] = x
        else:
            reduced = _mat_mod(batch, n, p)
            pad = [0] * (spare - self.rank)
            coeffs = _mat_mod([[v[c] for c in self._pivots] + pad for v in batch], spare, p)
        if self.rank:
            reduced = reduced - coeffs * self._echelon
        transposed, k = reduced.transpose().rref()
        kept = _pivots(transposed, int(k))[:room]
        if kept:
            new, _ = (_selection(kept, len(batch), p, rows=True) * reduced).rref()
            self._insert(new, _pivots(new, len(kept)))
            if self.keep_rows:
                self.rows.extend(batch[i] for i in kept)
        return kept

    def _insert(self, new: nmod_mat, pivots: list[int]) -> None:
        """Add reduced rows (zero on the old pivots) and clear their pivot
        columns from the old rows: E <- E + (T - E S) new."""
        p, k, rank = self.prime, new.nrows(), self.rank
        capacity = self._echelon.nrows()
        if rank + k > capacity:
            capacity = min(self.ncols, max(2 * capacity, rank + k))
            self._echelon = _selection(range(self._echelon.nrows()), capacity, p) * self._echelon
        place = _selection(range(rank, rank + k), capacity, p)  # capacity x k
        if rank:
            place = place - self._echelon * _selection(pivots, self.ncols, p)
        self._echelon = self._echelon + place * new
        for t, c in enumerate(pivots):
            self._slot[c] = rank + t
        self._pivots.extend(pivots)
        self._rank += k


def _selection(indices: Iterable[int], size: int, prime: int, rows: bool = False) -> nmod_mat:
    """The 0/1 matrix that picks ``indices`` out of ``size``: ``size x k``
    with ones at (indices[t], t), or its transpose when ``rows``."""
    indices = list(indices)
    k = len(indices)
    matrix = nmod_mat(k, size, prime) if rows else nmod_mat(size, k, prime)
    for t, i in enumerate(indices):
        if rows:
            matrix[t, i] = 1
        else:
            matrix[i, t] = 1
    return matrix


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
    return _kernel_rref(_mat_mod(rows, ncols, prime))


def _kernel_rref(matrix: nmod_mat) -> list[list[int]]:
    """Right kernel of an ``nmod_mat`` as rows in reduced row echelon form."""
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
    for vec in _kernel_rref(sketch):
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


def poly_det(matrix: Sequence[Sequence[fmpq_mpoly]],
             spend: Callable[[float], None] | None = None) -> fmpq_mpoly:
    """Determinant of a square matrix of polynomials, exactly.

    Notes
    -----
    Fraction-free Bareiss elimination: every division is exact (flint
    raises if it were not), and a zero pivot is replaced by a row below
    with a nonzero entry in that column. ``spend(units)``, if given, is
    called before each step with its work (:mod:`exactcl.kernel.budget`), so a
    budget can stop it.

    >>> from exactcl.kernel.rings import Ring
    >>> R = Ring(("a", "b", "c", "d"))
    >>> a, b, c, d = R.gens
    >>> str(poly_det([[a, b], [c, d]]))
    '-b*c + a*d'
    """
    n = len(matrix)
    if n == 0:
        raise ValueError("poly_det needs a non-empty square matrix")
    m = [list(row) for row in matrix]
    sign = 1
    prev = None
    for k in range(n - 1):
        if m[k][k].is_zero():
            swap = next((r for r in range(k + 1, n) if not m[r][k].is_zero()), None)
            if swap is None:
                return m[k][k] * 0
            m[k], m[swap] = m[swap], m[k]
            sign = -sign
        for i in range(k + 1, n):
            for j in range(k + 1, n):
                if spend is not None:
                    spend(flint_products(len(m[i][j]), len(m[k][k]))
                          + flint_products(len(m[i][k]), len(m[k][j])))
                value = m[i][j] * m[k][k] - m[i][k] * m[k][j]
                if prev is not None and spend is not None:
                    spend(flint_products(len(value), len(prev)))
                m[i][j] = value if prev is None else value / prev
        prev = m[k][k]
    return m[n - 1][n - 1] if sign > 0 else -m[n - 1][n - 1]


#: Blocks of more columns than this are kept by :class:`StackBasis`.
STACK_ABOVE = 512


class StackBasis:
    """:class:`IncrementalBasis` for wide dense blocks (the program engine's),
    by the quotient by the kept vectors.

    The kept vectors have a reduced echelon form E with pivot columns P and
    free columns C (F = E[:, C], kept transposed); a vector v raises the
    rank exactly when its residue v[C] - v[P] F is independent of the other
    residues. The first batch makes E by one echelon form (and the first
    independent vectors are the pivots of its transpose's, unless it has
    full rank); a later batch costs its size times the rank times |C|, and
    the vectors it keeps extend E by back-substitution on the free columns
    alone. Near the end of a growth C holds a few columns beyond the rank,
    so the many short batches there cost little.

    It keeps the first vectors of the batch that raise the rank, the choice
    :class:`IncrementalBasis` makes.

    >>> B = StackBasis(3, 101)
    >>> B.add([[1, 0, 0], [2, 0, 0], [0, 1, 0]]), B.add([[1, 1, 0], [0, 0, 5]])
    ([0, 2], [1])
    """

    def __init__(self, ncols: int, prime: int) -> None:
        self.ncols, self.prime = ncols, prime
        self._kept: list[list[int]] = []  # the kept vectors, dense
        # the echelon form of the kept vectors (made on first need): F^T (the
        # free columns by the kept vectors), the pivots, the free columns
        self._form: tuple[nmod_mat, list[int], list[int]] | None = None

    @property
    def rank(self) -> int:
        return len(self._kept)

    def _dense(self, batch) -> list[list[int]]:
        n, p = self.ncols, self.prime
        out = []
        for v in batch:
            if isinstance(v, Mapping):
                row = [0] * n
                for c, x in v.items():
                    row[c] = x % p
                out.append(row)
            else:
                out.append([x % p for x in v])
        return out

    def adopt(self, batch: Sequence[Sequence[int] | Mapping[int, int]]) -> None:
        """Keep vectors known to be independent of each other and of the kept
        ones (the bases of disjoint blocks merged), without reducing them."""
        self._kept += self._dense(batch)
        self._form = None

    def widen(self, ncols: int, batch: Sequence[Sequence[int] | Mapping[int, int]] = ()) -> None:
        """Grow to ``ncols`` columns, the new ones after the old (zero in the
        kept vectors: free columns of the echelon form, with zero entries),
        and adopt ``batch``: vectors supported on the new columns, independent
        of each other."""
        old, p = self.ncols, self.prime
        if ncols < old:
            raise ValueError(f"widen: {ncols} columns, fewer than {old}")
        pad = [0] * (ncols - old)
        for row in self._kept:
            row.extend(pad)
        self.ncols = ncols
        if self._form is not None:
            Ft, pivots, free = self._form
            self._form = (nmod_mat(Ft.nrows() + len(pad), len(pivots),
                                   [int(x) for x in Ft.entries()] + pad * len(pivots), p),
                          pivots, free + list(range(old, ncols)))
        rows = self._dense(batch)
        self._kept += rows
        if rows and self._form is not None:
            # zero on the pivots: their residues are themselves
            self._extend([[r[c] for c in self._form[2]] for r in rows])

    def add(self, batch: Sequence[Sequence[int] | Mapping[int, int]],
            limit: int | None = None) -> list[int]:
        n, rank = self.ncols, self.rank
        room = n - rank if limit is None else min(n, limit) - rank
        if not batch or room <= 0:
            return []
        rows = self._dense(batch)
        kept = self._add_reduced(rows, room) if rank else self._add_first(rows, room)
        self._kept += [rows[c] for c in kept]
        return kept

    def _add_first(self, rows: list[list[int]], room: int) -> list[int]:
        # the echelon form of the batch is that of the vectors it keeps (they
        # span its rows), made here once; when the batch has full rank they
        # are all kept, else its transpose's pivots are the first independent
        n, p = self.ncols, self.prime
        batch = nmod_mat(len(rows), n, [x for row in rows for x in row], p)
        E, k = batch.rref()
        k = int(k)
        if k == len(rows):
            kept = list(range(len(rows)))
        else:
            reduced, r = batch.transpose().rref()
            kept = _pivots(reduced, int(r))
        kept = kept[:room]
        if len(kept) == k:
            self._form = self._split(E, k, list(range(n)))
        return kept

    def _split(self, E: nmod_mat, k: int, columns: list[int]) -> tuple:
        """(F^T, pivots, free) of the echelon form E (rank k) on ``columns``."""
        local = _pivots(E, k)
        taken = set(local)
        rest = [t for t in range(len(columns)) if t not in taken]
        Ft = nmod_mat(len(rest), k, [int(E[r, t]) for t in rest for r in range(k)], self.prime)
        return Ft, [columns[t] for t in local], [columns[t] for t in rest]

    def _echelon(self) -> tuple[nmod_mat, list[int], list[int]]:
        if self._form is None:
            E, k = nmod_mat(self.rank, self.ncols, [x for r in self._kept for x in r],
                            self.prime).rref()
            self._form = self._split(E, int(k), list(range(self.ncols)))
        return self._form

    def _add_reduced(self, rows: list[list[int]], room: int) -> list[int]:
        p, b = self.prime, len(rows)
        Ft, pivots, free = self._echelon()
        if not free:
            return []
        # the batch's residues, by columns (one column of the result per vector)
        on_pivots = nmod_mat(len(pivots), b, [r[c] for c in pivots for r in rows], p)
        residue = nmod_mat(len(free), b, [r[c] for c in free for r in rows], p) - Ft * on_pivots
        pivoted, k = residue.rref()
        kept = _pivots(pivoted, int(k))[:room]
        if kept:
            flat = [int(x) for x in residue.entries()]
            self._extend([[flat[t * b + i] for t in range(len(free))] for i in kept])
        return kept

    def _extend(self, residues: list[list[int]]) -> None:
        """Extend the echelon form by independent residues (on the free
        columns): their echelon form E2 takes pivots P2 among the free
        columns, and the old rows are cleared on P2 by back-substitution,
        F1 <- F1[C2] - F2 F1[P2] (transposed), on the columns left free."""
        p = self.prime
        Ft, pivots, free = self._form
        k1 = len(pivots)
        E2, rank2 = nmod_mat(len(residues), len(free), [x for r in residues for x in r],
                             p).rref()
        Ft2, new, rest_free = self._split(E2, int(rank2), list(range(len(free))))
        entries = [int(x) for x in Ft.entries()]  # row t: free column t, k1 entries

        def rows_of(ts):
            return nmod_mat(len(ts), k1, [x for t in ts for x in entries[t * k1:(t + 1) * k1]], p)

        Ft1 = rows_of(rest_free) - Ft2 * rows_of(new)
        left, right = Ft1.entries(), Ft2.entries()
        k2 = len(new)
        merged = [int(x) for t in range(len(rest_free))
                  for x in left[t * k1:(t + 1) * k1] + right[t * k2:(t + 1) * k2]]
        self._form = (nmod_mat(len(rest_free), k1 + k2, merged, p),
                      pivots + [free[t] for t in new], [free[t] for t in rest_free])


class BlockBasis:
    """:class:`IncrementalBasis` for sparse vectors whose supports fall into
    disjoint blocks of columns: one basis per connected block, blocks merged
    when a vector joins them.

    The span of vectors supported on disjoint column blocks is the direct sum
    of the blocks' spans, so a vector raises the rank exactly when it raises
    the rank of its block (the union of the blocks its batch touches). A
    block-diagonal family (one block per hidden neuron of a two-layer ReLU
    network) costs the sum of small eliminations instead of one of size D;
    a family that connects every column costs what :class:`IncrementalBasis`
    costs. With ``limit``, blocks are filled in order of their first column.

    >>> B = BlockBasis(4, 101)
    >>> B.add([{0: 1}, {2: 1, 3: 1}, {0: 2}, {1: 1, 2: 1}])
    [0, 1, 3]
    >>> B.rank, sorted(B.blocks())
    (3, [[0], [1, 2, 3]])
    """

    def __init__(self, ncols: int, prime: int) -> None:
        self.ncols, self.prime = ncols, prime
        self._block: dict[int, int] = {}  # column -> block id
        self._columns: dict[int, list[int]] = {}  # block id -> its columns, in order of joining
        self._rows: dict[int, list[dict[int, int]]] = {}  # block id -> kept rows
        self._basis: dict[int, IncrementalBasis] = {}
        self._widen: dict[int, list[dict[int, int]]] = {}  # block -> rows joined, to adopt
        self._next = 0
        self._rank = 0

    @property
    def rank(self) -> int:
        return self._rank

    def blocks(self) -> list[list[int]]:
        """The sorted columns of each block."""
        return [sorted(cols) for cols in self._columns.values()]

    def _join(self, vector: Mapping[int, int]) -> int:
        """The block of ``vector``'s support, merging blocks (their bases are
        rebuilt, or widened when they are a :class:`StackBasis`)."""
        ids = {self._block[c] for c in vector if c in self._block}
        new = [c for c in vector if c not in self._block]
        if len(ids) == 1 and not new:
            return ids.pop()
        target = min(ids, key=lambda b: -len(self._columns[b])) if ids else None
        if target is None:
            target = self._next
            self._next += 1
            self._columns[target], self._rows[target] = [], []
        merged = [b for b in ids if b != target]
        joined: list[dict[int, int]] = []  # the kept rows of the merged blocks
        for b in merged:
            for c in self._columns.pop(b):
                self._block[c] = target
                self._columns[target].append(c)
            joined += self._rows.pop(b)
            self._basis.pop(b, None)
            self._widen.pop(b, None)
        self._rows[target] += joined
        for c in new:
            self._block[c] = target
            self._columns[target].append(c)
        if isinstance(self._basis.get(target), StackBasis):
            # the columns joined come after the block's own: widened when next
            # used (once for a whole batch), not rebuilt
            self._widen.setdefault(target, []).extend(joined)
        else:
            self._basis.pop(target, None)  # its columns changed: rebuilt on demand
        return target

    def _basis_of(self, block: int) -> IncrementalBasis | StackBasis:
        basis = self._basis.get(block)
        if block in self._widen:
            basis.widen(len(self._columns[block]), self._local(block, self._widen.pop(block)))
        if basis is None:
            size = len(self._columns[block])
            if size > STACK_ABOVE:
                # the kept rows of the blocks merged into this one are independent
                # (their supports are disjoint): adopted, not reduced again
                basis = self._basis[block] = StackBasis(size, self.prime)
                basis.adopt(self._local(block, self._rows[block]))
            else:
                basis = self._basis[block] = IncrementalBasis(size, self.prime,
                                                              keep_rows=False)
                if self._rows[block]:
                    basis.add(self._local(block, self._rows[block]))
        return basis

    def _local(self, block: int, rows: Sequence[Mapping[int, int]]) -> list:
        """Rows in the block's columns: sparse, or dense lists when they fill
        a quarter of them (flint reads dense rows faster)."""
        columns = self._columns[block]
        index = {c: i for i, c in enumerate(columns)}
        if rows and sum(map(len, rows)) * 4 >= len(rows) * len(columns):
            dense = []
            for row in rows:
                out = [0] * len(columns)
                for c, x in row.items():
                    out[index[c]] = x
                dense.append(out)
            return dense
        return [{index[c]: x for c, x in row.items()} for row in rows]

    def add(self, batch: Sequence[Mapping[int, int]], limit: int | None = None) -> list[int]:
        """Keep the batch vectors that raise the rank; return their batch indices."""
        p = self.prime
        vectors = [{c: x % p for c, x in v.items() if x % p} for v in batch]
        for v in vectors:
            if v:
                self._join(v)
        groups: dict[int, list[int]] = {}
        for k, v in enumerate(vectors):
            if v:
                groups.setdefault(self._block[next(iter(v))], []).append(k)
        kept = []
        for block in sorted(groups, key=lambda b: min(self._columns[b])):
            room = None if limit is None else limit - self._rank
            if room is not None and room <= 0:
                break
            basis = self._basis_of(block)
            before = basis.rank
            ks = groups[block]
            chosen = basis.add(self._local(block, [vectors[k] for k in ks]),
                               limit=None if room is None else before + room)
            if len(self._columns[block]) < self.ncols:  # rows rebuild a block that merges
                self._rows[block] += [vectors[ks[t]] for t in chosen]
            kept += [ks[t] for t in chosen]
            self._rank += basis.rank - before
        return sorted(kept)

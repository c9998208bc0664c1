"""Incremental bases mod p: the vectors of a family kept one batch at a time
when they raise the rank, as the growth of a Lie algebra needs them.

:class:`IncrementalBasis` keeps a reduced echelon basis and reduces each
batch against it; :class:`StackBasis` does the same for wide dense blocks in
the quotient by the kept vectors; :class:`BlockBasis` keeps one basis per
connected block of columns for sparse vectors. All three keep the same
vectors: the first of each batch that raise the rank, modulo a prime (a
lower bound on the rank over Q). The verifier ranks without them
(:func:`~exactcl.kernel.linalg.block_rank_mod`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from flint import nmod_mat

from ..kernel import densemod
from ..kernel.linalg import dense_rows, matrix_mod, pivot_columns

__all__ = ["BLAS_ABOVE", "BLAS_PRIME", "STACK_ABOVE", "BlockBasis", "DenseStackBasis", "IncrementalBasis",
           "StackBasis"]


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
    :func:`~exactcl.kernel.linalg.independent_rows_mod` on all vectors at
    once is the reference this is tested against.

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
            reduced = matrix_mod(batch, n, p)
            pad = [0] * (spare - self.rank)
            coeffs = matrix_mod([[v[c] for c in self._pivots] + pad for v in batch], spare, p)
        if self.rank:
            reduced = reduced - coeffs * self._echelon
        transposed, k = reduced.transpose().rref()
        kept = pivot_columns(transposed, int(k))[:room]
        if kept:
            new, _ = (_selection(kept, len(batch), p, rows=True) * reduced).rref()
            self._insert(new, pivot_columns(new, len(kept)))
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
            kept = pivot_columns(reduced, int(r))
        kept = kept[:room]
        if len(kept) == k:
            self._form = self._split(E, k, list(range(n)))
        return kept

    def _split(self, E: nmod_mat, k: int, columns: list[int]) -> tuple:
        """(F^T, pivots, free) of the echelon form E (rank k) on ``columns``."""
        local = pivot_columns(E, k)
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
        kept = pivot_columns(pivoted, int(k))[:room]
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


#: Blocks of more columns than this are kept by :class:`DenseStackBasis` when
#: the prime is below 2^26 (densemod's); a growth of a program of more
#: parameters takes such a prime (exactcl.engine.counting).
BLAS_ABOVE = densemod.WIDE
#: Random rows of the sketch by which :class:`DenseStackBasis` skips a batch
#: that keeps nothing.
SKETCH = 8
#: The prime of those growths: the largest below 2^20, so that a BLAS product of
#: 2^14 terms is one call (:func:`exactcl.kernel.densemod.matmul`).
BLAS_PRIME = (1 << 20) - 3


class DenseStackBasis:
    """:class:`StackBasis` on BLAS (:mod:`exactcl.kernel.densemod`, a prime
    below 2^26): the same quotient by the kept vectors, the same choice of
    vectors (the first of each batch that raise the rank), the batches and
    the echelon form held as float64 arrays of balanced residues.

    Batches are lists of dense or sparse vectors, or a float64 array of
    balanced residues (one row per vector, as
    :class:`~exactcl.kernel.evaluator.Words` gives them on BLAS), taken as
    they come. With ``keep_rows`` False the kept vectors are not stored
    (only their echelon form: half the memory); :meth:`adopt` and
    :meth:`widen` then refuse. The array operations are methods (``_zeros``,
    ``_stack``, ``_echelon_of``, ``_pivots_of``, ``_matmul_sub``) so that a
    subclass can hold the arrays on another device.

    >>> B = DenseStackBasis(3, 101)
    >>> B.add([[1, 0, 0], [2, 0, 0], [0, 1, 0]]), B.add([[1, 1, 0], [0, 0, 5]])
    ([0, 2], [1])
    """

    def __init__(self, ncols: int, prime: int, keep_rows: bool = True) -> None:
        self.ncols, self.prime, self.keep_rows = ncols, prime, keep_rows
        self._rank = 0
        self._kept = self._zeros(0, ncols) if keep_rows else None
        # F^T (free columns by kept vectors), the pivots, the free columns
        self._form: tuple[np.ndarray, list[int], list[int]] | None = None

    @property
    def rank(self) -> int:
        return self._rank

    # -- the array operations (numpy and densemod here) -------------------------------

    @staticmethod
    def _zeros(rows: int, cols: int):
        return np.zeros((rows, cols))

    @staticmethod
    def _stack(parts: list, axis: int):
        return np.concatenate(parts, axis=axis)

    def _asarray(self, A: np.ndarray):
        """A numpy array where this basis holds its arrays."""
        return A

    def _echelon_of(self, A) -> tuple:
        return densemod.echelon(A, self.prime)

    def _pivots_of(self, A) -> list[int]:
        return densemod.pivot_columns(A, self.prime)

    def _matmul_sub(self, C, A, B):
        """C - A B mod p (balanced), A B contiguous products."""
        return densemod.matmul_sub(np.ascontiguousarray(C), A, np.ascontiguousarray(B),
                                   self.prime)

    def _dense(self, batch) -> np.ndarray:
        if isinstance(batch, np.ndarray):
            return batch
        if not len(batch):
            return self._zeros(0, self.ncols)
        if isinstance(batch[0], np.ndarray):  # rows of balanced residues (Words.row)
            return np.stack(batch)
        if isinstance(batch[0], Mapping):
            out = np.zeros((len(batch), self.ncols), dtype=np.int64)
            for r, v in enumerate(batch):
                if v:
                    out[r, list(v)] = [x % self.prime for x in v.values()]
            return densemod.balanced(out, self.prime)
        return densemod.balanced(batch, self.prime)

    # -- the basis --------------------------------------------------------------------

    def _keep(self, rows) -> None:
        self._rank += rows.shape[0]
        if self.keep_rows:
            self._kept = self._stack([self._kept, rows], 0)

    def _rows(self, what: str):
        if not self.keep_rows:
            raise ValueError(f"{what}: the basis does not keep its vectors (keep_rows=False)")
        return self._kept

    def adopt(self, batch) -> None:
        self._rows("adopt")
        self._keep(self._dense(batch))
        self._form = None

    def widen(self, ncols: int, batch=()) -> None:
        old = self.ncols
        if ncols < old:
            raise ValueError(f"widen: {ncols} columns, fewer than {old}")
        self._kept = self._stack([self._rows("widen"), self._zeros(self.rank, ncols - old)], 1)
        self.ncols = ncols
        if self._form is not None:
            Ft, pivots, free = self._form
            self._form = (self._stack([Ft, self._zeros(ncols - old, Ft.shape[1])], 0), pivots,
                          free + list(range(old, ncols)))
        rows = self._dense(batch)
        if rows.shape[0]:
            self._keep(rows)
            if self._form is not None:
                self._extend(rows[:, self._form[2]])

    def add(self, batch, limit: int | None = None) -> list[int]:
        n, rank = self.ncols, self.rank
        room = n - rank if limit is None else min(n, limit) - rank
        if not len(batch) or room <= 0:
            return []
        rows = self._dense(batch)
        kept = self._add_reduced(rows, room) if rank else self._add_first(rows, room)
        if kept:
            self._keep(rows[kept])
        return kept

    def _add_first(self, rows, room: int) -> list[int]:
        E, piv = self._echelon_of(rows)
        k = len(piv)
        kept = list(range(rows.shape[0])) if k == rows.shape[0] else self._pivots_of(rows.T)
        kept = kept[:room]
        if len(kept) == k:
            self._form = self._split(E, piv, list(range(self.ncols)))
        elif self.keep_rows:
            self._form = None
        else:  # the kept vectors' own echelon form (a limit cut the batch's)
            E, piv = self._echelon_of(rows[kept])
            self._form = self._split(E, piv, list(range(self.ncols)))
        return kept

    def _split(self, E, piv: list[int], columns: list[int]) -> tuple:
        taken = set(piv)
        rest = [t for t in range(len(columns)) if t not in taken]
        return (E[:, rest].T, [columns[t] for t in piv], [columns[t] for t in rest])

    def _echelon(self) -> tuple:
        if self._form is None:
            E, piv = self._echelon_of(self._kept)
            self._form = self._split(E, piv, list(range(self.ncols)))
        return self._form

    def _add_reduced(self, rows, room: int) -> list[int]:
        Ft, pivots, free = self._echelon()
        if not free:
            return []
        if len(free) > 4 * SKETCH and self._vanishes(rows, Ft, pivots, free):
            return []
        residues = self._residues(rows, Ft, pivots, free)  # one row per vector
        if residues.shape[0] <= room:  # every vector kept when the residues are independent
            E2, piv2 = self._echelon_owned(self._copy(residues))
            if len(piv2) == residues.shape[0]:
                self._extend_by(E2, piv2)
                return list(range(residues.shape[0]))
        kept = self._pivots_of(residues.T)[:room]
        if kept:
            self._extend(residues[kept])
        return kept

    def _residues(self, rows, Ft, pivots: list[int], free: list[int]):
        """The rows' residues on the free columns, X_C - X_P F^T (vectors by
        free columns), computed in place by blocks of rows."""
        R = np.ascontiguousarray(rows[:, free])
        densemod.sub_product(R, rows[:, pivots], Ft.T, self.prime)
        return R

    @staticmethod
    def _copy(A):
        return A.copy()

    def _echelon_owned(self, A) -> tuple:
        """:meth:`_echelon_of` of balanced residues this basis computed (overwritten)."""
        return densemod.echelon_in_place(A, self.prime)

    def _vanishes(self, rows, Ft, pivots: list[int], free: list[int]) -> bool:
        """Whether the batch's residues R (free columns by vectors) vanish on a
        random sketch: S R = S X_C^T - (S F^T) X_P^T for SKETCH random rows S,
        at a cost of SKETCH products instead of |free|. R = 0 exactly when the
        batch keeps nothing; a nonzero R vanishes on the sketch with probability
        at most p^-SKETCH, and then the batch's vectors are only left out (the
        rank found stays a lower bound). Seeded by the rank and batch size."""
        rng = np.random.default_rng([self.rank, rows.shape[0], len(free)])
        h = (self.prime - 1) // 2
        S = self._asarray(rng.integers(-h, h + 1, size=(SKETCH, len(free))).astype(np.float64))
        SF = self._matmul_sub(self._zeros(SKETCH, Ft.shape[1]), S, Ft)  # -S F^T
        sketch = self._matmul_sub(self._zeros(SKETCH, rows.shape[0]), SF, rows[:, pivots].T)
        sketch = self._matmul_sub(sketch, S, rows[:, free].T)  # -(S X_C^T - S F^T X_P^T)
        return not bool(sketch.any())

    def _extend(self, residues) -> None:
        """Extend the echelon form by independent residues (on the free
        columns), as :meth:`StackBasis._extend`."""
        self._extend_by(*self._echelon_of(residues))

    def _extend_by(self, E2, piv2: list[int]) -> None:
        """:meth:`_extend` from the residues' reduced echelon form."""
        Ft, pivots, free = self._form
        Ft2, new, rest = self._split(E2, piv2, list(range(len(free))))
        self._form = (self._extended(Ft, Ft2, new, rest), pivots + [free[t] for t in new],
                      [free[t] for t in rest])

    def _extended(self, Ft, Ft2, new: list[int], rest: list[int]):
        """[F^T[rest] - F2^T F^T[new], F2^T]: the old vectors cleared on the new
        pivots beside the new ones, written into one new array block by block
        of rows."""
        r, k = Ft.shape[1], Ft2.shape[1]
        out = np.empty((len(rest), r + k))
        out[:, r:] = Ft2
        Fnew = np.ascontiguousarray(Ft[new])
        step = max(1, densemod.CHUNK // max(r, 1))
        for s in range(0, len(rest), step):
            block = out[s:s + step, :r]
            block[...] = Ft[rest[s:s + step]]
            densemod.sub_product(block, Ft2[s:s + step], Fnew, self.prime)
        return out


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

    def __init__(self, ncols: int, prime: int, dense=None) -> None:
        self.ncols, self.prime = ncols, prime
        # makes the basis of a wide block (exactcl.engine.device.new_dense_basis: on a GPU)
        self._dense = DenseStackBasis if dense is None else dense
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
        if isinstance(self._basis.get(target), (StackBasis, DenseStackBasis)):
            # the columns joined come after the block's own: widened when next
            # used (once for a whole batch), not rebuilt
            self._widen.setdefault(target, []).extend(joined)
        else:
            self._basis.pop(target, None)  # its columns changed: rebuilt on demand
        return target

    def _basis_of(self, block: int) -> IncrementalBasis | StackBasis | DenseStackBasis:
        basis = self._basis.get(block)
        if block in self._widen:
            basis.widen(len(self._columns[block]), self._local(block, self._widen.pop(block)))
        if basis is None:
            size = len(self._columns[block])
            if size > BLAS_ABOVE and self.prime < densemod.MAX_PRIME:
                basis = self._basis[block] = self._dense(size, self.prime)
                basis.adopt(self._local(block, self._rows[block]))
            elif size > STACK_ABOVE:
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
        if rows and sum(map(len, rows)) * 4 >= len(rows) * len(columns):
            return dense_rows(rows, columns)
        index = {c: i for i, c in enumerate(columns)}
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

"""Modular ranks and an exact polynomial determinant: the linear algebra the
verifier rests on.

Ranks that decide anything are computed modulo a prime: for an integer
matrix A and a prime p, ``rank(A mod p) <= rank_Q(A)``, so a modular rank
is a rigorous lower bound. The incremental bases the engine grows its Lie
algebra with, and its exact kernels over Q, are in
:mod:`exactcl.engine.bases` and :mod:`exactcl.engine.exactlinalg`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from flint import fmpq_mpoly, fmpz_mat, nmod_mat

from . import densemod
from .budget import flint_products

__all__ = [
    "STACK_SLACK",
    "block_rank_mod",
    "column_blocks",
    "dense_rows",
    "independent_rows_mod",
    "matrix_mod",
    "pivot_columns",
    "poly_det",
    "rank_mod",
    "stacked_rank_mod",
]


def matrix_mod(rows: Sequence[Sequence[int] | Mapping[int, int]], ncols: int, prime: int
               ) -> nmod_mat:
    """Rows dense (sequences) or sparse ({column: value}, one kind for all
    rows) as a matrix mod ``prime``.

    >>> matrix_mod([{1: 3}, {0: -1}], 2, 7)
    [0, 3]
    [6, 0]
    """
    if not rows or not ncols:
        return nmod_mat(len(rows), ncols, prime)
    if isinstance(rows[0], Mapping):
        matrix = nmod_mat(len(rows), ncols, prime)
        for r, row in enumerate(rows):
            for c, x in row.items():
                matrix[r, c] = x % prime
        return matrix
    return nmod_mat(fmpz_mat(rows), prime)  # via fmpz: faster, and reduces mod p in C


def pivot_columns(reduced: nmod_mat, rank: int) -> list[int]:
    """Pivot columns of a matrix in reduced row echelon form of rank ``rank``.

    >>> reduced, rank = matrix_mod([[0, 1, 2], [0, 2, 5]], 3, 101).rref()
    >>> pivot_columns(reduced, int(rank))
    [1, 2]
    """
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
    return int(matrix_mod(rows, ncols, prime).rank())


def independent_rows_mod(rows: Sequence[Sequence[int] | Mapping[int, int]], ncols: int,
                         prime: int) -> list[int]:
    """Indices of the rows kept by a greedy scan: each is independent mod p of
    the kept rows before it. Rows are dense or sparse, as for :func:`rank_mod`.

    Notes
    -----
    A row is independent of the rows before it exactly when its column of
    the transpose is a pivot column of the transpose's echelon form.

    >>> independent_rows_mod([[1, 2], [2, 4], [0, 1]], 2, 101)
    [0, 2]
    >>> independent_rows_mod([{0: 1}, {}, {1: 3}], 2, 101)
    [0, 2]
    """
    if not rows:
        return []
    reduced, rank = matrix_mod(rows, ncols, prime).transpose().rref()
    return pivot_columns(reduced, int(rank))


def column_blocks(rows: Sequence[Mapping[int, int]]) -> list[list[int]]:
    """The non-empty rows grouped into blocks: two rows share a block when a
    chain of rows, each sharing a column (a key) with the next, joins them.

    Blocks come in the order of their first row, rows in increasing order.
    Each column carries the label of its block; a row that touches several
    blocks merges them into the largest, relabelling the others' columns,
    so a column is relabelled at most log2(columns) times.

    >>> column_blocks([{0: 1}, {2: 1, 3: 1}, {}, {0: 2}, {1: 1, 3: 1}])
    [[0, 3], [1, 4]]
    """
    label: dict[int, int] = {}  # column -> its block's label
    members: dict[int, list[int]] = {}  # label -> the block's columns
    for r, row in enumerate(rows):
        labels = sorted({label[c] for c in row if c in label})
        new = [c for c in row if c not in label]
        if not new and len(labels) <= 1:
            continue
        target = max(labels, key=lambda b: len(members[b])) if labels else r
        columns = members.setdefault(target, [])
        for b in labels:
            if b != target:
                for c in members.pop(b):
                    label[c] = target
                    columns.append(c)
        for c in new:
            label[c] = target
        columns.extend(new)
    blocks: dict[int, list[int]] = {}
    for r, row in enumerate(rows):
        if row:
            blocks.setdefault(label[next(iter(row))], []).append(r)
    return list(blocks.values())


def block_rank_mod(rows: Sequence[Mapping[int, int]], prime: int) -> int:
    """Rank modulo ``prime`` of sparse rows ({column: value}), block by block.

    Notes
    -----
    Entries that vanish mod p are dropped, the rows are grouped by
    :func:`column_blocks`, and each block is ranked by one dense ``nmod_mat``
    on its own columns. Rows of different blocks have disjoint supports,
    so after permuting rows and columns the matrix is block diagonal and
    its rank is the sum of the blocks' ranks. A block of one row or one
    column has rank 1 (its rows are nonzero). A block-diagonal family (one
    block per hidden neuron of a two-layer ReLU network) costs the sum of
    small eliminations instead of one of the full width.

    >>> block_rank_mod([{0: 1}, {2: 1, 3: 1}, {0: 2}, {1: 1, 2: 1}], 101)
    3
    >>> block_rank_mod([{0: 101}, {}], 101)
    0
    """
    reduced = [{c: y for c, x in row.items() if (y := x % prime)} for row in rows]
    return sum(_block_rank([reduced[r] for r in block], prime)
               for block in column_blocks(reduced))


def _block_rank(rows: list[dict[int, int]], prime: int) -> int:
    """Rank mod ``prime`` of nonzero reduced rows, on the columns they use."""
    columns = sorted(set().union(*rows))
    if len(rows) == 1 or len(columns) == 1:
        return 1
    if len(columns) > densemod.WIDE and prime < densemod.MAX_PRIME:  # on BLAS
        return densemod.sparse_rank(rows, columns, prime)
    return rank_mod(dense_rows(rows, columns), len(columns), prime)


def dense_rows(rows: Sequence[Mapping[int, int]], columns: Sequence[int]) -> list[list[int]]:
    """Sparse rows as dense ones on ``columns`` (every column a row uses).

    >>> dense_rows([{7: 2}, {3: 1, 7: 5}], [3, 7])
    [[0, 2], [1, 5]]
    """
    index = {c: k for k, c in enumerate(columns)}
    dense = []
    for row in rows:
        line = [0] * len(columns)
        for c, x in row.items():
            line[index[c]] = x
        dense.append(line)
    return dense


#: Rows :func:`stacked_rank_mod` holds beyond ``2 * ncols`` before it keeps
#: only independent ones: fewer, larger eliminations for narrow stacks (timed
#: against :class:`~exactcl.engine.bases.IncrementalBasis` on stacks of 16 to
#: 300 columns, dense and sparse, with this slack faster on all of them).
STACK_SLACK = 64


def stacked_rank_mod(batches: Iterable[Sequence[Mapping[int, int]]], ncols: int,
                     prime: int) -> int:
    """Rank modulo ``prime`` of all the sparse rows of ``batches``, stacked,
    read one batch at a time.

    Notes
    -----
    The rows read are held until they number ``2 * ncols + STACK_SLACK``;
    then only those kept by :func:`independent_rows_mod` are held on. They
    span the same rows, so the rank is unchanged, and at most ``ncols`` of
    them remain: no more than ``2 * ncols + STACK_SLACK`` rows and one batch
    are ever held. Every batch is read, also once the rank is ``ncols``
    (then its rows are not kept).

    >>> stacked_rank_mod([[{0: 1}, {0: 2}], [], [{1: 1}, {0: 1, 1: 1}]], 3, 101)
    2
    """
    held: list[Mapping[int, int]] = []
    full = not ncols
    for batch in batches:
        if full:
            continue
        held.extend(batch)
        if len(held) >= 2 * ncols + STACK_SLACK:
            held = [held[r] for r in independent_rows_mod(held, ncols, prime)]
            full = len(held) == ncols
    return rank_mod(held, ncols, prime)


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

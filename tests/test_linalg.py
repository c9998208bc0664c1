"""The verifier's ranks of sparse rows (:mod:`exactcl.kernel.linalg`) against
the engine's incremental bases (:mod:`exactcl.engine.bases`) and one dense
elimination: block by block, or read one batch at a time, the same rank."""

from __future__ import annotations

import random
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exactcl.engine.bases import BlockBasis, IncrementalBasis
from exactcl.kernel import linalg
from exactcl.kernel.linalg import block_rank_mod, column_blocks, rank_mod, stacked_rank_mod

P = 7
D = 10

#: Sparse rows mod 7 on 10 columns: empty rows, zero entries and entries
#: that vanish mod 7 included, so blocks, dependencies and zeros all occur.
rows = st.lists(st.dictionaries(st.integers(0, D - 1), st.integers(-P, 2 * P), max_size=4),
                max_size=12)

#: (rows, rank mod 7, blocks of rows)
EXAMPLES = {
    "no rows": ([], 0, []),
    "empty rows": ([{}, {}], 0, []),
    "all-zero rows": ([{0: 0}, {1: 7, 2: 14}], 0, [[0], [1]]),
    "two blocks": ([{0: 1, 1: 2}, {2: 1}, {0: 2, 1: 4}], 2, [[0, 2], [1]]),
    "one shared column joins two blocks": ([{0: 1}, {2: 1}, {0: 1, 2: 1}], 2, [[0, 1, 2]]),
    "a late row joins blocks": ([{0: 1, 1: 1}, {3: 1}, {5: 1, 6: 2}, {1: 1, 5: 3}], 4,
                                [[0, 2, 3], [1]]),
    "dependent across a join": ([{0: 1, 1: 1}, {1: 1, 2: 1}, {0: 1, 2: 6}], 2, [[0, 1, 2]]),
    "one column": ([{4: 3}, {4: 5}, {4: 1}], 1, [[0, 1, 2]]),
}


def _dense(rows_, ncols=D):
    return [[row.get(c, 0) for c in range(ncols)] for row in rows_]


@pytest.mark.parametrize("case", EXAMPLES.values(), ids=list(EXAMPLES))
def test_examples(case):
    rows_, rank, blocks = case
    assert block_rank_mod(rows_, P) == rank == rank_mod(_dense(rows_), D, P)
    assert len(BlockBasis(D, P).add(rows_)) == rank
    assert column_blocks(rows_) == blocks
    assert stacked_rank_mod([rows_[:1], rows_[1:]], D, P) == rank


@settings(max_examples=300, deadline=None)
@given(rows)
def test_block_rank_is_the_rank_and_what_the_block_basis_keeps(rows_):
    rank = rank_mod(_dense(rows_), D, P)
    assert block_rank_mod(rows_, P) == rank
    assert len(BlockBasis(D, P).add(rows_)) == rank


@settings(max_examples=200, deadline=None)
@given(rows, st.randoms(use_true_random=False))
def test_block_rank_does_not_depend_on_the_order_of_rows(rows_, rng):
    shuffled = list(rows_)
    rng.shuffle(shuffled)
    assert block_rank_mod(shuffled, P) == block_rank_mod(rows_, P)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_blocks_have_disjoint_columns_and_are_those_of_the_block_basis(rows_):
    blocks = column_blocks(rows_)
    assert sorted(r for block in blocks for r in block) == [r for r, row in enumerate(rows_)
                                                            if row]
    columns = [set().union(*(rows_[r] for r in block)) for block in blocks]
    assert sum(map(len, columns)) == len(set().union(*columns))
    assert [block[0] for block in blocks] == sorted(block[0] for block in blocks)
    reduced = [{c: x for c, x in row.items() if x % P} for row in rows_]
    basis = BlockBasis(D, P)
    basis.add(reduced)
    assert sorted(map(sorted, (set().union(*(reduced[r] for r in block))
                               for block in column_blocks(reduced)))) == sorted(basis.blocks())


@settings(max_examples=200, deadline=None)
@given(st.lists(rows, max_size=6), st.integers(1, D), st.sampled_from([0, linalg.STACK_SLACK]))
def test_stacked_rank_is_the_rank_of_all_rows_and_reads_every_batch(batches, ncols, slack):
    """With no slack the held rows are cut to independent ones every
    ``2 * ncols`` rows, with the default slack rarely here."""
    batches = [[{c % ncols: x for c, x in row.items()} for row in batch] for batch in batches]
    read = []

    def stream():
        for k, batch in enumerate(batches):
            read.append(k)
            yield batch

    everything = [row for batch in batches for row in batch]
    reference = IncrementalBasis(ncols, P, keep_rows=False)
    for batch in batches:
        reference.add(batch)
    with mock.patch.object(linalg, "STACK_SLACK", slack):
        rank = stacked_rank_mod(stream(), ncols, P)
    assert rank == rank_mod(_dense(everything, ncols), ncols, P) == reference.rank
    assert read == list(range(len(batches)))


def test_block_rank_of_a_block_diagonal_family_at_a_large_prime():
    """One block per hidden neuron, as the words of a two-layer ReLU network
    give: the sum of the blocks' ranks, as one dense elimination finds."""
    p, rng = 2**61 - 1, random.Random(0)
    rows_ = [{8 * b + c: rng.randrange(p) for c in rng.sample(range(8), 3)}
             for b in range(20) for _ in range(6)]
    rng.shuffle(rows_)
    assert block_rank_mod(rows_, p) == rank_mod(_dense(rows_, 160), 160, p) == 120
    assert len(column_blocks(rows_)) == 20

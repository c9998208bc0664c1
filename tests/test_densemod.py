"""The dense modular kernel on BLAS (exactcl/kernel/densemod.py) against
FLINT and exact integer arithmetic: ranks of matrices of every rank
(products of thin factors, repeated and scaled rows, sparse, all residues
at +-(p-1)/2), primes from 3 to just below 2^26 (one product or the split
one), inner dimensions past one BLAS call, the reduced echelon form and the
first independent columns."""

from __future__ import annotations

import numpy as np
import pytest
from flint import fmpz_mat, nmod_mat
from hypothesis import given, settings
from hypothesis import strategies as st

from exactcl.kernel import densemod
from exactcl.kernel.densemod import balanced, echelon, matmul, pivot_columns, rank, reduce

PRIMES = [3, 5, 101, (1 << 20) - 3, (1 << 26) - 5]


def _flint_rank(M, p) -> int:
    return int(nmod_mat(fmpz_mat([[int(v) for v in row] for row in M]), p).rank())


def _matrices(rng, p):
    """Matrices of many shapes and ranks."""
    out = []
    for m, n in [(1, 1), (1, 7), (7, 1), (33, 33), (40, 70), (70, 40), (130, 97), (97, 130)]:
        for r in {0, 1, min(m, n) // 2, min(m, n)}:
            left = rng.integers(-3, 4, size=(m, r))
            right = rng.integers(0, p, size=(r, n))
            out.append((left @ right) % p if r else np.zeros((m, n), dtype=np.int64))
    h = (p - 1) // 2
    out.append(np.where(rng.random((80, 80)) < 0.5, h, -h))  # every residue at +-h
    out.append(np.full((64, 64), h))  # rank 1 at the extreme
    base = rng.integers(0, p, size=(10, 50))
    out.append(np.vstack([base, 3 * base % p, base]))  # repeated and scaled rows
    sparse = rng.integers(0, p, size=(90, 90)) * (rng.random((90, 90)) < 0.03)
    out.append(sparse)
    return out


@pytest.mark.parametrize("p", PRIMES)
def test_rank_is_flints(p):
    rng = np.random.default_rng(p % 1000)
    for M in _matrices(rng, p):
        assert rank(M, p) == _flint_rank(M, p), (M.shape, p)


@pytest.mark.parametrize("p", [(1 << 20) - 3, (1 << 26) - 5])
def test_products_are_exact_at_the_extremes_and_past_one_blas_call(p):
    h = (p - 1) // 2
    for K in (1, 1 << 14, (1 << 14) + 3, 40000):  # one call, the last before a cut, cut
        A = np.full((2, K), float(h))
        A[1] = -h
        B = np.full((K, 3), float(h))
        B[:, 1] = -h
        B[::2, 2] = -h
        got = matmul(A, B, p)
        exact = [[sum(int(a) * int(b) for a, b in zip(A[i], B[:, j])) for j in range(3)]
                 for i in range(2)]
        want = reduce(np.array([[v % p for v in row] for row in exact], dtype=float), p)
        assert np.array_equal(got, want), K
        C = np.full((2, 3), float(-h))
        assert np.array_equal(densemod.matmul_sub(C, A, B, p), reduce(C - want, p)), K


def test_reduce_gives_balanced_residues_up_to_2_52():
    p = (1 << 26) - 5
    x = np.array([2.0**52 - 1, -(2.0**52 - 1), 2.0**52 - p // 2, p // 2 + 0.0, -(p // 2) - 1.0])
    got = reduce(x, p)
    h = (p - 1) // 2
    for v, r in zip(x.tolist(), got.tolist()):
        assert abs(r) <= h and (int(v) - int(r)) % p == 0


def _assert_echelon_is_flints(M, p):
    R, piv = echelon(M, p)
    F, k = nmod_mat(fmpz_mat([[int(v) for v in row] for row in M]), p).rref()
    k = int(k)
    want = [[int(F[i, j]) for j in range(F.ncols())] for i in range(k)]
    assert np.mod(R, p).astype(np.int64).tolist() == want
    first = []  # the pivots of FLINT's reduced form: the first independent columns
    col = 0
    for i in range(k):
        while int(F[i, col]) == 0:
            col += 1
        first.append(col)
        col += 1
    assert pivot_columns(M, p) == first == piv


@pytest.mark.parametrize("p", [7, (1 << 20) - 3, (1 << 26) - 5])
def test_echelon_and_first_independent_columns_are_flints(p):
    rng = np.random.default_rng(3)
    for M in _matrices(rng, p)[:20]:
        _assert_echelon_is_flints(M, p)


@pytest.mark.parametrize("p", [101, (1 << 20) - 3, (1 << 26) - 5])
def test_updates_in_blocks_of_rows_give_flints_ranks_and_forms(p, monkeypatch):
    """Reductions and in-place updates worked through in blocks of a few rows
    (CHUNK made tiny, so the block loops run on small matrices) give FLINT's
    ranks, reduced forms and in-place ranks."""
    monkeypatch.setattr(densemod, "CHUNK", 5)
    rng = np.random.default_rng(11)
    for M in _matrices(rng, p):
        assert rank(M, p) == _flint_rank(M, p), (M.shape, p)
        A = np.ascontiguousarray(balanced(M, p))
        assert densemod.rank_in_place(A, p) == _flint_rank(M, p), (M.shape, p)
    for M in _matrices(rng, p)[:16]:
        _assert_echelon_is_flints(M, p)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 40), st.sampled_from(PRIMES),
       st.integers(0, 2**32))
def test_rank_properties(m, n, r, p, seed):
    rng = np.random.default_rng(seed)
    r = min(r, m, n)
    M = (rng.integers(0, p, size=(m, r)) @ rng.integers(0, p, size=(r, n))) % p if r else \
        np.zeros((m, n), dtype=np.int64)
    k = rank(M, p)
    assert k == rank(M.T, p) <= r
    assert k == _flint_rank(M, p)


def test_a_prime_out_of_range_is_refused():
    with pytest.raises(ValueError, match="below 2\\^26"):
        balanced([[1]], (1 << 26) + 15)
    with pytest.raises(ValueError, match="integers"):
        balanced(np.array([[0.5]]), 7)
    assert densemod.MAX_PRIME == 1 << 26


@pytest.mark.parametrize("seed", range(6))
def test_the_dense_stack_basis_keeps_what_flints_keeps(seed):
    """DenseStackBasis (BLAS) and StackBasis (FLINT) keep the same vectors,
    batch after batch, widened and adopted alike."""
    from exactcl.engine.bases import DenseStackBasis, StackBasis
    p = (1 << 20) - 3
    rng = np.random.default_rng(seed)
    n = 60
    thin = rng.integers(0, p, size=(45, n))  # a span of dimension 45 < n
    one, two = StackBasis(n, p), DenseStackBasis(n, p)
    for step in range(8):
        b = int(rng.integers(1, 12))
        batch = (rng.integers(-2, 3, size=(b, 45)) @ thin) % p
        if step % 3 == 2:
            batch[0] = 0
            batch = [{c: int(x) for c, x in enumerate(row) if x} for row in batch]
        else:
            batch = batch.tolist()
        limit = None if step != 5 else one.rank + 2
        assert one.add(batch, limit=limit) == two.add(batch, limit=limit)
        assert one.rank == two.rank
    extra = [[0] * n + [1, 0], [0] * n + [0, 1]]
    one.widen(n + 2, extra)
    two.widen(n + 2, extra)
    batch = rng.integers(0, p, size=(5, n + 2)).tolist()
    assert one.add(batch) == two.add(batch) and one.rank == two.rank


@pytest.fixture
def narrow_wide(monkeypatch):
    """Programs of more than 40 parameters counted and verified as wide ones."""
    from exactcl.engine import bases, counting
    monkeypatch.setattr(densemod, "WIDE", 40)
    monkeypatch.setattr(bases, "BLAS_ABOVE", 40)
    monkeypatch.setattr(counting, "BLAS_ABOVE", 40)


@pytest.mark.parametrize("spec", [
    "net:Linear(4,5,bias),Tanh,Linear(5,6,bias),Tanh,Linear(6,3)",
    "net:Linear(3,6,bias),Residual(Linear(6,6,bias),ReLU,Linear(6,6,bias)),Linear(6,2,bias)"])
def test_a_wide_program_grows_and_verifies_on_blas_with_the_same_count(narrow_wide, spec):
    import random

    import exactcl
    from exactcl.certificates.build import certify
    from exactcl.engine.bases import BLAS_PRIME
    from exactcl.kernel import certformat
    from exactcl.kernel.verifier import verify_text
    from exactcl.layers.program import parse_net
    model = exactcl.from_program(parse_net(spec[4:], "spec"))
    cert, result = certify(model, reproducible=True, engine="program")
    assert result.growth.prime == BLAS_PRIME and result.proof == "sandwich"
    report = verify_text(certformat.dumps(cert), rng=random.Random(1))
    assert report.ok, str(report)
    (rank,) = [c for c in report.checks if c.claim == "Lie rank"]
    prime = int(rank.detail.split("mod fresh prime")[1].split()[0].rstrip(",;)"))
    assert 2**19 <= prime < 2**20
    # the same count on the large prime, by FLINT
    densemod.WIDE = 10**9
    from exactcl.engine import bases, counting
    bases.BLAS_ABOVE = counting.BLAS_ABOVE = 10**9
    old = exactcl.count(model, engine="program")
    assert old.growth.prime != BLAS_PRIME and old.laws == result.laws

"""Property tests (hypothesis) for the exact algebra.

Lie brackets of random sparse polynomial fields, exact and modular
evaluation, the linear algebra of :mod:`exactcl.kernel.linalg` and
:mod:`exactcl.engine.exactlinalg`, round trips SymPy <-> flint <-> strings /
keys, and the law search against a dense reference. Every check is exact:
rationals, integers and residues only.

References written here (dense Jacobian formula for the bracket, greedy
rank scan, kernel read off an ``fmpq_mat`` RREF) use python-flint
directly, not the package's helpers they are compared with.
"""

from __future__ import annotations

import itertools
import random
import re
from fractions import Fraction
from math import gcd, isqrt

import pytest
import sympy
from flint import fmpq, fmpq_mat, fmpz_mat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exactcl.engine.bases import IncrementalBasis
from exactcl.engine.exactlinalg import (
    kernel_mod,
    kernel_Q,
    kernel_Q_modular,
    rational_reconstruction,
)
from exactcl.engine.search import find_laws
from exactcl.errors import InputError
from exactcl.kernel.brackets import bracket, bracket_value_mod, could_bracket
from exactcl.kernel.fields import VectorField
from exactcl.kernel.jets import WordJets, work_bound
from exactcl.kernel.linalg import independent_rows_mod, rank_mod
from exactcl.kernel.rings import (
    DEFAULT_PRIME,
    Ring,
    poly_from_key,
    poly_from_terms,
    poly_key,
    poly_terms,
    rational_mod,
    support,
)
from exactcl.models.builtin import linear, product
from exactcl.models.symbolic import (
    SYMPY_NAMES,
    parse,
    poly_from_sympy,
    poly_to_string,
    poly_to_sympy,
)

# -- settings ---------------------------------------------------------------

#: Cheap properties (one bracket, one small matrix).
CHEAP = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])
#: Properties that do several brackets, SymPy work or a law search.
COSTLY = settings(max_examples=25, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- strategies: rings, polynomials, fields ----------------------------------

RINGS = {D: Ring(tuple(f"x{i}" for i in range(D))) for D in range(2, 5)}
rings = st.sampled_from(sorted(RINGS)).map(RINGS.__getitem__)

#: Small exact coefficients; denominators only have the prime factors 2, 3, 5,
#: so every prime in MOD_PRIMES can reduce them.
coefficients = st.one_of(
    st.integers(-5, 5),
    st.builds(Fraction, st.integers(-5, 5), st.integers(1, 6)),
)

MOD_PRIMES = [7, 101, 65537, 2**31 - 1, 2**61 - 1, DEFAULT_PRIME]
mod_primes = st.sampled_from(MOD_PRIMES)


@st.composite
def polynomials(draw, ring: Ring, max_terms: int = 3, max_degree: int = 3):
    """A sum of a few terms c * x_{i1} ... x_{ik} with k <= max_degree."""
    poly = ring.zero()
    for _ in range(draw(st.integers(0, max_terms))):
        term = ring.constant(draw(coefficients))
        degree = draw(st.integers(0, max_degree))
        for v in draw(st.lists(st.integers(0, ring.nvars - 1),
                               min_size=degree, max_size=degree)):
            term *= ring.gens[v]
        poly += term
    return poly


@st.composite
def vector_fields(draw, ring: Ring, max_terms: int = 3, max_degree: int = 3):
    """A sparse field: a random subset of the D components, each a small polynomial."""
    directions = draw(st.lists(st.integers(0, ring.nvars - 1), unique=True,
                               max_size=ring.nvars))
    comps = {v: draw(polynomials(ring, max_terms, max_degree)) for v in directions}
    return VectorField.from_components(ring, comps)


@st.composite
def fields_on_a_ring(draw, n: int, max_terms: int = 3, max_degree: int = 3):
    """(ring, [X_1, ..., X_n]) on one random ring."""
    ring = draw(rings)
    return ring, [draw(vector_fields(ring, max_terms, max_degree)) for _ in range(n)]


def points(ring: Ring):
    """Integer points, mostly small, sometimes beyond 64 bits."""
    value = st.one_of(st.integers(-10, 10), st.integers(-(2**70), 2**70))
    return st.lists(value, min_size=ring.nvars, max_size=ring.nvars)


# -- references written from flint directly ----------------------------------


def dense(X: VectorField) -> list:
    """All D components of X, zeros included."""
    return [X.as_dict.get(v, X.ring.zero()) for v in range(X.ring.nvars)]


def reference_bracket(X: VectorField, Y: VectorField) -> list:
    """[X, Y]_c = sum_v X_v dY_c/dx_v - Y_v dX_c/dx_v over all D components."""
    ring = X.ring
    x, y = dense(X), dense(Y)
    out = []
    for c in range(ring.nvars):
        total = ring.zero()
        for v in range(ring.nvars):
            total += x[v] * y[c].derivative(v) - y[v] * x[c].derivative(v)
        out.append(total)
    return out


def reference_apply(X: VectorField, f) -> object:
    total = X.ring.zero()
    for v, p in enumerate(dense(X)):
        total += p * f.derivative(v)
    return total


def to_fraction(q) -> Fraction:
    return Fraction(int(q.p), int(q.q))


def assert_normalised(X: VectorField) -> None:
    """No zero component, indices sorted, supports exactly the variables involved."""
    indices = [v for v, _ in X.components]
    assert indices == sorted(set(indices))
    assert all(not p.is_zero() for _, p in X.components)
    assert X.supports == tuple(support(p) for _, p in X.components)


def rank_Q(rows: list[list[int]], ncols: int) -> int:
    if not rows:
        return 0
    return int(fmpz_mat(len(rows), ncols, [x for row in rows for x in row]).rank())


def matvec(rows, v) -> list[int]:
    return [sum(a * b for a, b in zip(row, v)) for row in rows]


def greedy_rows_mod(rows, ncols: int, prime: int) -> list[int]:
    """Indices kept by a greedy scan, one rank computation per row."""
    kept: list[int] = []
    for i, row in enumerate(rows):
        if rank_mod([rows[j] for j in kept] + [row], ncols, prime) > len(kept):
            kept.append(i)
    return kept


def assert_canonical_echelon(vectors: list[list[int]]) -> None:
    """Rows primitive integer vectors, positive leading entry, reduced echelon shape."""
    pivots = []
    for v in vectors:
        assert any(v), "zero row in a basis"
        lead = next(c for c, x in enumerate(v) if x)
        assert v[lead] > 0
        g = 0
        for x in v:
            g = gcd(g, x)
        assert g == 1
        pivots.append(lead)
    assert pivots == sorted(set(pivots)), "pivots must strictly increase"
    for k, p in enumerate(pivots):
        assert all(vectors[j][p] == 0 for j in range(len(vectors)) if j != k)


# -- 1. Lie bracket -----------------------------------------------------------


@CHEAP
@given(fields_on_a_ring(2))
def test_bracket_matches_dense_jacobian_reference(drawn):
    ring, (X, Y) = drawn
    Z = bracket(X, Y)
    assert dense(Z) == reference_bracket(X, Y)
    assert Z == VectorField.from_components(ring, reference_bracket(X, Y))
    assert_normalised(Z)


@CHEAP
@given(fields_on_a_ring(2))
def test_bracket_is_antisymmetric(drawn):
    _, (X, Y) = drawn
    assert bracket(X, Y) == -bracket(Y, X)
    assert bracket(X, X).is_zero


@CHEAP
@given(fields_on_a_ring(3), coefficients, coefficients)
def test_bracket_is_bilinear(drawn, a, b):
    _, (X, Y, Z) = drawn
    left = bracket(X.scale(a) + Y.scale(b), Z)
    assert left == bracket(X, Z).scale(a) + bracket(Y, Z).scale(b)
    right = bracket(Z, X.scale(a) + Y.scale(b))
    assert right == bracket(Z, X).scale(a) + bracket(Z, Y).scale(b)
    assert_normalised(left)
    assert_normalised(right)


@COSTLY
@given(fields_on_a_ring(3, max_terms=2))
def test_bracket_satisfies_jacobi_identity(drawn):
    _, (X, Y, Z) = drawn
    total = bracket(X, bracket(Y, Z)) + bracket(Y, bracket(Z, X)) + bracket(Z, bracket(X, Y))
    assert total.is_zero


@CHEAP
@given(st.data())
def test_bracket_acts_as_commutator_of_derivations(data):
    ring, (X, Y) = data.draw(fields_on_a_ring(2))
    f = data.draw(polynomials(ring, max_terms=4))
    assert bracket(X, Y).apply(f) == X.apply(Y.apply(f)) - Y.apply(X.apply(f))


@CHEAP
@given(st.data())
def test_apply_matches_dense_reference_with_and_without_support_hint(data):
    ring, (X,) = data.draw(fields_on_a_ring(1))
    f = data.draw(polynomials(ring, max_terms=4))
    assert X.apply(f) == reference_apply(X, f)
    assert X.apply(f, range(ring.nvars)) == reference_apply(X, f)


@CHEAP
@given(fields_on_a_ring(2))
def test_fields_that_do_not_interact_have_zero_bracket(drawn):
    _, (X, Y) = drawn
    if not could_bracket(X, Y):
        assert bracket(X, Y).is_zero


@CHEAP
@given(st.data())
def test_linear_operations_keep_fields_normalised_and_keys_canonical(data):
    ring, (X, Y) = data.draw(fields_on_a_ring(2))
    c = data.draw(coefficients)
    f = data.draw(polynomials(ring, max_terms=2, max_degree=2))
    for Z in (X + Y, X - Y, -X, X.scale(c), X.scale(f), (X + Y) - Y):
        assert_normalised(Z)
    assert (X + Y) - Y == X
    assert ((X + Y) - Y).key == X.key and hash((X + Y) - Y) == hash(X)
    assert dense(X.scale(f)) == [p * f for p in dense(X)]
    assert dense(X.scale(c)) == [p * ring.constant(c) for p in dense(X)]


# -- 2. bracket values mod p ----------------------------------------------------


@CHEAP
@given(st.data())
def test_bracket_value_mod_equals_value_of_bracket(data):
    ring, (X, Y) = data.draw(fields_on_a_ring(2))
    point = data.draw(points(ring))
    p = data.draw(mod_primes)
    value = bracket_value_mod(X.evaluate_mod(point, p), X.jacobian_mod(point, p),
                              Y.evaluate_mod(point, p), Y.jacobian_mod(point, p), p)
    assert value == bracket(X, Y).evaluate_mod(point, p)


@CHEAP
@given(st.data())
def test_sparse_bracket_value_mod_is_the_dense_one(data):
    ring, (X, Y) = data.draw(fields_on_a_ring(2))
    point = data.draw(points(ring))
    p = data.draw(mod_primes)
    sparse = bracket_value_mod(X.values_mod(point, p), X.jacobian_mod(point, p),
                               Y.values_mod(point, p), Y.jacobian_mod(point, p), p)
    dense = bracket(X, Y).evaluate_mod(point, p)
    assert sparse == {v: x for v, x in enumerate(dense) if x}


@CHEAP
@given(st.data())
def test_word_values_by_jets_equal_the_expanded_words(data):
    """The fast path (jets mod p) against the reference (symbolic brackets over Q)."""
    ring, gens = data.draw(fields_on_a_ring(3))
    point = data.draw(points(ring))
    p = data.draw(mod_primes)
    fields = dict(enumerate(gens))
    brackets = {}
    for node in range(3, 3 + data.draw(st.integers(1, 4))):
        left = data.draw(st.integers(0, 2))
        right = data.draw(st.sampled_from(sorted(fields)))
        brackets[node] = (left, right)
        fields[node] = bracket(gens[left], fields[right])
    words = WordJets(gens, brackets, point, p)
    for node, fld in fields.items():
        value, jac = words.value_and_jacobian(node)
        assert value == {v: x for v, x in enumerate(fld.evaluate_mod(point, p)) if x}
        assert jac == fld.jacobian_mod(point, p)
        assert words.value(node) == value


@CHEAP
@given(st.data())
def test_the_work_bound_of_jets_is_never_below_the_counted_work(data):
    """The verifier refuses on jets.work_bound before computing: it must
    bound the work WordJets then counts, for any fields and word tree."""
    ring, gens = data.draw(fields_on_a_ring(3, max_terms=4, max_degree=3))
    point = data.draw(points(ring))
    p = data.draw(mod_primes)
    brackets, ids = {}, list(range(3))
    for node in range(3, 3 + data.draw(st.integers(1, 5))):
        brackets[node] = (data.draw(st.integers(0, 2)), data.draw(st.sampled_from(ids)))
        ids.append(node)
    nodes = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=4, unique=True))
    words = WordJets(gens, brackets, point, p)
    words.values(nodes)
    assert words.work <= work_bound(gens, brackets, nodes)


@CHEAP
@given(st.data())
def test_jacobian_mod_matches_dense_derivatives(data):
    ring, (X,) = data.draw(fields_on_a_ring(1))
    point = data.draw(points(ring))
    p = data.draw(mod_primes)
    expected = {}
    for v, comp in enumerate(dense(X)):
        row = {}
        for w in range(ring.nvars):
            value = rational_mod(to_fraction(comp.derivative(w)(*point)), p)
            if value:
                row[w] = value
        if row:
            expected[v] = row
    assert X.jacobian_mod(point, p) == expected


# -- 3. evaluation ----------------------------------------------------------------


@CHEAP
@given(st.data())
def test_evaluate_matches_flint_full_call(data):
    ring, (X,) = data.draw(fields_on_a_ring(1))
    point = data.draw(points(ring))
    expected = [to_fraction(comp(*point)) for comp in dense(X)]
    assert X.evaluate(point) == expected
    assert X.evaluate(tuple(point)) == expected


@CHEAP
@given(st.data())
def test_evaluate_mod_is_evaluate_reduced_mod_p(data):
    ring, (X,) = data.draw(fields_on_a_ring(1))
    point = data.draw(points(ring))
    p = data.draw(mod_primes)
    assert X.evaluate_mod(point, p) == [rational_mod(q, p) for q in X.evaluate(point)]


# -- 4. linear algebra ---------------------------------------------------------------

#: Any prime works for the modular routines; small ones make unlucky primes
#: (rank drops, failed reconstruction) frequent.
la_primes = st.sampled_from([2, 3, 5, 7, 101, 65537, 2**61 - 1, DEFAULT_PRIME])
small_entries = st.integers(-3, 3)


def _vectors(n: int, entries=small_entries):
    return st.lists(entries, min_size=n, max_size=n)


@st.composite
def int_matrices(draw, max_rows: int = 6, max_cols: int = 6):
    """(rows, ncols): either entrywise random or a random low-rank product."""
    ncols = draw(st.integers(1, max_cols))
    if draw(st.booleans()):
        rows = draw(st.lists(_vectors(ncols), max_size=max_rows))
    else:
        basis = draw(st.lists(_vectors(ncols), max_size=ncols))
        nrows = draw(st.integers(0, max_rows))
        rows = []
        for _ in range(nrows):
            coeffs = draw(_vectors(len(basis), st.integers(-2, 2)))
            rows.append([sum(c * b[j] for c, b in zip(coeffs, basis)) for j in range(ncols)])
    return rows, ncols


@st.composite
def tall_matrices(draw):
    """(rows, ncols) with more than 2 * ncols + 32 rows, of random rank <= ncols."""
    rnd = draw(st.randoms(use_true_random=False))
    ncols = draw(st.integers(1, 6))
    rank = draw(st.integers(0, ncols))
    nrows = draw(st.integers(2 * ncols + 33, 2 * ncols + 60))
    basis = [[rnd.randint(-4, 4) if rnd.random() < 0.6 else 0 for _ in range(ncols)]
             for _ in range(rank)]
    rows = []
    for _ in range(nrows):
        coeffs = [rnd.randint(-3, 3) if rnd.random() < 0.5 else 0 for _ in range(rank)]
        rows.append([sum(c * b[j] for c, b in zip(coeffs, basis)) for j in range(ncols)])
    return rows, ncols


def sparse(rows):
    return [{c: x for c, x in enumerate(row) if x} for row in rows]


@CHEAP
@given(int_matrices(), la_primes)
def test_kernel_mod_has_dimension_ncols_minus_rank_and_annihilates(matrix, p):
    rows, ncols = matrix
    K = kernel_mod(rows, ncols, p)
    assert rank_mod(rows, ncols, p) + len(K) == ncols
    for v in K:
        assert len(v) == ncols and all(0 <= x < p for x in v)
        assert all(x % p == 0 for x in matvec(rows, v))
    # reduced echelon form mod p: pivots 1, pivot columns clear elsewhere
    assert rank_mod(K, ncols, p) == len(K)
    pivots = [next(c for c, x in enumerate(v) if x) for v in K]
    assert pivots == sorted(set(pivots))
    for k, c in enumerate(pivots):
        assert [v[c] for v in K] == [int(j == k) for j in range(len(K))]


@CHEAP
@given(int_matrices(), la_primes)
def test_rank_mod_is_a_lower_bound_of_rank_over_Q(matrix, p):
    rows, ncols = matrix
    assert rank_mod(rows, ncols, p) <= rank_Q(rows, ncols)
    assert rank_mod(rows, ncols, DEFAULT_PRIME) == rank_Q(rows, ncols)


@CHEAP
@given(int_matrices())
def test_kernel_Q_is_a_canonical_basis_of_the_exact_kernel(matrix):
    rows, ncols = matrix
    K = kernel_Q(rows, ncols)
    assert len(K) == ncols - rank_Q(rows, ncols)
    assert rank_Q(K, ncols) == len(K)
    for v in K:
        assert matvec(rows, v) == [0] * len(rows)
    assert_canonical_echelon(K)


@st.composite
def same_row_space(draw, matrix):
    """The rows permuted, scaled, combined, plus dependent and zero rows."""
    rows, ncols = matrix
    rows = [list(r) for r in draw(st.permutations(rows))]
    for i in range(len(rows)):
        s = draw(st.integers(-3, 3).filter(bool))
        rows[i] = [s * x for x in rows[i]]
    if len(rows) >= 2:
        for _ in range(draw(st.integers(0, 4))):
            i, j = draw(st.lists(st.integers(0, len(rows) - 1), min_size=2, max_size=2,
                                 unique=True))
            c = draw(st.integers(-3, 3))
            rows[i] = [a + c * b for a, b in zip(rows[i], rows[j])]
    extra = []
    for _ in range(draw(st.integers(0, 2))):
        coeffs = draw(_vectors(len(rows), st.integers(-2, 2)))
        extra.append([sum(c * r[j] for c, r in zip(coeffs, rows)) for j in range(ncols)])
    return rows + extra


@CHEAP
@given(st.data())
def test_kernel_Q_depends_only_on_the_row_space(data):
    rows, ncols = data.draw(int_matrices())
    other = data.draw(same_row_space((rows, ncols)))
    assert kernel_Q(other, ncols) == kernel_Q(rows, ncols)


@CHEAP
@given(int_matrices(), la_primes, st.integers(0, 3))
def test_kernel_Q_modular_equals_kernel_Q(matrix, p, seed):
    rows, ncols = matrix
    assert kernel_Q_modular(sparse(rows), ncols, p, seed) == kernel_Q(rows, ncols)


@COSTLY
@given(tall_matrices(), la_primes, st.integers(0, 3))
def test_kernel_Q_modular_equals_kernel_Q_on_tall_matrices(matrix, p, seed):
    rows, ncols = matrix
    assert len(rows) > 2 * ncols + 32  # the compression branch runs
    assert kernel_Q_modular(sparse(rows), ncols, p, seed) == kernel_Q(rows, ncols)


def test_kernel_Q_modular_ignores_zero_rows_and_explicit_zero_entries():
    rows = [{0: 1, 1: 1, 2: 0}, {}, {2: 0}, {2: 2}]
    assert kernel_Q_modular(rows, 3, 101) == kernel_Q([[1, 1, 0], [0, 0, 2]], 3) == [[1, -1, 0]]
    assert kernel_Q_modular([{}, {1: 0}], 2, 101) == [[1, 0], [0, 1]]


primes_for_reconstruction = st.sampled_from([3, 5, 7, 101, 65537, 2**31 - 1, 2**61 - 1,
                                             DEFAULT_PRIME])


@CHEAP
@given(st.data())
def test_rational_reconstruction_round_trips_small_fractions(data):
    m = data.draw(primes_for_reconstruction)
    bound = isqrt(m // 2)
    num = data.draw(st.integers(-bound, bound))
    den = data.draw(st.integers(1, bound))
    q = Fraction(num, den)
    assert rational_reconstruction(rational_mod(q, m), m) == q
    assert rational_reconstruction(rational_mod(q, m) + 3 * m, m) == q


@CHEAP
@given(primes_for_reconstruction, st.integers(-(2**70), 2**70))
def test_rational_reconstruction_never_returns_a_wrong_residue(m, a):
    q = rational_reconstruction(a, m)
    if q is not None:
        bound = isqrt(m // 2)
        assert abs(q.numerator) <= bound and q.denominator <= bound
        assert (q.numerator - a * q.denominator) % m == 0


@st.composite
def vector_batches(draw):
    ncols = draw(st.integers(1, 5))
    batches = draw(st.lists(st.lists(_vectors(ncols, st.integers(-2, 2)), max_size=4),
                            max_size=4))
    return ncols, batches


@CHEAP
@given(vector_batches(), la_primes)
def test_incremental_basis_rank_equals_rank_mod_of_everything_added(data, p):
    ncols, batches = data
    B = IncrementalBasis(ncols, p)
    seen: list[list[int]] = []
    for batch in batches:
        before = [list(r) for r in B.rows]
        kept = B.add(batch)
        seen.extend(batch)
        assert B.rank == rank_mod(seen, ncols, p)
        assert rank_mod(B.rows, ncols, p) == len(B.rows)  # kept vectors independent
        # exactly the batch vectors that raise the rank, scanned in order
        if len(before) < ncols:
            picked = greedy_rows_mod(before + batch, ncols, p)
            assert kept == [i - len(before) for i in picked if i >= len(before)]
        assert B.rows == before + [list(batch[i]) for i in kept]


@CHEAP
@given(vector_batches(), la_primes, st.integers(0, 6))
def test_incremental_basis_stops_at_limit(data, p, limit):
    ncols, batches = data
    B = IncrementalBasis(ncols, p)
    for batch in batches:
        before = [list(r) for r in B.rows]
        kept = B.add(batch, limit=limit)
        if len(before) >= ncols:
            assert kept == []
        else:
            reachable = rank_mod(before + batch, ncols, p)
            assert B.rank == max(len(before), min(reachable, limit))
            picked = greedy_rows_mod(before + batch, ncols, p)
            greedy = [i - len(before) for i in picked if i >= len(before)]
            assert kept == greedy[: max(0, limit - len(before))]
        assert rank_mod(B.rows, ncols, p) == B.rank


@st.composite
def low_rank_batches(draw):
    """Batches of vectors from a random low-rank space, with repeats and
    multiples, in sizes where the incremental basis grows its storage."""
    ncols = draw(st.integers(1, 40))
    rank = draw(st.integers(0, ncols))
    seed = draw(st.integers(0, 2**32))
    rng = random.Random(seed)
    basis = [[rng.randint(-3, 3) for _ in range(ncols)] for _ in range(rank)]
    sizes = draw(st.lists(st.integers(0, 30), min_size=1, max_size=6))
    batches = []
    for size in sizes:
        batch = []
        for _ in range(size):
            coeffs = [rng.choice([0, 0, 1, -1, 2]) for _ in range(rank)]
            batch.append([sum(c * b[j] for c, b in zip(coeffs, basis)) for j in range(ncols)])
        batches.append(batch)
    return ncols, batches


@CHEAP
@given(low_rank_batches(), la_primes, st.one_of(st.none(), st.integers(0, 40)))
def test_incremental_basis_matches_the_scan_from_scratch_on_larger_batches(data, p, limit):
    ncols, batches = data
    B = IncrementalBasis(ncols, p)
    sparse = IncrementalBasis(ncols, p, keep_rows=False)  # the same vectors as {column: value}
    seen: list[list[int]] = []
    for batch in batches:
        kept = B.add(batch, limit=limit)
        assert sparse.add([{c: x for c, x in enumerate(v) if x} for v in batch],
                          limit=limit) == kept
        assert sparse.rank == B.rank and sparse.rows == []
        seen.extend(batch)
        # the reference: one greedy scan of everything added so far, from scratch
        start = B.rank - len(kept)
        picked = independent_rows_mod(B.rows[:start] + batch, ncols, p)
        greedy = [i - start for i in picked if i >= start]
        room = ncols - start if limit is None else min(ncols, limit) - start
        assert kept == greedy[: max(0, room)]
    assert B.rank == min(rank_mod(seen, ncols, p), ncols if limit is None else limit)


@CHEAP
@given(int_matrices(max_rows=8), la_primes)
def test_independent_rows_mod_is_the_greedy_scan(matrix, p):
    rows, ncols = matrix
    assert independent_rows_mod(rows, ncols, p) == greedy_rows_mod(rows, ncols, p)


# -- 5. round trips ---------------------------------------------------------------


def symbols_of(ring: Ring) -> tuple[sympy.Symbol, ...]:
    return tuple(sympy.Symbol(n) for n in ring.names)


@st.composite
def sympy_polynomials(draw, ring: Ring):
    """A SymPy polynomial expression, not expanded: sums, products and small powers."""
    syms = symbols_of(ring)
    leaves = st.one_of(
        st.sampled_from(syms),
        st.builds(sympy.Rational, st.integers(-5, 5), st.integers(1, 6)),
    )
    tree = st.recursive(
        leaves,
        lambda sub: st.one_of(
            st.builds(lambda a, b: a + b, sub, sub),
            st.builds(lambda a, b: a * b, sub, sub),
            st.builds(lambda a, b: a - b, sub, sub),
            st.builds(lambda a, k: a**k, sub, st.integers(0, 2)),
        ),
        max_leaves=6,
    )
    return draw(tree)


@COSTLY
@given(st.data())
def test_sympy_to_flint_to_sympy_round_trip(data):
    ring = data.draw(rings)
    expr = data.draw(sympy_polynomials(ring))
    p = poly_from_sympy(expr, symbols_of(ring), ring)
    back = poly_to_sympy(p, ring)
    assert sympy.expand(back - expr) == 0
    assert poly_from_sympy(back, symbols_of(ring), ring) == p


@COSTLY
@given(st.data())
def test_flint_to_sympy_to_flint_round_trip(data):
    ring = data.draw(rings)
    p = data.draw(polynomials(ring, max_terms=5))
    assert poly_from_sympy(poly_to_sympy(p, ring), symbols_of(ring), ring) == p


@COSTLY
@given(st.data())
def test_poly_to_string_parses_back_to_the_same_polynomial(data):
    ring = data.draw(rings)
    p = data.draw(polynomials(ring, max_terms=5))
    text = poly_to_string(p, ring)
    local = {n: sympy.Symbol(n) for n in ring.names}
    parsed = sympy.sympify(text, locals=local)
    assert sympy.expand(parsed - poly_to_sympy(p, ring)) == 0
    assert poly_from_sympy(parsed, symbols_of(ring), ring) == p
    assert poly_from_sympy(parse(text), symbols_of(ring), ring) == p


#: Names SymPy's parser could mistake for constants or functions; the
#: ``parse`` docstring promises they are read as plain symbols when they are
#: declared variables (those SymPy gives a value, such as pi or S, are
#: refused otherwise).
SYMPY_LOOKALIKE_NAMES = [("E", "I"), ("S", "N"), ("O", "Q"), ("pi", "oo"), ("zoo", "nan"),
                         ("beta", "gamma"), ("sqrt", "exp"), ("Float", "Rational"),
                         ("Symbol", "Function")]


@pytest.mark.parametrize("names", SYMPY_LOOKALIKE_NAMES, ids="-".join)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_poly_to_string_round_trips_with_sympy_lookalike_names(names, data):
    ring = Ring(names)
    p = data.draw(polynomials(ring, max_terms=4))
    text = poly_to_string(p, ring)
    syms = symbols_of(ring)
    assert poly_from_sympy(parse(text, variables=names), syms, ring) == p
    if any(n in SYMPY_NAMES and re.search(rf"(?<!\w){n}(?!\w)", text) for n in names):
        with pytest.raises(InputError, match="SymPy reads"):
            parse(text)  # undeclared, such a name is refused rather than taken as a parameter
    parsed = sympy.sympify(text, locals=dict(zip(names, syms)))
    assert poly_from_sympy(parsed, syms, ring) == p


#: Names no string in SymPy syntax could read back as symbols (keywords,
#: None/True, and 'Integer', which SymPy's parser wraps numbers in).
UNREADABLE_NAMES = ["Integer", "lambda", "if", "None", "True"]


@pytest.mark.parametrize("name", UNREADABLE_NAMES)
def test_ring_refuses_names_that_cannot_be_read_back(name):
    with pytest.raises(InputError, match=repr(name)):
        Ring((name, "x"))


@CHEAP
@given(st.data())
def test_poly_terms_and_poly_key_round_trip(data):
    ring = data.draw(rings)
    p = data.draw(polynomials(ring, max_terms=5))
    terms = poly_terms(p)
    assert terms == sorted(terms)
    assert all(c != 0 for _, c in terms)
    assert all(e > 0 for mono, _ in terms for _, e in mono)
    assert poly_from_terms(ring, terms) == p
    key = poly_key(p)
    assert poly_from_key(ring, key) == p
    assert poly_key(poly_from_key(ring, key)) == key
    assert isinstance(hash(key), int)


@CHEAP
@given(st.data())
def test_poly_key_is_canonical(data):
    ring = data.draw(rings)
    p = data.draw(polynomials(ring))
    q = data.draw(polynomials(ring))
    assert poly_key((p + q) - q) == poly_key(p)
    assert (poly_key(p) == poly_key(q)) == (p == q)


# -- 6. law search --------------------------------------------------------------------


def _monomials(D: int, degree: int, homogeneous: bool) -> list[tuple[int, ...]]:
    degrees = [degree] if homogeneous else range(1, degree + 1)
    out = []
    for k in degrees:
        for combo in itertools.combinations_with_replacement(range(D), k):
            out.append(tuple(combo.count(v) for v in range(D)))
    return out


def reference_law_space(generators, degree: int, homogeneous: bool):
    """(monomials, basis of the law space as coefficient rows), by a dense
    linear system over all monomials and the RREF of one ``fmpq_mat``."""
    ring = generators[0].ring
    monos = _monomials(ring.nvars, degree, homogeneous)
    equations: dict[tuple, dict[int, object]] = {}
    for col, exps in enumerate(monos):
        m = ring.ctx.from_dict({exps: 1})
        for i, X in enumerate(generators):
            for out_exps, c in reference_apply(X, m).to_dict().items():
                equations.setdefault((i, out_exps), {})[col] = c
    n = len(monos)
    if not equations:
        return monos, [[int(i == j) for j in range(n)] for i in range(n)]
    A = fmpq_mat(len(equations), n,
                 [row.get(c, 0) for row in equations.values() for c in range(n)])
    R, rank = A.rref()
    pivots = []
    for r in range(int(rank)):
        pivots.append(next(c for c in range(n) if R[r, c] != 0))
    basis = []
    for free in (c for c in range(n) if c not in pivots):
        v = [Fraction(0)] * n
        v[free] = Fraction(1)
        for r, pc in enumerate(pivots):
            v[pc] = -to_fraction(R[r, free])
        basis.append(v)
    return monos, basis


def law_vector(h, monos) -> list[Fraction]:
    coeffs = {exps: to_fraction(c) for exps, c in h.to_dict().items()}
    assert set(coeffs) <= set(monos), "a law has a monomial outside the searched degrees"
    return [coeffs.get(m, Fraction(0)) for m in monos]


def rank_of_rational_rows(rows, n) -> int:
    if not rows:
        return 0
    entries = [fmpq(Fraction(x).numerator, Fraction(x).denominator) for row in rows for x in row]
    return int(fmpq_mat(len(rows), n, entries).rank())


def check_law_search(generators, degree: int, homogeneous: bool = False):
    """find_laws returns exact laws, spanning the dense reference space, in the
    documented canonical form; returns the result."""
    result = find_laws(generators, degree, homogeneous)
    for h in result.laws:
        for X in generators:
            assert X.apply(h).is_zero()
    monos, reference = reference_law_space(generators, degree, homogeneous)
    found = [law_vector(h, monos) for h in result.laws]
    n = len(monos)
    assert len(found) == len(reference)
    assert rank_of_rational_rows(found, n) == len(found)
    assert rank_of_rational_rows(found + reference, n) == len(reference)
    # canonical form: primitive integer coefficients, positive leading term for
    # the graded order (degree, then exponents lexicographically), reduced
    # echelon (a law's leading monomial appears in no other law), sorted
    leads = []
    for vec in found:
        assert all(x.denominator == 1 for x in vec)
        g = 0
        for x in vec:
            g = gcd(g, int(x))
        assert g == 1
        lead = max((m for m, x in zip(monos, vec) if x), key=lambda m: (sum(m), m))
        assert vec[monos.index(lead)] > 0
        leads.append(lead)
    assert leads == sorted(leads, key=lambda m: (sum(m), m), reverse=True)
    assert len(set(leads)) == len(leads)
    for k, lead in enumerate(leads):
        col = monos.index(lead)
        assert all(found[j][col] == 0 for j in range(len(found)) if j != k)
    assert 0 <= result.independent <= len(result.laws)
    return result


@COSTLY
@given(st.integers(2, 4), st.integers(1, 3), st.booleans())
def test_product_model_laws_are_exact_and_complete(D, degree, homogeneous):
    model = product(D)
    result = check_law_search(list(model.generators), degree, homogeneous)
    if degree == 2:
        # the literature's laws t_i^2 - t_1^2 span the degree-2 laws
        monos, _ = reference_law_space(list(model.generators), degree, homogeneous)
        found = [law_vector(h, monos) for h in result.laws]
        cands = [law_vector(h, monos) for h in model.candidates]
        assert rank_of_rational_rows(found + cands, len(monos)) == len(found) == D - 1


@st.composite
def generator_lists(draw, generators):
    """The generators permuted, with repeated and rescaled copies."""
    gens = list(draw(st.permutations(list(generators))))
    for _ in range(draw(st.integers(0, 2))):
        X = draw(st.sampled_from(list(generators)))
        c = draw(st.integers(-3, 3).filter(bool) | st.builds(Fraction, st.integers(1, 3),
                                                              st.integers(2, 4)))
        gens.insert(draw(st.integers(0, len(gens))), X.scale(c))
    return gens


@COSTLY
@given(st.data())
def test_product_model_laws_do_not_depend_on_generator_list(data):
    model = product(data.draw(st.integers(2, 4)))
    degree = data.draw(st.integers(1, 3))
    gens = data.draw(generator_lists(model.generators))
    assert find_laws(gens, degree).laws == find_laws(model.generators, degree).laws


linear_widths = st.lists(st.integers(1, 2), min_size=3, max_size=3)


@COSTLY
@given(linear_widths, st.integers(1, 2), st.booleans())
def test_linear_model_laws_are_exact_and_complete(widths, degree, homogeneous):
    model = linear(widths)
    check_law_search(list(model.generators), degree, homogeneous)


@COSTLY
@given(st.data())
def test_linear_model_laws_do_not_depend_on_generator_order(data):
    model = linear(data.draw(linear_widths))
    degree = data.draw(st.integers(1, 2))
    gens = list(data.draw(st.permutations(list(model.generators))))
    assert find_laws(gens, degree).laws == find_laws(model.generators, degree).laws


@COSTLY
@given(st.data())
def test_random_field_laws_are_exact_complete_and_order_free(data):
    ring = RINGS[data.draw(st.integers(2, 3))]
    n = data.draw(st.integers(1, 3))
    gens = [data.draw(vector_fields(ring, max_terms=2, max_degree=2)) for _ in range(n)]
    degree = data.draw(st.integers(1, 3))
    homogeneous = data.draw(st.booleans())
    result = check_law_search(gens, degree, homogeneous)
    permuted = data.draw(generator_lists(gens))
    assert find_laws(permuted, degree, homogeneous).laws == result.laws

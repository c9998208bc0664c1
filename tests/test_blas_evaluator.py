"""Wide programs without conversion glue: the evaluator's matrices on BLAS
(:class:`~exactcl.kernel.densemod.ModMat`) against FLINT's ``nmod_mat``, the
words' values as rows against the FLINT evaluator's sparse values, the growth
on rows against the growth on sparse values, the verifier's in-place rank,
the laws written from their kept terms against flint's, and the pair index
that gives up early against the one that did not."""

from __future__ import annotations

import random

import numpy as np
import pytest
from flint import nmod_mat
from hypothesis import given, settings
from hypothesis import strategies as st

import exactcl
from exactcl.engine import bases, counting, evaluation, growth
from exactcl.engine.evaluation import ProgramFields, evaluator_of, program_growth
from exactcl.kernel import densemod
from exactcl.kernel.densemod import ModMat
from exactcl.kernel.rings import canonical_terms, poly_terms
from exactcl.layers.program import parse_net

P = (1 << 20) - 3
BIG = (1 << 26) - 5


def _nmod(M: ModMat) -> nmod_mat:
    return nmod_mat(M.nrows(), M.ncols(), M.entries(), M.p)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.sampled_from([7, P, BIG]),
       st.integers(0, 2**32), st.booleans())
def test_modmat_operations_are_nmod_mats(m, k, n, p, seed, extreme):
    """Products, sums, differences, scalars, transposes, reshapes and masks of
    ModMat equal FLINT's, entries at +-(p-1)/2 included."""
    rng = np.random.default_rng(seed)
    h = (p - 1) // 2

    def draw(r, c):
        if extreme:
            return rng.choice([h, -h], size=r * c).tolist()
        return rng.integers(-p, p, size=r * c).tolist()
    A, B, C = ModMat.of(m, k, draw(m, k), p), ModMat.of(k, n, draw(k, n), p), \
        ModMat.of(m, k, draw(m, k), p)
    fa, fb, fc = _nmod(A), _nmod(B), _nmod(C)
    c = int(rng.integers(-2**40, 2**40))
    assert (A * B).entries() == [int(v) for v in (fa * fb).entries()]
    assert (A + C).entries() == [int(v) for v in (fa + fc).entries()]
    assert (A - C).entries() == [int(v) for v in (fa - fc).entries()]
    assert (-A).entries() == [int(v) for v in (-fa).entries()]
    assert (A * c).entries() == (c * A).entries() == [int(v) for v in (fa * (c % p)).entries()]
    assert A.transpose().entries() == [int(v) for v in fa.transpose().entries()]
    assert A.reshape(m * k, 1).entries() == A.entries()
    mask = rng.integers(0, p, size=m * k).tolist()
    assert A.hadamard(mask).entries() == [int(x) * y % p for x, y in zip(fa.entries(), mask)]
    assert all(abs(v) <= h for v in (A * B).a.ravel())


def test_modmat_refuses_a_wrong_number_of_entries():
    with pytest.raises(ValueError, match="2 x 2 matrix needs 4 entries"):
        ModMat.of(2, 2, [1, 2, 3], 7)


@pytest.fixture
def wide(monkeypatch):
    """Programs of more than 40 parameters are wide (evaluated and ranked on BLAS)."""
    monkeypatch.setattr(densemod, "WIDE", 40)
    monkeypatch.setattr(bases, "BLAS_ABOVE", 40)
    monkeypatch.setattr(counting, "BLAS_ABOVE", 40)


SPECS = [
    "net:Linear(3,5,bias),ReLU,Linear(5,4,bias),ReLU,Linear(4,2)",
    "net:Linear(3,6),Linear(6,4)",
    "net:Linear(4,6,bias),LeakyReLU(1/3),Linear(6,3,bias)",
    "net:Linear(3,5,bias),Residual(Linear(5,5,bias),ReLU,Linear(5,5,bias)),Linear(5,2,bias)",
]


def _words(layout, probes, brackets, point, prime, blas):
    return evaluator_of(layout).Words(layout, probes, brackets, point, prime,
                                      blas=None if blas else False)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("prime", [P, BIG])
def test_words_on_blas_are_the_flint_words(wide, spec, prime):
    """Every probe field, bracket word and bracket value on BLAS, as a row and as
    sparse values, equals the FLINT evaluator's."""
    layout = exactcl.from_program(parse_net(spec[4:], "spec")).program.layout
    rng = random.Random(spec)
    point = [rng.randrange(-2**40, 2**40) for _ in range(layout.D)]
    probes = ProgramFields.choose(layout).probes()[:8]
    n = len(probes)
    brackets = {n: (0, 1), n + 1: (2, n), n + 2: (n, n + 1)}
    flint = _words(layout, probes, brackets, point, prime, False)
    blas = _words(layout, probes, brackets, point, prime, True)
    assert blas.blas and not flint.blas
    for node in list(range(n)) + list(brackets):
        value = flint.value(node)
        assert blas.value(node) == value
        row = blas.row(node)
        assert {c: int(v) % prime for c, v in enumerate(row) if v} == value
        assert np.all(np.abs(row) <= (prime - 1) // 2)
    assert blas.bracket_value(3, n + 1) == flint.bracket_value(3, n + 1)
    assert blas.bracket_row(4, n).tolist() == \
        [float(v) for v in densemod.balanced(
            [flint.bracket_value(4, n).get(c, 0) for c in range(layout.D)], prime)]


def test_a_layer_without_blas_rules_keeps_flint(wide):
    layout = exactcl.from_program(parse_net(
        "Linear(3,5,bias),LayerNorm(5),Linear(5,2,bias)", "spec")).program.layout
    assert not layout.on_blas()
    words = evaluator_of(layout).Words(layout, ProgramFields.choose(layout).probes()[:2], {},
                                       [1] * layout.D, P)
    assert not words.blas


@pytest.mark.parametrize("spec", SPECS[:3])
def test_the_growth_on_rows_reaches_the_rank_of_the_growth_on_sparse_values(wide, spec,
                                                                          monkeypatch):
    """Dense rows in one dense basis, or sparse values block by block: the same
    Lie rank at the same point (each a lower bound mod the same prime)."""
    model = exactcl.from_program(parse_net(spec[4:], "spec"))
    layout = model.program.layout
    fields = ProgramFields.choose(layout)
    rng = random.Random(2)
    point = [rng.randrange(P) for _ in range(layout.D)]
    counted = exactcl.count(model, engine="program")
    on_rows = program_growth(fields, point, P, target=counted.lie_rank)
    monkeypatch.setattr(evaluation, "_sparse_fields", lambda words, count: True)
    sparse = program_growth(fields, point, P, target=counted.lie_rank)
    assert on_rows.rank == sparse.rank == counted.lie_rank


def test_sparse_probe_fields_keep_sparse_values(wide):
    """One neuron per ReLU: the fields fill few parameters, ranked block by block."""
    layout = exactcl.from_program(parse_net(
        "Linear(8,30,bias),ReLU,Linear(30,8,bias)", "spec")).program.layout
    fields = ProgramFields.choose(layout)
    words = evaluator_of(layout).Words(layout, fields.probes(), {}, [1] * layout.D, P)
    assert words.blas and evaluation._sparse_fields(words, fields.count)


def test_the_verifier_ranks_rows_in_place_and_refuses_other_arrays():
    rng = np.random.default_rng(3)
    for m, n, r in [(30, 30, 30), (30, 30, 11), (10, 60, 7), (60, 10, 10)]:
        M = (rng.integers(-5, 6, size=(m, r)) @ rng.integers(0, P, size=(r, n))) % P
        A = densemod.balanced(M, P)
        assert densemod.rank_in_place(A.copy(), P) == densemod.rank(M, P) == r
    with pytest.raises(ValueError, match="balanced residues"):
        densemod.rank_in_place(np.full((3, 3), float(P)), P)
    with pytest.raises(ValueError, match="balanced residues"):
        densemod.rank_in_place(np.full((3, 3), 0.5), P)
    with pytest.raises(ValueError, match="C-contiguous"):
        densemod.rank_in_place(np.zeros((4, 3)).T, P)


@pytest.mark.parametrize("spec", SPECS[:2])
def test_a_wide_certificate_claiming_one_word_too_many_fails(wide, spec):
    """Mutation: the rows' rank is recomputed, not read from the file."""
    from exactcl.certificates.build import certify
    from exactcl.kernel import certformat
    from exactcl.kernel.verifier import verify_text
    model = exactcl.from_program(parse_net(spec[4:], "spec"))
    cert, result = certify(model, reproducible=True, engine="program")
    assert verify_text(certformat.dumps(cert), rng=random.Random(1)).ok
    cert["lie"]["rank"] += 1
    report = verify_text(certformat.dumps(cert), rng=random.Random(1))
    assert not report.ok


def test_the_dense_basis_without_its_rows_keeps_the_same_vectors():
    rng = np.random.default_rng(5)
    n = 50
    thin = rng.integers(0, P, size=(38, n))
    one, two = bases.DenseStackBasis(n, P), bases.DenseStackBasis(n, P, keep_rows=False)
    for step in range(8):
        batch = densemod.balanced((rng.integers(-2, 3, size=(7, 38)) @ thin) % P, P)
        limit = None if step != 3 else one.rank + 2
        assert one.add(batch, limit=limit) == two.add(list(batch), limit=limit)
        assert one.rank == two.rank
    with pytest.raises(ValueError, match="keep_rows=False"):
        two.adopt([[1] * n])


@pytest.mark.parametrize("spec", [
    "net:Linear(3,5,bias),ReLU,Linear(5,4,bias),ReLU,Linear(4,2)",
    "net:Linear(3,6,bias),Residual(Linear(6,6,bias),ReLU,Linear(6,6,bias)),Linear(6,2,bias)",
    "linear:3,4,2", "relu-bias:3,4,2"])
def test_kept_law_terms_are_flints_terms(spec):
    """The certificate writes a program's laws from the terms its builder kept:
    they are the polynomial's own terms (data/'s certificates are unchanged)."""
    from exactcl.models.specs import parse_spec
    model = parse_spec(spec) if not spec.startswith("net:") else \
        exactcl.from_program(parse_net(spec[4:], "spec"))
    assert model.candidates
    for k, h in enumerate(model.candidates):
        assert canonical_terms(model.candidate_terms(k)) == poly_terms(h)


def test_wide_law_independence_on_blas_keeps_the_large_primes_choice(wide):
    model = exactcl.from_program(parse_net(
        "Linear(3,6,bias),Residual(Linear(6,6,bias),ReLU,Linear(6,6,bias)),Linear(6,2,bias)",
        "spec"))
    terms = [model.candidate_terms(k) for k in range(len(model.candidates))]
    rng = random.Random(4)
    point = [rng.randrange(2**61) for _ in range(model.D)]
    from exactcl.kernel.fields import terms_gradient_mod
    from exactcl.kernel.rings import DEFAULT_PRIME
    flint = bases.BlockBasis(model.D, DEFAULT_PRIME).add(
        [terms_gradient_mod(t, point, DEFAULT_PRIME) for t in terms])
    assert counting._independent_laws(terms, point, model.D, DEFAULT_PRIME) == flint
    # dependent laws (one repeated): the choice falls back to the large prime's
    assert counting._independent_laws(terms + terms[:1], point, model.D, DEFAULT_PRIME) == \
        flint


def _old_interacting_pairs(depth, frontier, ngens, nodes, most):
    """The pair index before it gave up early (reference)."""
    gens = frontier if depth == 1 else range(ngens)
    movers, involvers = {}, {}
    for position, node in enumerate(gens):
        moves, involves = nodes[node]["moves"], nodes[node]["involves"]
        for v in moves:
            movers.setdefault(v, []).append(position)
        for v in involves:
            involvers.setdefault(v, []).append(position)
    found = set()
    work = sum(len(a) * len(involvers.get(v, ())) for v, a in movers.items())
    if work > growth.INDEX_WORK * most:
        return None
    for v, moving in movers.items():
        for a in moving:
            for b in involvers.get(v, ()):
                if a != b:
                    i, j = (a, b) if a < b else (b, a)
                    found.add(j * (j - 1) // 2 + i)
        if len(found) > most:
            return None
    return sorted(found)


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 12), st.integers(1, 30), st.integers(1, 400), st.integers(0, 2**32))
def test_the_pair_index_gives_up_exactly_when_it_did(n, variables, most, seed):
    rng = random.Random(seed)
    nodes = {}
    for i in range(n):
        moves = frozenset(rng.sample(range(variables), rng.randint(0, variables)))
        involves = frozenset(rng.sample(range(variables), rng.randint(0, variables)))
        nodes[i] = {"moves": moves, "involves": involves}
    frontier = list(range(n))
    assert growth._interacting_pairs(1, frontier, n, nodes, most) == \
        _old_interacting_pairs(1, frontier, n, nodes, most)


def test_a_batch_in_the_span_is_skipped_by_its_sketch_and_others_are_not(monkeypatch):
    """The sketch says 'nothing kept' exactly for batches in the span here; the
    kept vectors stay FLINT's."""
    rng = np.random.default_rng(7)
    n = 120
    thin = rng.integers(0, P, size=(70, n))
    one, two = bases.StackBasis(n, P), bases.DenseStackBasis(n, P, keep_rows=False)
    calls = []
    original = bases.DenseStackBasis._vanishes

    def spy(self, *args):
        calls.append(original(self, *args))
        return calls[-1]
    monkeypatch.setattr(bases.DenseStackBasis, "_vanishes", spy)
    kept = one.rank
    for step in range(10):
        batch = (rng.integers(-2, 3, size=(9, 70)) @ thin) % P
        if step == 6:
            batch[4] = rng.integers(0, P, size=n)  # out of the span
        assert one.add(batch.tolist()) == two.add(batch.tolist())
        assert one.rank == two.rank
        if step >= 8:
            assert one.rank == kept  # in the span: skipped by the sketch
        kept = one.rank
    assert True in calls and False in calls


def test_a_program_certificate_may_name_up_to_40000_variables():
    """model.variables of a program: up to 40,000 names are read (the file is
    then judged on its content); beyond, refused from the list's length."""
    from exactcl.certificates.build import certify
    from exactcl.kernel import certformat
    from exactcl.kernel.verifier import verify_text
    model = exactcl.from_program(parse_net("Linear(2,3),ReLU,Linear(3,1)", "spec"))
    cert, _ = certify(model, reproducible=True)
    for n, readable in ((12_000, True), (40_001, False)):
        changed = dict(cert, model=dict(cert["model"], variables=[f"v{k}" for k in range(n)]))
        report = verify_text(certformat.dumps(changed), rng=random.Random(1))
        assert not report.ok
        assert ("model.variables must be a list of at most" in report.summary) != readable, \
            report.summary


BATCHED = [
    "net:Linear(3,5,bias),Residual(Linear(5,5,bias),ReLU,Linear(5,5,bias)),Linear(5,2,bias)",
    "net:Linear(4,6),Residual(Linear(6,6,bias),LeakyReLU(1/3),Linear(6,6)),ReLU,"
    "Residual(Residual(Linear(6,6,bias),ReLU,Linear(6,6,bias))),Linear(6,3,bias)",
    "net:Residual(Linear(4,4),ReLU,Linear(4,4,bias)),LeakyReLU(-2/5),Linear(4,2,bias)",
]


@pytest.mark.parametrize("spec", BATCHED)
@pytest.mark.parametrize("prime", [P, BIG])
def test_probe_fields_in_batches_are_the_flint_words(wide, spec, prime, monkeypatch):
    """The rows of many probe fields from one batched forward and reverse pass
    (exactcl.kernel.batch), mixed with bracket words, out of order and across
    batches, equal the FLINT evaluator's values of each probe on its own."""
    from exactcl.kernel import blocks
    monkeypatch.setattr(blocks, "PROBE_BATCH", 5)
    layout = exactcl.from_program(parse_net(spec[4:], "spec")).program.layout
    assert layout.batched()
    rng = random.Random(spec)
    point = [rng.randrange(-2**40, 2**40) for _ in range(layout.D)]
    probes = ProgramFields.choose(layout).probes()[:12]
    n = len(probes)
    brackets = {n: (0, 1), n + 1: (2, n)}
    flint = _words(layout, probes, brackets, point, prime, False)
    blas = _words(layout, probes, brackets, point, prime, True)
    nodes = [3, n, 0, 1, 2, 11, n + 1] + list(range(4, 11))
    got = blas.rows(nodes)
    assert got.shape == (len(nodes), layout.D) and np.all(np.abs(got) <= (prime - 1) // 2)
    for r, node in enumerate(nodes):
        assert {c: int(v) % prime for c, v in enumerate(got[r]) if v} == flint.value(node), node
    assert np.array_equal(blas.rows(range(n)), got[[2, 3, 4, 0] + list(range(7, 14)) + [5]])


def test_rows_without_batched_rules_are_read_one_by_one(wide):
    """A chain's words and a block program with a layer without batched rules
    (not on BLAS) are not batched; a chain's rows are its words' rows."""
    smooth = exactcl.from_program(parse_net(
        "Linear(3,5,bias),Residual(Linear(5,5,bias),Sigmoid,Linear(5,5,bias)),Linear(5,2)",
        "spec")).program.layout
    assert not smooth.batched()
    layout = exactcl.from_program(parse_net(SPECS[0][4:], "spec")).program.layout
    point = [random.Random(1).randrange(-99, 99) for _ in range(layout.D)]
    probes = ProgramFields.choose(layout).probes()[:4]
    words = _words(layout, probes, {4: (0, 1)}, point, P, True)
    assert words.blas
    assert np.array_equal(words.rows([4, 0, 1, 2, 3]),
                          np.stack([words.row(k) for k in [4, 0, 1, 2, 3]]))


@pytest.mark.parametrize("spec", BATCHED[:2])
def test_a_stalled_depth_0_on_rows_stops_and_says_it_was_sampled(wide, spec, monkeypatch):
    """On rows, depth 0 stops after ROWS_STALL batches that keep nothing: fewer
    probe fields are evaluated, the depth is marked sampled, and its rank is
    the rank of every probe field."""
    monkeypatch.setattr(evaluation, "ROWS_BATCH", 4)
    layout = exactcl.from_program(parse_net(spec[4:], "spec")).program.layout
    fields = ProgramFields.choose(layout)
    rng = random.Random(5)
    point = [rng.randrange(P) for _ in range(layout.D)]
    stalled = program_growth(fields, point, P, max_depth=0)
    monkeypatch.setattr(evaluation, "ROWS_STALL", fields.count)
    full = program_growth(fields, point, P, max_depth=0)
    assert stalled.depths[0].evaluated < full.depths[0].evaluated == fields.count
    assert not stalled.depths[0].exhaustive and full.depths[0].exhaustive
    assert stalled.rank == full.rank > 0

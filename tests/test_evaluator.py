"""The evaluator of programs against the expanded fields, and the program engine."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import exactcl
from exactcl.engine.bases import BlockBasis, IncrementalBasis, StackBasis
from exactcl.engine.counting import count
from exactcl.engine.evaluation import check_laws
from exactcl.kernel.brackets import bracket
from exactcl.kernel.evaluator import Layout, Words, random_probe
from exactcl.models.builtin import linear, relu

NETS = [("linear", [2, 3, 2]), ("linear", [2, 2, 2, 2]), ("relu", [2, 3, 2]),
        ("relu-bias", [2, 3, 2, 2]), ("relu", [3, 2, 2, 2]), ("relu-bias", [1, 2, 1])]


def _model(family, widths):
    return linear(widths) if family == "linear" else relu(widths, bias=family == "relu-bias")


def _dense(values):
    return {i: v for i, v in enumerate(values) if v}


@pytest.mark.parametrize("family, widths", NETS)
def test_the_evaluator_gives_the_values_of_the_expanded_fields_and_words(family, widths):
    m = _model(family, widths)
    lay = m.program.layout
    assert lay.parameters == m.parameters and lay.components == len(m.generators)
    rng, p = random.Random(1), 1_000_003
    point = [rng.randrange(p) for _ in range(lay.D)]
    probes = [lay.component_probe(c) for c in range(lay.components)]
    d = len(probes)
    words = Words(lay, probes, {d: (0, 1), d + 1: (1, d), d + 2: (d - 1, d + 1)}, point, p)
    for c, X in enumerate(m.generators):
        assert words.value(c) == _dense(X.evaluate_mod(point, p))
    B1 = bracket(m.generators[0], m.generators[1])
    B2 = bracket(m.generators[1], B1)
    B3 = bracket(m.generators[d - 1], B2)
    for node, B in ((d, B1), (d + 1, B2), (d + 2, B3)):
        assert words.value(node) == _dense(B.evaluate_mod(point, p))
    assert words.bracket_value(0, 1) == _dense(B1.evaluate_mod(point, p))


@pytest.mark.parametrize("family, widths", NETS)
def test_a_random_probe_field_is_its_combination_of_the_generators(family, widths):
    m = _model(family, widths)
    lay = m.program.layout
    p = 1_000_003
    point = [random.Random(2).randrange(p) for _ in range(lay.D)]
    probe = random_probe(lay, "test", 3)
    value = Words(lay, [probe], {}, point, p).value(0)
    combo = [0] * lay.D
    for c, X in enumerate(m.generators):
        one = lay.component_probe(c)
        k, column = lay.component(c)
        # r_c: the product of the probe's entries along the component
        r = probe.u[k] * (probe.x[one.x.index(1)] if 1 in one.x else
                          probe.s[one.s.index(1)])
        for t, sig in enumerate(one.sigma):
            if sum(sig) == 1:
                r *= probe.sigma[t][sig.index(1)]
        for v, x in enumerate(X.evaluate_mod(point, p)):
            combo[v] = (combo[v] + r * x) % p
    assert value == _dense(combo)
    assert random_probe(lay, "test", 3) == probe != random_probe(lay, "test", 4)


@pytest.mark.parametrize("family, widths", NETS + [("linear", [3, 4, 5, 2]), ("relu", [3, 4, 5])])
def test_the_program_engine_counts_what_the_expanded_engine_counts(family, widths):
    m = _model(family, widths)
    a, b = count(m, engine="program"), count(m, engine="expanded")
    assert (a.laws, a.bounds, a.lie_rank, a.proof) == (b.laws, b.bounds, b.lie_rank, b.proof)
    # small: the laws are proven exactly over Q on either engine
    assert a.engine == "program" and a.identities.mode == "exact"
    if a.fields.kind == "components":  # the same generators, point and order: the same words
        assert a.growth.words() == b.growth.words()


def test_probe_fields_replace_very_many_generators():
    r = count(exactcl.relu([16, 16, 16]), engine="program")
    assert r.fields.kind == "probes" and r.fields.count <= 2 * r.parameters + 64
    assert (r.laws, r.proof) == (16, "sandwich")
    assert r.growth.words()[0].startswith("Y")


@pytest.mark.parametrize("widths", [[3, 8, 8, 2], [2, 6, 5, 7, 3]])
def test_covering_probes_move_every_weight_random_neurons_may_not(widths):
    """Between two ReLU layers a probe moves only the weight of its active
    pair: the covering family visits every pair in its first sum n_t n_(t+1)
    probes, so every parameter is moved (random neurons leave some out)."""
    from exactcl.engine.evaluation import ProgramFields
    from exactcl.kernel.evaluator import COVERING
    lay = relu(widths, bias=True).program.layout
    fields = ProgramFields.choose(lay)
    assert fields.kind == "probes" and fields.family.startswith(COVERING)
    pairs = sum(a * b for a, b in zip(lay.relu_widths, lay.relu_widths[1:]))
    p = 1_000_003
    point = [random.Random(5).randrange(1, p) for _ in range(lay.D)]

    def moved(family, count):
        probes = [random_probe(lay, family, k) for k in range(count)]
        words = Words(lay, probes, {}, point, p)
        return set().union(*(words.value(k) for k in range(count)))

    assert moved(fields.family, max(pairs, lay.relu_widths[0])) == set(range(lay.D))
    assert moved("exactcl-probes-0", max(pairs, lay.relu_widths[0])) != set(range(lay.D))


def test_a_large_program_checks_its_laws_by_evaluation_with_a_stated_bound():
    r = count(linear([8] * 6))
    assert r.engine == "program" and r.identities.mode == "monte-carlo"
    assert r.identities.rounds == 2 and r.identities.error_bound < 2.0 ** -60
    assert "Schwartz-Zippel" in r.explanation and r.laws == 144


def test_a_false_law_fails_the_evaluated_identity():
    m = linear([2, 2, 2])
    g = m.ring.gens
    bad, check = check_laws(m.program.layout, [m.candidates[0], g[0] * g[1], m.candidates[1]], 2,
                            random.Random(0))
    assert bad == [None, 0, None] and check.rounds == 2


def test_the_engine_is_chosen_by_the_size_of_the_expansion_and_can_be_forced():
    assert count(linear([2, 2, 2])).engine == "expanded"
    assert count(linear([8] * 6)).engine == "program"
    with pytest.raises(exactcl.InputError, match="engine"):
        count(exactcl.product(3), engine="program")
    with pytest.raises(exactcl.InputError, match="engine"):
        count(linear([2, 2]), engine="fast")


vectors = st.lists(st.dictionaries(st.integers(0, 9), st.integers(0, 6), max_size=3),
                   min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(st.lists(vectors, min_size=1, max_size=3), st.one_of(st.none(), st.integers(0, 10)))
def test_block_and_stack_bases_keep_what_the_incremental_basis_keeps(batches, limit):
    reference, block, stack = (IncrementalBasis(10, 7), BlockBasis(10, 7), StackBasis(10, 7))
    for batch in batches:
        kept = reference.add(batch, limit=limit)
        assert stack.add(batch, limit=limit) == kept
        if limit is None:  # with a limit, blocks fill in their own order
            assert block.add(batch) == kept
        assert stack.rank == reference.rank


@settings(max_examples=200, deadline=None)
@given(st.lists(vectors, min_size=1, max_size=5), st.one_of(st.none(), st.integers(0, 10)))
def test_every_path_of_the_stack_basis_keeps_what_the_incremental_basis_keeps(batches, limit):
    """Reduced in the quotient by the kept vectors (the echelon form made by
    the first batch or from the kept vectors, extended by each batch), in
    bases of blocks that merge and widen: the same vectors kept, in any
    order of batches."""
    from unittest import mock

    from exactcl.engine import bases
    with mock.patch.object(bases, "STACK_ABOVE", 0):
        reference, block, stack = (IncrementalBasis(10, 7), BlockBasis(10, 7), StackBasis(10, 7))
        for batch in batches:
            kept = reference.add(batch, limit=limit)
            assert stack.add(batch, limit=limit) == kept
            if limit is None:
                assert block.add(batch) == kept
                # every basis holds the rows its block kept (widened, adopted or not)
                for b, basis in block._basis.items():
                    if len(block._columns[b]) < 10:
                        assert basis.rank == len(block._rows[b])
            assert stack.rank == reference.rank
        if limit is None:
            assert block.rank == reference.rank


def test_layers_that_do_not_stack_are_refused_by_the_layout():
    with pytest.raises(ValueError, match="layer 2"):
        Layout([["linear", 2, 3, False], ["linear", 2, 1, False]])
    with pytest.raises(ValueError, match="must follow a linear layer"):
        Layout([["relu"], ["linear", 2, 1, False]])

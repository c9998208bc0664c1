"""The law search by evaluation (exactcl.engine.evalsearch) against the expanded
search: the same laws in the same order, gradings read from the layout
equal to the ones found on the expanded generators, and the safeguards
(a spurious kernel is solved again, never returned; a law failing its exact
check is an error)."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exactcl
from exactcl.engine import evalsearch
from exactcl.engine.evalsearch import (
    _graded_monomials,
    find_laws_by_evaluation,
    program_grading,
    sign_flips,
)
from exactcl.engine.exactlinalg import canonical_rows
from exactcl.engine.search import _grading, _order_key, _sparse_terms, find_laws
from exactcl.errors import InputError, VerificationError
from exactcl.kernel.evaluator import Layout, expand
from exactcl.kernel.fields import gradient
from exactcl.kernel.rings import Ring
from exactcl.layers.program import Linear, Program, ReLU, from_family
from exactcl.models.builtin import Model, product
from exactcl.models.specs import parse_spec

from .helpers import assert_refused, run_cli

# (spec, degree, homogeneous): the table the evaluation search must reproduce
EXPANDED_EXAMPLES = [
    ("linear:2,2,2", 2, False),
    ("linear:2,3,2", 2, False),
    ("relu:2,3,2", 2, False),
    ("relu-bias:2,2,2", 2, False),
    ("linear:2,2,2,2", 2, False),
    ("linear:2,2,2", 4, False),
    ("linear:2,2,2", 4, True),
    ("linear:2,4,2", 2, False),  # minors of [U; V]: laws functionally dependent on others
    ("relu:3,3,3", 2, False),
    ("relu-bias:2,3,2", 3, False),
    ("linear:3,3", 2, False),  # one layer: no law
]


def _same(a, b) -> None:
    assert [h.str() for h in a.laws] == [h.str() for h in b.laws]
    assert (a.degree, a.homogeneous) == (b.degree, b.homogeneous)
    assert (a.independent, a.independence_error) == (b.independent, b.independence_error)


@pytest.mark.parametrize("spec, degree, homogeneous", EXPANDED_EXAMPLES,
                         ids=[f"{s}-deg{d}{'-hom' if h else ''}" for s, d, h in EXPANDED_EXAMPLES])
def test_the_same_laws_as_the_expanded_search(spec, degree, homogeneous):
    by_evaluation = find_laws_by_evaluation(parse_spec(spec), degree, homogeneous)
    expanded = find_laws(parse_spec(spec).generators, degree, homogeneous)
    _same(by_evaluation, expanded)
    assert by_evaluation.engine == "program" and expanded.engine == "expanded"
    if by_evaluation.laws:
        assert by_evaluation.identities.mode == "exact"  # small: checked on the expansion
        assert by_evaluation.exact and by_evaluation.identity_text() == "each verified exactly"


@pytest.mark.parametrize("spec", ["linear:2,2,2", "relu:2,3,2", "relu-bias:2,2,2"])
def test_a_count_by_evaluation_exhibits_the_same_laws_with_the_same_labels(spec):
    program = exactcl.count(parse_spec(spec), engine="program", search_degree=2)
    expanded = exactcl.count(parse_spec(spec), engine="expanded", search_degree=2)
    assert program.engine == "program"
    assert [h.str() for h in program.exhibited] == [h.str() for h in expanded.exhibited]
    assert program.exhibited_labels == expanded.exhibited_labels
    assert (program.laws, program.proof) == (expanded.laws, expanded.proof)


def test_search_laws_of_a_count_by_evaluation_carry_the_search_label():
    # candidates dropped: every exhibited law comes from the search
    m = parse_spec("linear:2,3,2")
    bare = Model(m.name, m.ring, None, candidates=(), program=m.program,
                 expand=lambda: (m.phi, m.generators))
    result = exactcl.count(bare, engine="program", search_degree=2)
    assert result.laws == 6
    assert set(result.exhibited_labels) == {"found by the degree-2 search"}
    assert result.identities.mode == "exact"  # the search's own check, no candidate


def test_a_large_model_is_checked_by_monte_carlo_with_its_bound(monkeypatch):
    monkeypatch.setattr(evalsearch, "EXACT_CHECK_PATHS", 0)  # as if too large to expand
    m = parse_spec("linear:2,3,2")
    res = find_laws_by_evaluation(m, 2)
    assert not m.expanded  # never expanded
    _same(res, find_laws(parse_spec("linear:2,3,2").generators, 2))
    check = res.identities
    assert check.mode == "monte-carlo" and check.laws == len(res.laws) == 6
    assert 0 < check.error_bound < Fraction(1, 2**60)
    assert res.identity_text().startswith("each checked at 2 random points")


def test_a_count_of_a_large_network_exhibits_the_laws_found():
    result = exactcl.count(parse_spec("linear:6,6,6,6,6"), search_degree=2)
    assert result.engine == "program"  # 6^5 paths: never expanded
    assert (result.laws, result.proof) == (63, "sandwich")
    assert result.identities.mode == "monte-carlo"
    assert result.identities.laws == 63 + 63  # the candidates and the search's laws
    assert "checked by evaluation" in result.identity_text


# -- gradings read from the layout ----------------------------------------------------

PROGRAMS = {
    "linear:2,2,2": [["linear", 2, 2, False], ["linear", 2, 2, False]],
    "relu-bias:2,3,2": [["linear", 2, 3, True], ["relu"], ["linear", 3, 2, False]],
    "one layer with bias": [["linear", 2, 3, True]],
    "biases merged in one source": [["linear", 2, 2, True], ["linear", 2, 2, True]],
    "three layers, two biases merged": [["linear", 1, 2, True], ["linear", 2, 2, True],
                                        ["linear", 2, 1, False]],
    "last bias apart from a merged one": [["linear", 1, 2, True], ["linear", 2, 2, True],
                                          ["linear", 2, 2, True]],
    "relu before the last bias": [["linear", 2, 2, True], ["relu"], ["linear", 2, 2, True]],
    "deep relu": [["linear", 2, 2, False], ["relu"], ["linear", 2, 2, False], ["relu"],
                  ["linear", 2, 1, False]],
}


def _expanded(layers):
    lay = Layout(layers)
    ring = Ring(lay.parameters)
    phi = expand(lay, ring.gens, ring.constant(1))
    return lay, ring, phi, [gradient(ring, p) for p in phi if not p.is_zero()]


def _check_gradings(layers) -> None:
    lay, ring, phi, gens = _expanded(layers)
    reference = _grading([_sparse_terms(X) for X in gens], lay.D)
    assert program_grading(lay) == canonical_rows(reference, lay.D)
    masks = sign_flips(lay)
    for bit in range(max(masks).bit_length()):
        # flipping the signs of the parameters of the flip changes no phi_c but by a sign
        args = [-g if masks[v] >> bit & 1 else g for v, g in enumerate(ring.gens)]
        for p in phi:
            assert p.compose(*args) in (p, -p), (bit, p)


@pytest.mark.parametrize("layers", list(PROGRAMS.values()), ids=list(PROGRAMS))
def test_gradings_read_from_the_layout_are_those_of_the_expanded_generators(layers):
    _check_gradings(layers)


@st.composite
def programs(draw):
    depth = draw(st.integers(1, 4))
    widths = [draw(st.integers(1, 3)) for _ in range(depth + 1)]
    layers = []
    for layer in range(depth):
        layers.append(["linear", widths[layer], widths[layer + 1], draw(st.booleans())])
        if layer < depth - 1 and draw(st.booleans()):
            layers.append(["relu"])
    return layers


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_gradings_of_random_programs(layers):
    _check_gradings(layers)


def _model_of(layers) -> Model:
    """A model of any program, expanded here (the builders cover three families)."""
    _, ring, phi, gens = _expanded(layers)
    program = Program(tuple(ReLU() if layer[0] == "relu" else Linear(*layer[1:])
                            for layer in layers))
    return Model("net", ring, tuple(gens), tuple(phi), program=program)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.sampled_from([(1, False), (2, False), (2, True), (3, True)]))
def test_random_programs_give_the_laws_of_the_expanded_search(layers, search):
    degree, homogeneous = search
    model = _model_of(layers)
    if model.D > 12:  # keep the expanded reference quick
        degree = min(degree, 2)
    _same(find_laws_by_evaluation(model, degree, homogeneous),
          find_laws(model.generators, degree, homogeneous))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["linear", "relu", "relu-bias"]),
       st.lists(st.integers(1, 3), min_size=2, max_size=4))
def test_random_widths_give_the_laws_of_the_expanded_search(family, widths):
    spec = f"{family}:" + ",".join(map(str, widths))
    _same(find_laws_by_evaluation(parse_spec(spec), 2), find_laws(parse_spec(spec).generators, 2))


@pytest.mark.parametrize("D, degree, homogeneous", [(3, 4, False), (5, 3, False), (6, 2, True)])
def test_monomials_come_in_the_order_of_the_expanded_search(D, degree, homogeneous):
    monomials = _graded_monomials(D, degree, homogeneous)
    assert monomials == sorted(monomials, key=lambda m: _order_key(m, D))
    shuffled = list(monomials)
    random.Random(0).shuffle(shuffled)
    assert sorted(shuffled, key=evalsearch._order(D)) == monomials


def test_sign_flips_split_a_deep_network_into_small_blocks():
    # integer weights alone leave the total degree: one block per degree
    lay = from_family("linear", [4, 4, 4, 4, 4]).layout
    assert program_grading(lay) == [[1] * lay.D]
    blocks = evalsearch._blocks(lay, _graded_monomials(lay.D, 2, False))
    assert len(blocks) > 1000 and max(map(len, blocks)) == lay.D  # the squares


# -- safeguards ----------------------------------------------------------------------

def _spurious_first(monkeypatch):
    """kernel_mod that answers "every monomial is a law" on a first attempt."""
    real = evalsearch._Block.kernel_mod
    calls = []

    def kernel_mod(self, pool, margin):
        calls.append(margin)
        if margin == evalsearch.MARGIN:
            M = len(self.monomials)
            return [[int(a == b) for b in range(M)] for a in range(M)]
        return real(self, pool, margin)

    monkeypatch.setattr(evalsearch._Block, "kernel_mod", kernel_mod)
    return calls


def test_a_spurious_kernel_is_solved_again_and_never_returned(monkeypatch):
    calls = _spurious_first(monkeypatch)
    res = find_laws_by_evaluation(parse_spec("linear:2,2,2"), 2)
    _same(res, find_laws(parse_spec("linear:2,2,2").generators, 2))
    assert 2 * evalsearch.MARGIN in calls  # a second attempt, with more conditions


def test_a_law_failing_its_exact_check_is_an_error(monkeypatch):
    _spurious_first(monkeypatch)

    def passes(layout, laws, rounds, rng, terms=None):  # a Monte Carlo check that sees nothing
        return [None] * len(laws), evalsearch.IdentityCheck("monte-carlo", rounds, laws=len(laws))

    monkeypatch.setattr(evalsearch, "check_laws", passes)
    with pytest.raises(VerificationError, match="is not conserved"):
        find_laws_by_evaluation(parse_spec("linear:2,2,2"), 2)


def test_results_are_reproducible_and_do_not_depend_on_the_seed():
    runs = [find_laws_by_evaluation(parse_spec("relu:2,3,2"), 2, seed=s) for s in (0, 0, 7)]
    assert len({tuple(h.str() for h in r.laws) for r in runs}) == 1


def test_degree_zero_and_a_model_without_a_program():
    res = find_laws_by_evaluation(parse_spec("linear:2,2,2"), 0)
    assert res.laws == () and res.engine == "program"
    with pytest.raises(InputError, match="'model'"):
        find_laws_by_evaluation(product(3), 2)
    with pytest.raises(InputError, match="'degree'"):
        find_laws_by_evaluation(parse_spec("linear:2,2,2"), -1)
    with pytest.raises(InputError, match="'rounds'"):
        find_laws_by_evaluation(parse_spec("linear:2,2,2"), 2, rounds=0)


def test_laws_takes_the_engine_of_the_count():
    m = parse_spec("linear:2,2,2")
    assert exactcl.laws(m, 2).engine == "expanded"
    assert exactcl.laws(m, 2, engine="program").engine == "program"
    assert exactcl.laws(parse_spec("linear:8,8,8,8,8,8"), 1).engine == "program"  # auto
    with pytest.raises(InputError, match="'prime' applies to the expanded search"):
        exactcl.laws(m, 2, engine="program", prime=101)
    with pytest.raises(InputError, match="'engine'"):
        exactcl.laws(product(2), 2, engine="program")


# -- command line ---------------------------------------------------------------------

def test_cli_laws_of_a_large_network_by_evaluation(capsys):
    rc, out, err = run_cli(capsys, "laws", "linear:8,8,8,8,8,8", "--degree", "2",
                           "--engine", "program", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert (data["parameters"], len(data["laws"]), data["independent"]) == (320, 144, 144)
    assert data["engine"] == "program"
    assert data["law_identities"]["mode"] == "monte-carlo"
    assert data["verified"].startswith("every law checked as an identity grad h . X_i = 0 by "
                                       "evaluation: each checked at 2 random points")


def test_cli_says_what_checked_the_identities(capsys):
    rc, out, _ = run_cli(capsys, "laws", "linear:2,2,2", "--degree", "2", "--engine", "program")
    assert rc == 0 and out.splitlines()[0].endswith("; each verified exactly")
    expanded = run_cli(capsys, "laws", "linear:2,2,2", "--degree", "2", "--engine", "expanded")
    assert expanded[1] == out
    # a small program's laws are proven exactly even on the program engine
    rc, out, _ = run_cli(capsys, "count", "linear:2,2,2", "--engine", "program", "--degree", "2")
    assert rc == 0 and "exhibited   3 independent laws, each verified exactly" in out
    rc, out, _ = run_cli(capsys, "count", "linear:8,8,8,8,8,8")
    assert rc == 0
    line = next(x for x in out.splitlines() if x.startswith("exhibited"))
    assert "each checked by evaluation (2 random points and primes, error probability <= 2^-" \
        in line
    rc, out, _ = run_cli(capsys, "count", "linear:2,2,2", "--engine", "expanded")
    assert "exhibited   3 independent laws, each verified exactly" in out


def test_cli_engine_is_checked(capsys):
    assert_refused(capsys, ["laws", "--phi", "u*v", "--degree", "2", "--engine", "program"],
                   ["'engine'", "not a program of layers"])
    rc, _, err = run_cli(capsys, "count", "linear:2,2,2", "--engine", "jets")
    assert rc == 2 and "invalid choice: 'jets'" in err


def test_oversized_searches_are_refused_before_any_evaluation(monkeypatch):
    from exactcl.errors import ResourceError

    def forbidden(*args, **kwargs):
        raise AssertionError("evaluated before the refusal")

    monkeypatch.setattr(evalsearch._Pool, "point", forbidden)
    monkeypatch.setattr(evalsearch, "_blocks", forbidden)
    with pytest.raises(ResourceError, match="unknown coefficients"):
        find_laws_by_evaluation(parse_spec("linear:8,8,8"), 4)  # 11,716,640 monomials
    monkeypatch.undo()
    monkeypatch.setattr(evalsearch._Pool, "point", forbidden)
    with pytest.raises(ResourceError, match=r"law search by evaluation needs an estimated .*"
                                            r"largest block .*points"):
        find_laws_by_evaluation(parse_spec("linear:8,8,8,8,8,8"), 2, max_memory="120M")

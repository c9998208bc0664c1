"""Sizes of flows and subsets: refusals before any expansion, and the work
of growth and of subset ranks bounded by what the fields connect (tests of
work and size, never of time)."""

import functools
import random
import tracemalloc

import pytest

import exactcl
import exactcl.engine.bases
import exactcl.engine.counting
import exactcl.engine.growth
import exactcl.models.flows
from exactcl.engine.bases import IncrementalBasis
from exactcl.engine.growth import (
    _bracket_parts,
    _interact,
    _interacting_pairs,
    _sample_indices,
    grow,
)
from exactcl.engine.subsets import sparse_terms, subset_laws
from exactcl.errors import ResourceError
from exactcl.interfaces.cli import main
from exactcl.kernel.brackets import bracket
from exactcl.kernel.rings import DEFAULT_PRIME, poly_terms
from exactcl.kernel.subsetcheck import full_point, restricted, stacked_rank
from exactcl.models.builtin import Model, linear, relu
from exactcl.models.flows import (
    FLOW_FIELDS,
    FLOW_TERMS,
    apply_flow,
    check_flow_size,
    flow_size,
    parse_flow,
)
from exactcl.models.specs import parse_spec


def _no_expansion(monkeypatch):
    """Make every expansion of a model, and the flow's fields, fail if reached."""
    def expanded(self):
        if self._generators is None:
            raise AssertionError("the model was expanded before the refusal")

    def fields(*args, **kwargs):
        raise AssertionError("the flow's fields were built before the refusal")

    monkeypatch.setattr(Model, "_expanded", expanded)
    monkeypatch.setattr(exactcl.models.flows, "flow_fields", fields)


# -- refusals of flows, before anything is expanded ----------------------------------------

REFUSED = {
    "linear 8^6 momentum 1 (terms)": ("linear:8,8,8,8,8,8", "momentum:1", "1,311,361 terms"),
    "relu 32^3 momentum 1 (fields)": ("relu:32,32,32", "momentum:1", "32,769 fields"),
    "linear 8^6 metric diag (terms)": ("linear:8,8,8,8,8,8", "metric:diag", "1,310,720 terms"),
    "linear 7^6 nesterov (terms)": ("linear:7,7,7,7,7,7", "nesterov", "588,736 terms"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_large_flow_is_refused_before_any_expansion(monkeypatch, name):
    spec, flow, estimate = REFUSED[name]
    model = parse_spec(spec)
    _no_expansion(monkeypatch)
    tracemalloc.start()
    try:
        with pytest.raises(ResourceError) as err:
            exactcl.count(model, flow=flow)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert message.startswith("Argument 'flow' puts ")
    assert estimate in message
    assert f"limit {FLOW_TERMS:,} terms and {FLOW_FIELDS:,} fields" in message
    assert "\n" not in message
    assert peak < 20 * 2**20  # the estimate reads sizes, it builds nothing


def test_the_cli_refuses_a_large_flow_in_one_line_with_status_2(monkeypatch, capsys):
    _no_expansion(monkeypatch)
    rc = main(["count", "linear:8,8,8,8,8,8", "--flow", "momentum:1"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("exactcl: error: Argument '--flow' puts linear:8,8,8,8,8,8 under "
                          "momentum tau=1: its 65 fields on 641 variables would have an "
                          "estimated 1,311,361 terms")


def test_certify_and_laws_refuse_it_as_well(monkeypatch, tmp_path):
    _no_expansion(monkeypatch)
    with pytest.raises(ResourceError, match="Argument 'flow' puts linear:8,8,8,8,8,8"):
        exactcl.certify(linear([8] * 6), tmp_path / "c.json", flow="momentum:1")
    assert not (tmp_path / "c.json").exists()
    with pytest.raises(ResourceError, match="Argument 'flow'"):
        apply_flow(relu([32, 32, 32]), "momentum:1/2")


@pytest.mark.parametrize("build, flow", [
    (lambda: relu([16, 16, 16]), "momentum:1/2"),
    (lambda: linear([8, 8, 8, 8]), "momentum:1"),
    (lambda: linear([2, 2, 2]), "metric:diag"),
    (lambda: linear([6] * 6), "momentum:1"),
    (lambda: relu([20, 20, 20]), "momentum:1"),
], ids=["relu 16^3 momentum", "linear 8^4 momentum", "linear 2,2,2 metric",
        "linear 6^6 momentum (100 s)", "relu 20^3 momentum (54 s)"])
def test_models_within_the_limits_pass_the_check(build, flow):
    check_flow_size(build(), parse_flow(flow))  # no error


def test_the_estimate_bounds_the_terms_of_the_fields_built():
    for model, flow in [(linear([2, 3, 2]), "momentum:1"),
                        (relu([2, 3, 2], bias=True), "nesterov"),
                        (linear([3, 2, 2]), "metric:diag"), (relu([3, 3, 3]), "momentum:0")]:
        fields, terms = flow_size(model, parse_flow(flow))
        lifted = apply_flow(model, flow)
        assert fields == len(lifted.generators)
        assert terms >= sum(X.size for X in lifted.generators)


# -- growth: the pairs a depth visits --------------------------------------------------------

def test_sampled_indices_are_a_permutation():
    for total in (1, 2, 7, 1000):
        drawn = list(_sample_indices(total, random.Random(total)))
        assert sorted(drawn) == list(range(total))


def _lifted(build, flow="momentum:1/2"):
    return apply_flow(build(), flow)


def _generator_nodes(fields):
    return {i: {"moves": X.directions, "involves": X.variables} for i, X in enumerate(fields)}


@pytest.mark.parametrize("build", [lambda: relu([3, 3, 3]), lambda: linear([2, 3, 2])],
                         ids=["relu 3,3,3", "linear 2,3,2"])
def test_the_index_lists_exactly_the_pairs_that_may_interact(build):
    fields = _lifted(build).generators
    nodes = _generator_nodes(fields)
    n = len(fields)
    listed = _interacting_pairs(1, list(range(n)), n, nodes, 10**6)
    brute = [j * (j - 1) // 2 + i for j in range(n) for i in range(j)
             if _interact(nodes, i, j)]
    assert listed == brute
    # deeper: the words [X1, X_j] (drift with a data field) against every generator
    words = {n + j: {"moves": bracket(fields[0], fields[j]).directions,
                     "involves": bracket(fields[0], fields[j]).variables} for j in range(1, n)}
    nodes |= words
    frontier = sorted(words)
    listed = _interacting_pairs(2, frontier, n, nodes, 10**6)
    brute = [q * n + i for q, w in enumerate(frontier) for i in range(n) if _interact(nodes, i, w)]
    assert listed == brute


@pytest.mark.parametrize("build", [lambda: relu([2, 3, 2]), lambda: linear([2, 2, 2])],
                         ids=["relu 2,3,2", "linear 2,2,2"])
def test_component_supports_of_brackets_are_supersets(build):
    """_bracket_parts bounds what the exact bracket involves, component by component."""
    fields = _lifted(build).generators
    cap = 10**6
    words = [(X, X.support_of) for X in fields]
    for _ in range(2):
        new = []
        for X, px in words[:6]:
            for Z, pz in words:
                exact = bracket(X, Z)
                parts = _bracket_parts(px, pz, cap)
                assert set(exact.directions) <= set(parts)
                for v, s in exact.support_of.items():
                    assert s <= parts[v]
                if not exact.is_zero:
                    new.append((exact, parts))
        words = new[:12]


class _Counted:
    """Counts the brackets growth evaluates and the pairs it looks at."""

    def __init__(self, monkeypatch):
        self.evaluated = self.looked = 0
        bracket_of = exactcl.engine.growth._Evaluator.bracket
        interact = exactcl.engine.growth._interact

        def counted_bracket(ev, i, j):
            self.evaluated += 1
            return bracket_of(ev, i, j)

        def counted_interact(*args):
            self.looked += 1
            return interact(*args)

        monkeypatch.setattr(exactcl.engine.growth._Evaluator, "bracket", counted_bracket)
        monkeypatch.setattr(exactcl.engine.growth, "_interact", counted_interact)


def test_a_lifted_relu_net_looks_only_at_pairs_that_interact(monkeypatch):
    """relu:6,6,6 under momentum: 217 fields, 23,436 pairs at depth 1 of which only
    the drift's 216 interact (the data fields move velocities, involve positions).
    With a budget far below the pool the pairs are listed from the index, not
    sampled from the whole pool until every one was drawn."""
    model = _lifted(lambda: relu([6, 6, 6]))
    fields = model.generators
    D = model.D
    point = [random.Random(1).randrange(DEFAULT_PRIME) for _ in range(D)]
    counted = _Counted(monkeypatch)
    g = grow(fields, point, DEFAULT_PRIME, budget=500)
    assert g.rank == D  # no law: ReLU nets keep none under momentum
    depth1 = g.depths[1]
    assert depth1.candidates == 217 * 216 // 2
    assert depth1.evaluated <= 216
    assert counted.looked <= 216 + 4 * 500 * 2  # listed pairs of depth 1 and 2, not the pools
    assert counted.evaluated <= 216 + 2 * 500


def test_deeper_words_of_a_lifted_relu_net_skip_pairs_that_bracket_to_zero(monkeypatch):
    """Words [drift, Z_i] involve the path of Z_i only: at depth 2 they are
    bracketed with the few data fields sharing a weight, not with all."""
    model = _lifted(lambda: relu([8, 8, 8]))
    counted = _Counted(monkeypatch)
    r = exactcl.count(model)
    assert (r.laws, r.proof) == (0, "sandwich")
    depth2 = r.growth.depths[2]
    assert depth2.candidates == 120 * 513
    assert counted.evaluated <= 512 + depth2.candidates // 100  # 764; all pairs: over 8,000


def _small_budget(monkeypatch, budget):
    monkeypatch.setattr(exactcl.engine.counting, "grow", functools.partial(grow, budget=budget))


@pytest.mark.parametrize("build, flow, want, budget", [
    (lambda: relu([4, 4, 4]), "momentum:1/2", 0, 100),
    (lambda: relu([3, 4, 3], bias=True), "momentum:1", 0, 100),
    (lambda: linear([3, 3, 3]), "momentum:1", 3, 15),
    (lambda: linear([2, 3, 3, 2]), "momentum:1/2", 6, 5),
], ids=["relu 4,4,4", "relu-bias 3,4,3", "linear 3,3,3", "linear 2,3,3,2"])
def test_counts_through_the_listed_and_sampled_pools_match_the_papers(monkeypatch, build, flow,
                                                                      want, budget):
    """Momentum keeps n(n-1)/2 antisymmetric laws per hidden layer of a linear
    net and none of a ReLU net; a budget below a quarter of the pools sends
    growth through the listed and sampled orders, and the certified count is
    the same."""
    full = exactcl.count(build(), flow=flow)
    sampled = []
    draw = exactcl.engine.growth._sample_indices
    monkeypatch.setattr(exactcl.engine.growth, "_sample_indices",
                        lambda total, rng: sampled.append(total) or draw(total, rng))
    _small_budget(monkeypatch, budget)
    small = exactcl.count(build(), flow=flow)
    assert (full.laws, full.proof) == (want, "sandwich")
    assert (small.laws, small.proof) == (want, "sandwich")
    assert any(d.candidates > 4 * budget for d in small.growth.depths)
    if want:
        assert sampled  # the dense words of a linear net are sampled, not listed


@pytest.mark.slow
def test_relu_16_under_momentum_keeps_no_law():
    r = exactcl.count(relu([16, 16, 16]), flow="momentum:1/2")
    assert (r.laws, r.proof, r.parameters) == (0, "sandwich", 1025)


# -- subsets: one elimination per block of parameters --------------------------------------

def test_sparse_terms_are_poly_terms():
    for h in relu([4, 5, 3], bias=True).candidates + linear([2, 3, 2]).candidates:
        assert sparse_terms(h) == poly_terms(h)


def test_subset_ranks_split_into_the_neurons_blocks(monkeypatch):
    """relu:8,8,8, subset W1: the restricted word values of a two-layer ReLU
    net split into one block of 8 columns per hidden neuron: no elimination
    is as wide as the subset (64 columns), and the rank is that of one
    elimination of all of them (the verifier's :func:`stacked_rank`)."""
    model = relu([8, 8, 8])
    counted = exactcl.count(model)
    widths = []
    init = IncrementalBasis.__init__

    def recorded(self, ncols, prime, keep_rows=True):
        widths.append(ncols)
        init(self, ncols, prime, keep_rows)

    monkeypatch.setattr(exactcl.engine.bases.IncrementalBasis, "__init__", recorded)
    r = subset_laws(model, "W1", count_result=counted)
    assert (r.laws, r.proof, r.size) == (0, "sandwich", 64)
    assert widths and max(widths) <= 8
    monkeypatch.undo()
    from exactcl.engine.subsets import _WordPoints
    values = _WordPoints(counted, model)
    theta = list(counted.growth.point)
    S = r.indices
    outside = [v for v in range(model.D) if v not in set(S)]
    position = {v: c for c, v in enumerate(S)}
    rank = stacked_rank(lambda j: values.values(
        full_point(model.D, S, [theta[v] for v in S], r.complements[j]), r.prime),
        r.complements, position, r.prime)
    assert rank == r.word_rank == 64
    assert len(outside) == 64
    assert restricted([{S[0]: 1}], position) == [{0: 1}]


@pytest.mark.slow
def test_relu_64_subset_w1_has_no_law():
    r = subset_laws(relu([64, 64, 64]), "W1")
    assert (r.laws, r.proof, r.size) == (0, "sandwich", 4096)

"""The engine's parts working together: growth graph, closure, count
proofs, law search options and limits."""

import random
from fractions import Fraction

import networkx as nx
import pytest
import sympy

import exactcl
from exactcl import count, from_fields, from_phi, linear, product, relu
from exactcl.engine.growth import grow, word_field
from exactcl.engine.search import find_laws, verify_law
from exactcl.errors import ResourceError
from exactcl.kernel.brackets import closure_check, closure_deterministic
from exactcl.kernel.linalg import rank_mod
from exactcl.kernel.rings import DEFAULT_PRIME
from exactcl.models.builtin import Model


def point(model, seed=0):
    rng = random.Random(seed)
    return [rng.randrange(DEFAULT_PRIME) for _ in range(model.D)]


def test_growth_graph_is_the_provenance_of_the_basis():
    m = linear([2, 3, 2])
    g = grow(m.generators, point(m), DEFAULT_PRIME)
    G = g.graph
    assert isinstance(G, nx.DiGraph) and nx.is_directed_acyclic_graph(G)
    assert not any("field" in G.nodes[n] for n in g.basis if n >= len(m.generators))  # lazy
    fields = g.fields()
    # the symbolic words have the values the jets gave: independent at the point
    assert rank_mod([f.evaluate_mod(g.point, g.prime) for f in fields], m.D, g.prime) == g.rank
    for node in g.basis:
        data = G.nodes[node]
        assert data["raised"] and "field" in data
        if data["depth"] > 0:
            left, right = data["left"], data["right"]
            assert set(G.predecessors(node)) == {left, right}
            assert data["word"] == f"[{G.nodes[left]['word']},{G.nodes[right]['word']}]"
            assert G.nodes[left]["depth"] == 0
            assert G.nodes[right]["depth"] == data["depth"] - 1
            expected = exactcl.bracket(m.generators[left], G.nodes[right].get(
                "field", m.generators[right] if right < len(m.generators) else None))
            assert data["field"] == expected
    assert g.rank == len(g.basis) == g.profile[-1]
    assert list(g.profile) == sorted(g.profile)


#: The provenance of linear:2,2,2 at the point below, as networkx gave it when
#: growth built the graph itself: (id, attributes) in node order, and edges.
LINEAR_222_NODES = [
    (0, {"word": "X1", "depth": 0, "raised": True, "generator": 0,
         "moves": {0, 2, 4, 5}, "involves": {0, 2, 4, 5}}),
    (1, {"word": "X2", "depth": 0, "raised": True, "generator": 1,
         "moves": {1, 3, 4, 5}, "involves": {1, 3, 4, 5}}),
    (2, {"word": "X3", "depth": 0, "raised": True, "generator": 2,
         "moves": {0, 2, 6, 7}, "involves": {0, 2, 6, 7}}),
    (3, {"word": "X4", "depth": 0, "raised": True, "generator": 3,
         "moves": {1, 3, 6, 7}, "involves": {1, 3, 6, 7}}),
    (4, {"word": "[X2,X4]", "depth": 1, "raised": True, "left": 1, "right": 3,
         "moves": {1, 3, 4, 5, 6, 7}, "involves": {1, 3, 4, 5, 6, 7}}),
    (5, {"word": "[X1,X3]", "depth": 1, "raised": False, "left": 0, "right": 2}),
    (6, {"word": "[X1,X2]", "depth": 1, "raised": False, "left": 0, "right": 1}),
    (7, {"word": "[X3,X4]", "depth": 1, "raised": False, "left": 2, "right": 3}),
    (8, {"word": "[X1,[X2,X4]]", "depth": 2, "raised": False, "left": 0, "right": 4}),
    (9, {"word": "[X3,[X2,X4]]", "depth": 2, "raised": False, "left": 2, "right": 4}),
    (10, {"word": "[X2,[X2,X4]]", "depth": 2, "raised": False, "left": 1, "right": 4}),
    (11, {"word": "[X4,[X2,X4]]", "depth": 2, "raised": False, "left": 3, "right": 4}),
]
LINEAR_222_EDGES = [(0, 5), (0, 6), (0, 8), (1, 4), (1, 6), (1, 10), (2, 5), (2, 7), (2, 9),
                    (3, 4), (3, 7), (3, 11), (4, 8), (4, 9), (4, 10), (4, 11)]


def test_growth_graph_is_built_on_request_with_the_recorded_provenance():
    m = linear([2, 2, 2])
    g = grow(m.generators, [3, 1, 4, 1, 5, 9, 2, 6], DEFAULT_PRIME)
    assert "graph" not in vars(g)  # growing built no graph
    assert list(g.nodes.items()) == LINEAR_222_NODES
    early = g.fields()[-1]  # cached on the plain data before the graph exists
    G = g.graph
    assert isinstance(G, nx.DiGraph) and G is g.graph
    assert [(n, {k: v for k, v in d.items() if k != "field"}) for n, d in G.nodes(data=True)
            ] == LINEAR_222_NODES
    assert list(G.edges) == LINEAR_222_EDGES
    assert all(set(G.predecessors(n)) == {d["left"], d["right"]}
               for n, d in G.nodes(data=True) if "left" in d)
    # one dict per node: a field cached through either view is seen by the other
    assert all(G.nodes[n] is g.nodes[n] for n in g.nodes)
    assert G.nodes[4]["field"] is early
    assert "field" not in G.nodes[8]
    late = word_field(G, m.generators, 8)
    assert g.nodes[8]["field"] is late is word_field(g.nodes, m.generators, 8)
    assert late == exactcl.bracket(m.generators[0], early)


def test_growth_rank_is_a_lower_bound_at_every_point():
    m = relu([2, 2, 2])
    ranks = {grow(m.generators, point(m, s), DEFAULT_PRIME).rank for s in range(3)}
    assert ranks == {m.D - 2}


def test_growth_stops_at_target():
    m = linear([3, 3, 3])
    g = grow(m.generators, point(m), DEFAULT_PRIME, target=10)
    assert g.rank == 10 and g.stop == "target"


def test_single_field_needs_the_closure_check():
    x, y, z, w = sympy.symbols("x y z w")
    model = from_fields([[y * z + w, x**2 - z, x * y * w + 1, z**3]], [x, y, z, w])
    result = count(model)
    assert result.laws == 3 and result.proof == "closure"
    assert result.closure.mode == "deterministic" and result.closure.error_bound == 0
    assert "cofactor identities" in result.explanation
    mc = count(model, closure="monte-carlo")
    assert mc.laws == 3 and mc.closure.mode == "monte-carlo"
    assert mc.closure.passed and mc.closure.error_bound < Fraction(1, 2**90)
    assert "2^-" in mc.explanation


def test_deterministic_closure_rejects_words_that_do_not_close():
    m = linear([2, 2, 2])
    pt = point(m)
    words = grow(m.generators, pt, DEFAULT_PRIME).fields()
    assert closure_deterministic(m.generators, words, pt, DEFAULT_PRIME).passed
    res = closure_deterministic(m.generators, words[:-1], pt, DEFAULT_PRIME)
    assert not res.passed and res.mode == "deterministic"


def test_deterministic_and_monte_carlo_closure_agree_on_random_fields():
    from tests.test_reference import random_field
    for seed in range(4):
        model = random_field(seed, nvars=4)
        a = count(model, closure="deterministic", search_degree=0)
        b = count(model, closure="monte-carlo", search_degree=0)
        assert a.laws == b.laws == 3


def test_closure_check_rejects_words_that_do_not_close():
    m = linear([2, 2, 2])
    g = grow(m.generators, point(m), DEFAULT_PRIME)
    words = g.fields()
    assert closure_check(m.generators, words, rng=random.Random(5)).passed
    res = closure_check(m.generators, words[:-1], rng=random.Random(5))
    assert not res.passed and res.failed_round == 1


def test_deep_linear_with_scalar_output_has_more_laws_than_balancedness():
    # phi is a single scalar: one generator, so D - 1 laws, though only the
    # balancedness laws are polynomial of degree 2
    result = count(linear([1, 2, 2, 1]))
    assert result.parameters == 8 and result.laws == 7
    assert result.explicit_laws == 6 and result.proof == "closure"


def test_false_candidate_is_rejected_and_count_still_proven():
    m = product(3)
    t1, t2, _ = m.ring.gens
    bad = Model(m.name, m.ring, m.generators, m.phi, m.candidates + (t1 * t2,),
                m.candidate_labels + ("t1 t2",))
    result = count(bad)
    assert result.laws == 2
    assert result.rejected == ("t1 t2: not conserved by generator X1",)


def test_count_is_deterministic_for_a_seed():
    a, b = count(relu([2, 3, 2]), seed=7), count(relu([2, 3, 2]), seed=7)
    assert a.as_dict() | {"seconds": 0} == b.as_dict() | {"seconds": 0}


def test_count_as_dict_has_the_documented_keys():
    d = count(linear([2, 2, 2])).as_dict()
    for key in ("parameters", "laws", "bounds", "lie_dimension", "status", "proof",
                "explicit_laws", "seconds"):
        assert key in d
    assert d["bounds"] == [3, 3] and d["status"] == "certified"


def test_laws_come_back_as_sympy_and_latex():
    u, v = sympy.symbols("u v")
    model = from_phi([u * v**2], [u, v])
    r = count(model)
    assert [sympy.expand(e) for e in r.laws_sympy()] == [2 * u**2 - v**2]
    res = exactcl.laws(model, 2)
    assert res.latex() == ["2 u^{2} - v^{2}"]
    assert "2*u**2 - v**2" in repr(res)


def test_homogeneous_search_keeps_one_degree():
    m = product(3)
    assert len(exactcl.laws(m, 2, homogeneous=True).laws) == 2
    assert exactcl.laws(m, 3, homogeneous=True).laws == ()
    assert len(exactcl.laws(m, 4).laws) > 2  # products of degree-2 laws


def test_laws_beyond_r_greater_than_n_plus_m_are_functionally_dependent():
    # two-layer linear with r = 3 > n + m = 2: besides U^T U - V^T V (6 laws)
    # the 2-minors of [U; V] are quadratic laws; only 5 are independent
    res = exactcl.laws(linear([1, 3, 1]), 2)
    assert len(res.laws) == 9 and res.independent == 5
    assert count(linear([1, 3, 1])).laws == 5


def test_every_returned_law_is_verified_against_every_generator():
    m = relu([2, 2, 2], bias=True)
    res = find_laws(m.generators, 2)
    assert res.laws and all(verify_law(h, m.generators) is None for h in res.laws)


def test_search_refuses_early_when_too_large():
    with pytest.raises(ResourceError, match="unknown coefficients"):
        find_laws(linear([8, 8, 8, 8]).generators, 5)


def test_search_degree_zero_and_one():
    m = product(2)
    assert find_laws(m.generators, 0).laws == ()
    assert find_laws(m.generators, 1).laws == ()


@pytest.mark.slow
def test_larger_networks_are_certified():
    assert count(linear([8, 8, 8])).laws == 36
    assert count(relu([8, 8, 8], bias=True)).laws == 8
    assert count(linear([3, 4, 5, 3])).status == "certified"


@pytest.mark.parametrize("model, degree", [(linear([3, 3, 3]), 2), (product(6), 4),
                                           (linear([1, 2, 2, 1]), 3), (relu([2, 3, 2]), 2)],
                         ids=["linear:3,3,3", "product:6", "linear:1,2,2,1", "relu:2,3,2"])
def test_graded_law_search_equals_the_single_block_reference(model, degree):
    graded = find_laws(model.generators, degree)
    single = find_laws(model.generators, degree, graded=False)
    assert single.blocks == 1 and graded.blocks > 1
    assert graded.laws == single.laws and graded.independent == single.independent

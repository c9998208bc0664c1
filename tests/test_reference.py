"""Reference values of the papers (shared/background.md): every count is
recomputed and must be certified, never looked up."""

import pathlib

import pytest
import sympy

import exactcl
from exactcl import count, from_phi, linear, product, relu
from exactcl.workflows.reproduce import load_script

u, v, v1, v2, t1, t2, t3 = sympy.symbols("u v v1 v2 t1 t2 t3")

# (id, model factory, D, laws, laws written explicitly or None)
ANALYTIC = [
    ("product t1 t2 t3", lambda: from_phi([t1 * t2 * t3], [t1, t2, t3]), 3, 2,
     [t1**2 - t3**2, t2**2 - t3**2]),
    ("one neuron (u v1, u v2)", lambda: from_phi([u * v1, u * v2], [u, v1, v2]), 3, 1,
     [u**2 - v1**2 - v2**2]),
    ("chain (t1 t2, t2 t3)", lambda: from_phi([t1 * t2, t2 * t3], [t1, t2, t3]), 3, 1,
     [t1**2 - t2**2 + t3**2]),
    ("u v^2", lambda: from_phi([u * v**2], [u, v]), 2, 1, [2 * u**2 - v**2]),
]


@pytest.mark.parametrize("name,make,D,n_laws,explicit", ANALYTIC, ids=[a[0] for a in ANALYTIC])
def test_analytic_examples(name, make, D, n_laws, explicit):
    model = make()
    result = count(model)
    assert (result.parameters, result.laws, result.status) == (D, n_laws, "certified")
    search = exactcl.laws(model, 2)
    assert [sympy.expand(e - f) for e, f in zip(search.sympy(), explicit)] == [0] * n_laws
    assert search.independent == n_laws


#: The seeded random fields of the Theorem 3.3 script, one source for both.
random_field = load_script(pathlib.Path(__file__).resolve().parents[1] / "proofs"
                           / "theorem_3_3_analytic_examples.py").random_field


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_field_has_four_nonpolynomial_laws(seed):
    model = random_field(seed)
    result = count(model, search_degree=4)
    assert (result.parameters, result.laws, result.proof) == (5, 4, "closure")
    assert result.explicit_laws == 0
    assert result.closure.passed
    assert exactcl.laws(model, 4).laws == ()


NETWORKS = [
    # spec-like id, factory, D, laws
    ("linear:2,2,2", lambda: linear([2, 2, 2]), 8, 3),
    ("linear:3,3,3", lambda: linear([3, 3, 3]), 18, 6),
    ("linear:2,2,2,2", lambda: linear([2, 2, 2, 2]), 12, 6),
    ("linear:2,3,3,2", lambda: linear([2, 3, 3, 2]), 21, 12),
    ("linear:4,4,4,4", lambda: linear([4, 4, 4, 4]), 48, 20),
    ("linear:2,5,3,4", lambda: linear([2, 5, 3, 4]), 37, 21),
    ("relu:2,3,3,2", lambda: relu([2, 3, 3, 2]), 21, 6),
    ("relu-bias:2,3,3,2", lambda: relu([2, 3, 3, 2], bias=True), 27, 6),
    ("relu:3,4,5", lambda: relu([3, 4, 5]), 32, 4),
    ("relu-bias:3,4,5", lambda: relu([3, 4, 5], bias=True), 36, 4),
    ("relu:2,2,5,3", lambda: relu([2, 2, 5, 3]), 29, 7),
    ("relu-bias:2,2,5,3", lambda: relu([2, 2, 5, 3], bias=True), 36, 7),
    ("product:5", lambda: product(5), 5, 4),
]


@pytest.mark.parametrize("name,make,D,n_laws", NETWORKS, ids=[n[0] for n in NETWORKS])
def test_network_table(name, make, D, n_laws):
    result = count(make())
    assert result.model == name
    assert (result.parameters, result.laws, result.status) == (D, n_laws, "certified")
    assert result.lower == result.upper == n_laws
    assert result.lie_dimension == D - n_laws


@pytest.mark.parametrize("n,m,r", [(n, m, r) for n in (1, 2, 3) for m in (1, 2, 3)
                                   for r in (1, 2, 3) if r <= n + m])
def test_two_layer_linear_count_is_r_r_plus_1_over_2(n, m, r):
    # x -> U V^T x with U (n x r), V (m x r): widths m (input), r, n (output)
    result = count(linear([m, r, n]))
    assert result.laws == r * (r + 1) // 2
    assert result.proof == "sandwich"


@pytest.mark.parametrize("n,m,r", [(1, 1, 2), (1, 1, 3), (1, 2, 4), (2, 1, 4)])
def test_two_layer_relu_has_one_law_per_neuron(n, m, r):
    for bias in (False, True):
        result = count(relu([m, r, n], bias=bias))
        assert result.parameters == (n + m) * r + (r if bias else 0)
        assert result.laws == r


def test_two_layer_lie_algebra_is_larger_than_w_phi():
    # n = m = r = 2: dim W = 4 but dim Lie = 5, so 3 laws, not 4
    result = count(linear([2, 2, 2]))
    assert result.growth.profile[:2] == (4, 5)
    assert result.laws == 3

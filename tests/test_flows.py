"""Flows beyond the gradient flow (exactcl.models.flows): counts from the papers,
the lifted fields, the time-dependent laws and bad input."""

from fractions import Fraction

import pytest
import sympy

import exactcl
from exactcl.errors import InputError
from exactcl.interfaces.cli import main
from exactcl.models.builtin import linear, relu
from exactcl.models.flows import Flow, apply_flow, icnn, nmf, parse_flow


def _count(model, flow=None):
    r = exactcl.count(model, flow=flow)
    return r.laws, r.proof


# (model, flow, laws, why): Keep the Momentum (ICML 2024) and the balancedness
# argument: under heavy ball a linear net keeps, per hidden layer of width n,
# the n(n-1)/2 antisymmetric parts e^(tau t) (W_l W_l'^T - ...); ReLU nets keep
# none; NMF under diag(theta) one linear law per rank-one component; the ICNN
# under the mirror metric on W2 one per hidden neuron.
TABLE = {
    "linear 2,2,2 momentum 0": (lambda: linear([2, 2, 2]), "momentum:0", 1),
    "linear 2,2,2 momentum 1/2": (lambda: linear([2, 2, 2]), "momentum:1/2", 1),
    "linear 2,2,2 momentum 1": (lambda: linear([2, 2, 2]), "momentum:1", 1),
    "linear 2,3,2 momentum 1": (lambda: linear([2, 3, 2]), "momentum:1", 3),
    "linear 2,2,2,2 momentum 2": (lambda: linear([2, 2, 2, 2]), "momentum:2", 2),
    "linear 2,2,2 nesterov": (lambda: linear([2, 2, 2]), "nesterov", 1),
    "relu 2,2,2 momentum 1": (lambda: relu([2, 2, 2]), "momentum:1", 0),
    "relu-bias 2,2,2 momentum 1/2": (lambda: relu([2, 2, 2], bias=True), "momentum:1/2", 0),
    "nmf 1,1,1 mirror": (lambda: nmf(1, 1, 1), None, 1),
    "nmf 2,2,2 mirror": (lambda: nmf(2, 2, 2), None, 2),
    "nmf 3,2,2 mirror": (lambda: nmf(3, 2, 2), None, 2),
    "icnn 2,3,1 mirror": (lambda: icnn([2, 3, 1]), None, 3),
    "icnn-bias 2,2,1 mirror": (lambda: icnn([2, 2, 1], bias=True), None, 2),
}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_counts_under_flows(name):
    build, flow, want = TABLE[name]
    assert _count(build(), flow) == (want, "sandwich")


def test_the_lifted_fields_are_the_drift_and_the_data_fields():
    """theta'' + tau theta' = -grad E on (s, theta, v): drift (tau s, v, -tau v)."""
    m = apply_flow(linear([1, 1, 1]), "momentum:1/3")
    s, w1, w2, v1, v2 = m.ring.gens
    drift, x = m.generators
    third = m.ring.constant(Fraction(1, 3))
    assert drift.as_dict == {0: third * s, 1: v1, 2: v2, 3: -third * v1, 4: -third * v2}
    assert x.as_dict == {3: w2, 4: w1}  # (0, 0, grad (W2 W1))
    nes = apply_flow(linear([1, 1, 1]), "nesterov").generators[0]
    assert nes.as_dict == {0: s, 1: s * v1, 2: s * v2, 3: -3 * v1, 4: -3 * v2}


def test_momentum_laws_depend_on_time_and_are_printed_with_it():
    r = exactcl.count(linear([2, 2, 2]), flow="momentum:1/2")
    (law,) = r.laws_strings()
    assert law.endswith("*exp(t/2)") and "W1_0_0*W1_1_0_dot" in law
    t = sympy.Symbol("t")
    assert r.laws_sympy()[0].has(sympy.exp(t / 2))
    # without damping the law does not depend on time; Nesterov's carries t^3
    import re
    plain = exactcl.count(linear([2, 2, 2]), flow="momentum:0").laws_strings()[0]
    assert not re.search(r"\bt\b|exp", plain), plain
    assert exactcl.count(linear([2, 2, 2]), flow="nesterov").laws_strings()[0].startswith("t**3*(")


def test_a_law_of_the_momentum_flow_is_conserved_along_an_exact_solution_check():
    """d/dt h = grad h . (drift + c X) = 0 for every c: the exhibited law
    is annihilated by the drift and by every data field, as polynomials."""
    m = apply_flow(linear([2, 2, 2]), "momentum:1/2")
    r = exactcl.count(m)
    h = r.exhibited[0]
    assert all(g.apply(h).is_zero() for g in m.generators)


def test_nmf_laws_under_the_mirror_flow_are_the_papers():
    r = exactcl.count(nmf(2, 3, 2))
    assert r.laws_strings() == ["U0_0 + U1_0 - V0_0 - V1_0 - V2_0",
                                "U0_1 + U1_1 - V0_1 - V1_1 - V2_1"]
    assert exactcl.count(nmf(2, 3, 2), flow="gradient").laws == 3  # Euclidean: U^T U - V^T V


def test_a_users_metric_matrix():
    """M = diag(theta) given as a SymPy matrix is metric:diag."""
    m = linear([1, 2, 1])
    M = sympy.diag(*sympy.symbols(m.parameters))
    a = exactcl.count(m, metric=M)
    b = exactcl.count(m, flow="metric:diag")
    assert (a.laws, a.lie_rank) == (b.laws, b.lie_rank)


@pytest.mark.parametrize("call, message", [
    (lambda: parse_flow("momentum:-1/2"), "damping tau >= 0, not -1/2"),
    (lambda: parse_flow("momentum:0.1"), "a decimal is not exact"),
    (lambda: parse_flow("momentum:x"), "rational damping"),
    (lambda: parse_flow("momentum:1/0"), "denominator 0"),
    (lambda: parse_flow("metric:cholesky"), "metric:diag or metric:diag:TENSORS"),
    (lambda: parse_flow("heavy"), "must be a flow"),
    (lambda: exactcl.count(linear([2, 2, 2]), metric=sympy.eye(3)), "must be a 8 x 8 matrix"),
    (lambda: exactcl.count(linear([1, 1, 1]), metric=sympy.Matrix([[sympy.Symbol("W1_0_0"), 0],
                                                                   [0, sympy.sqrt(2)]])),
     "polynomials in the parameters"),
    (lambda: exactcl.count(linear([1, 1, 1]), metric=sympy.zeros(2, 2)),
     "singular at every point"),
    (lambda: exactcl.count(linear([2, 2, 2]), flow="metric:diag:U"), "names the tensor 'U'"),
])
def test_bad_flows_are_refused_naming_the_argument(call, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


@pytest.mark.parametrize("argv, message", [
    (["count", "linear:2,2,2", "--flow", "momentum:-1"], "'--flow'"),
    (["count", "linear:2,2,2", "--flow", "momentum:0.5"], "'--flow'"),
    (["count", "linear:2,2,2", "--flow", "metric:diag:W7"], "'--flow'"),
    (["count", "nmf:2,2"], "after 'nmf:' (n,m,r"),
    (["plot", "drift", "linear:2,2,2", "--flow", "momentum:1", "-o", "x.png"], "'--flow'"),
])
def test_cli_refuses_a_bad_flow_in_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_cli_counts_laws_and_certifies_under_a_flow(tmp_path, capsys):
    assert main(["count", "linear:2,2,2", "--flow", "momentum:1/2"]) == 0
    out = capsys.readouterr().out
    assert "under momentum tau=1/2 (D = 17)" in out and "laws        1" in out
    assert main(["laws", "linear:2,2,2", "--flow", "momentum:1/2", "--degree", "3"]) == 0
    assert "*exp(t/2)" in capsys.readouterr().out
    path = tmp_path / "c.json"
    assert main(["certify", "nmf:2,2,1", "--flow", "momentum:1", "-o", str(path)]) == 0
    assert main(["verify", str(path)]) == 0


def test_flow_text_round_trips():
    for text in ("gradient", "metric:diag", "metric:diag:W1,W2", "momentum:1/2", "nesterov",
                 "momentum:0+metric:diag"):
        assert parse_flow(parse_flow(text).spec) == parse_flow(text)
    assert parse_flow("momentum:2/4").tau == Fraction(1, 2)
    assert Flow().text == "gradient"


def test_the_euclidean_flow_of_a_model_with_its_own_geometry_is_certified_as_such(tmp_path):
    """nmf: and icnn: default to their mirror metric; flow='gradient' gives the
    Euclidean flow, in the count, the certificate and the verification."""
    for model, want in ((nmf(2, 2, 1), 1), (icnn([2, 2, 1]), 2)):
        path = tmp_path / "c.json"
        cert, r = exactcl.certify(model, path, flow="gradient")
        assert r.laws == want and r.model.endswith("under gradient")
        assert exactcl.verify(path).ok


def test_a_subset_under_a_flow_is_refused_plainly():
    from exactcl.errors import UnsupportedError
    with pytest.raises(UnsupportedError, match="gradient flow"):
        exactcl.certify(linear([2, 2, 2]), subset="W1", flow="momentum:1")
    with pytest.raises(UnsupportedError, match="gradient flow"):
        exactcl.subset_laws(nmf(2, 2, 1), "U")


def test_a_letter_tensor_takes_its_indexed_parameters():
    r = exactcl.count(nmf(2, 2, 1), flow="metric:diag:U")
    assert r.model.endswith("on U") and r.laws == 1


def test_a_sweep_config_gives_every_case_its_flow(tmp_path):
    from exactcl.workflows.grid import load_config
    path = tmp_path / "g.toml"
    path.write_text('specs = ["linear:2,2,2", "nmf:2,2,1"]\n[sweep]\nflow = "momentum:1/2"\n')
    cases, options = load_config(path)
    assert [c.id for c in cases] == ["linear_2-2-2_momentum-1-2", "nmf_2-2-1_momentum-1-2"]
    assert "flow" not in options
    assert cases[0].model().name == "linear:2,2,2 under momentum tau=1/2"
    path.write_text('specs = ["linear:2,2,2"]\n[sweep]\nflow = "momentum:0.5"\n')
    with pytest.raises(InputError, match=r"\[sweep\].flow"):
        load_config(path)

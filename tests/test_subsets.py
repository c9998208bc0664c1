"""Laws that depend only on a parameter subset (exactcl.engine.subsets).

Every expected count below comes from an argument independent of the
program, written next to the case. The argument used throughout: the
model's laws are, near a generic point, the functions of its known
independent laws (Frobenius, once the full count is proven complete), so
the laws on a subset S are the functions f of those laws that do not vary
when the parameters outside S do.
"""

from __future__ import annotations

import copy
import json
import random

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exactcl
from exactcl.certificates.build import certify_subset
from exactcl.engine.subsets import laws_on, parse_subset, subset_laws
from exactcl.errors import InputError
from exactcl.interfaces.cli import main
from exactcl.kernel import certformat
from exactcl.kernel.verifier import verify_certificate, verify_text
from exactcl.models.builtin import linear, product, relu


def _custom():
    """X = d/da + c a d/db + b d/dd on (a, b, c, d). On S = {a, b, d} the
    restricted fields Y_c = (1, c a, b) span only 2 directions at a point,
    but [Y_c1, Y_c2] = (c2 - c1)(0, 1, -a) is a third: Lie(F) is all of
    R^3 and no law depends on a, b, d alone. On {b, c, d}: c is a law, and
    the restricted values (c a, 0, b) over all a span 2 directions, so at
    most 3 - 2 = 1."""
    a, b, c, d = sympy.symbols("a b c d")
    return exactcl.from_fields([[1, c * a, 0, b]], [a, b, c, d])


def _uv():
    u, v1, v2 = sympy.symbols("u v1 v2")
    return exactcl.from_phi([u * v1, u * v2], [u, v1, v2])


#: (model, subset, laws on the subset, degree of the search or None)
TABLE = [
    # deep linear [2,2,2,2]: laws are functions of A = W1 W1^T - W2^T W2 and
    # B = W2 W2^T - W3^T W3 (3 + 3 entries, the full count is 6)
    pytest.param(lambda: linear([2, 2, 2, 2]), "W1", 0, None,
                 id="linear:2,2,2,2|W1 (W2 moves A freely, W3 moves B: none)"),
    pytest.param(lambda: linear([2, 2, 2, 2]), "W1,W2", 3, None,
                 id="linear:2,2,2,2|W1,W2 (W3 moves B freely: functions of A)"),
    pytest.param(lambda: linear([2, 2, 2, 2]), "W2,W3", 3, None,
                 id="linear:2,2,2,2|W2,W3 (W1 moves A freely: functions of B)"),
    pytest.param(lambda: linear([2, 2, 2, 2]), "W1,W2,W3", 6, None,
                 id="linear:2,2,2,2|all (the full count)"),
    # W2 moves (A, B) by (-dP, dQ) tangent to {spec P = spec Q}, P = W2^T W2,
    # Q = W2 W2^T; over all W1, W3 the normals of that set, (I, -I) and
    # (cof P, -cof Q), leave only grad f with f a function of tr A + tr B =
    # |W1|^2 - |W3|^2
    pytest.param(lambda: linear([2, 2, 2, 2]), "W1,W3", 1, None,
                 id="linear:2,2,2,2|W1,W3 (only |W1|^2 - |W3|^2)"),
    # two-layer ReLU: one law per hidden neuron, |W1[i,:]|^2 - |W2[:,i]|^2
    pytest.param(lambda: relu([2, 3, 2]), "W1,W2", 3, None, id="relu:2,3,2|all"),
    pytest.param(lambda: relu([2, 3, 2]), "W1", 0, None,
                 id="relu:2,3,2|W1 (W2 moves every law)"),
    pytest.param(lambda: relu([2, 3, 2]), "W1_0_0,W1_0_1,W2_0_0,W2_1_0", 1, None,
                 id="relu:2,3,2|neuron 0 (its own law)"),
    # ReLU with biases [2,3,3,2]: L1_i involves W1, b1, W2; L2_i involves W2, b2, W3
    pytest.param(lambda: relu([2, 3, 3, 2], bias=True), "W1,b1,W2", 3, None,
                 id="relu-bias:2,3,3,2|W1,b1,W2 (W3 moves L2: functions of L1)"),
    pytest.param(lambda: relu([2, 3, 3, 2], bias=True), "W2,b2,W3", 3, None,
                 id="relu-bias:2,3,3,2|W2,b2,W3 (b1 moves L1: functions of L2)"),
    pytest.param(lambda: relu([2, 3, 3, 2], bias=True), "W1,W2", 0, None,
                 id="relu-bias:2,3,3,2|W1,W2 (b1 moves L1, W3 moves L2)"),
    pytest.param(lambda: relu([2, 3, 3, 2], bias=True), "W1,b1,W2,b2", 3, None,
                 id="relu-bias:2,3,3,2|W1,b1,W2,b2 (W3 moves L2)"),
    # product: laws t_i^2 - t_1^2; t3 moves t3^2 - t1^2 freely
    pytest.param(lambda: product(3), "t1,t2", 1, None, id="product:3|t1,t2"),
    # (u v1, u v2): one law v1^2 + v2^2 - u^2, moved by u and by v1
    pytest.param(_uv, "v1,v2", 0, None, id="uv|v1,v2"),
    pytest.param(_uv, "u,v1", 0, None, id="uv|u,v1"),
    pytest.param(_uv, "u,v1,v2", 1, None, id="uv|all"),
    pytest.param(_custom, "a,b,d", 0, 3, id="custom|a,b,d (needs restricted brackets)"),
    pytest.param(_custom, "b,c,d", 1, 3, id="custom|b,c,d (c)"),
]


@pytest.mark.parametrize("make, subset, expected, degree", TABLE)
def test_subset_table(make, subset, expected, degree):
    model = make()
    r = subset_laws(model, subset, degree=degree)
    assert r.laws == expected, str(r)
    assert r.proof in ("sandwich", "closure")
    assert r.bounds == (expected, expected)
    assert len(r.exhibited) == r.lower
    S = set(r.indices)
    for h in r.exhibited:  # supported on S, and a law of every generator
        assert {v for mono, _ in exactcl.kernel.rings.poly_terms(h) for v, _ in mono} <= S
        assert exactcl.kernel.fields.first_violation(h, model.generators) is None


def test_the_restricted_brackets_close_what_word_values_leave_open():
    r = subset_laws(_custom(), "a,b,d", degree=3)
    assert (r.word_rank, r.rank, r.restricted_brackets) == (2, 3, 1)
    assert "raised to 3 by 1 bracket of restricted fields" in r.explanation


def test_every_parameter_gives_the_full_count_even_by_closure():
    m = _custom()
    full = exactcl.count(m, search_degree=3)
    r = subset_laws(m, "a,b,c,d", degree=3)
    assert full.proof == "closure" and full.laws == 3
    assert (r.laws, r.proof) == (3, "closure")


def test_bounds_only_is_said_plainly():
    # without the law c (no search, no candidates) the lower bound on {c} is 0
    # while the restricted values of the one field vanish on c: bounds [0, 1]
    m = _custom()
    r = subset_laws(m, "c", degree=0)
    assert (r.laws, r.bounds, r.proof) == (None, (0, 1), "bounds only")
    assert r.explanation.startswith("Only bounds")
    assert "between 0 and 1" in str(r)


@pytest.mark.parametrize("engine", ["expanded", "program"])
def test_programs_on_both_engines(engine):
    net = exactcl.net(exactcl.Linear(2, 3), exactcl.ReLU(), exactcl.Linear(3, 2, bias=True))
    r = subset_laws(net, "W1,W2", engine=engine)
    assert r.count.engine == engine
    # laws |W1[i,:]|^2 - |W2[:,i]|^2; the output bias b2 is in no law
    assert (r.laws, r.proof) == (3, "sandwich")


def test_program_engine_deep_linear():
    # n_2 = 3: the 6 entries of W2 W2^T - W3^T W3 (W1 and W4 move the others)
    r = subset_laws(linear([3, 3, 3, 3]), "W2,W3", engine="program")
    assert r.count.engine == "program" and (r.laws, r.proof) == (6, "sandwich")
    assert subset_laws(linear([3, 3, 3, 3]), "W1", engine="program").laws == 0


# -- the lower bound's exact linear algebra ------------------------------------------------

def test_laws_on_cancels_outside_monomials():
    R = exactcl.Ring(("x", "y", "z", "w"))
    x, y, z, w = R.gens
    laws = [x**2 - z**2, z**2 - y**2, w * z, x * y]
    got, labels = laws_on(laws, ["a", "b", "c", "d"], [0, 1])
    assert sorted(str(h) for h in got) == sorted(["x*y", "x^2 - y^2"])
    assert labels.count("d") == 1


# -- parsing ---------------------------------------------------------------------------------

def test_prefix_matches_whole_tensors_only():
    m = linear([1] * 11)  # W1 ... W10, one weight each
    assert m.parameters[0] == "W1_0_0" and m.parameters[9] == "W10_0_0"
    assert parse_subset(m, "W1") == (0,)
    assert parse_subset(m, "W10,W1_0_0, W1") == (0, 9)


def test_biases_by_layer():
    m = relu([2, 3, 3, 2], bias=True)
    got = [m.parameters[v] for v in parse_subset(m, "b2")]
    assert got == ["b2_0", "b2_1", "b2_2"]


def test_a_tensor_prefix_means_the_same_in_a_subset_and_a_metric():
    from exactcl.kernel.flowfields import diagonal_indices
    m = exactcl.relu([2, 2, 2], bias=True)
    for token in ("W", "W1", "b", "b1", "W2_0_1"):
        assert parse_subset(m, token) == tuple(diagonal_indices(m.parameters, (token,), "t"))


@pytest.mark.parametrize("subset, words", [
    ("W4", ["'subset'", "W1, W2, W3", "'W4'", "W4_"]),
    ("W1,Q", ["'subset'", "'Q'"]),
    ("", ["'subset'", "at least one parameter"]),
    (" , ,", ["'subset'", "at least one parameter"]),
    ([], ["'subset'", "at least one parameter"]),
    (3, ["'subset'", "not 3"]),
], ids=["unknown tensor", "unknown token", "empty", "only commas", "empty list", "not text"])
def test_bad_subsets_name_the_argument(subset, words):
    with pytest.raises(InputError) as err:
        subset_laws(linear([2, 2, 2, 2]), subset)
    for word in words:
        assert word in str(err.value)
    assert "\n" not in str(err.value)


# -- properties --------------------------------------------------------------------------------

_MODEL = relu([2, 2, 2], bias=True)
_COUNT = exactcl.count(_MODEL)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(_MODEL.parameters), min_size=1),
       st.sets(st.sampled_from(_MODEL.parameters)))
def test_the_subset_count_is_monotone(small, extra):
    a = subset_laws(_MODEL, sorted(small), count_result=_COUNT)
    b = subset_laws(_MODEL, sorted(small | extra), count_result=_COUNT)
    assert a.lower <= a.upper and b.lower <= b.upper
    assert a.lower <= b.upper  # laws(S) <= laws(S') for S in S'
    if a.laws is not None and b.laws is not None:
        assert a.laws <= b.laws


def test_every_parameter_equals_the_full_count():
    r = subset_laws(_MODEL, list(_MODEL.parameters), count_result=_COUNT)
    assert r.laws == _COUNT.laws == 2


# -- command line ------------------------------------------------------------------------------

def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", [["count"], ["laws", "--degree", "2"],
                                     ["certify", "-o", "unused.json"]],
                         ids=["count", "laws", "certify"])
@pytest.mark.parametrize("subset, words", [("W7", ["'--subset'", "'W7'", "W1, W2"]),
                                           ("", ["'--subset'", "at least one"]),
                                           (",", ["'--subset'", "at least one"])],
                         ids=["unknown", "empty", "comma"])
def test_cli_bad_subset_exits_2_with_one_line(capsys, tmp_path, monkeypatch, command,
                                              subset, words):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, command[0], "linear:2,2,2", *command[1:], "--subset", subset)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("exactcl: error: Argument '--subset'")
    for word in words:
        assert word in err
    assert not (tmp_path / "unused.json").exists()


def test_cli_count_and_laws(capsys):
    code, out, _ = _run(capsys, "count", "linear:2,2,2,2", "--subset", "W1,W2")
    assert code == 0 and "3 independent conservation laws depend only on it" in out
    assert "Proven by sandwich" in out
    code, out, _ = _run(capsys, "count", "linear:2,2,2,2", "--subset", "W1", "--json")
    data = json.loads(out)
    assert (data["laws"], data["proof"], data["size"]) == (0, "sandwich", 4)
    code, out, _ = _run(capsys, "laws", "relu:2,3,2", "--degree", "2", "--subset", "W1,W2")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4 and "(sandwich)" in lines[0]
    assert lines[1].strip() == "W1_0_0**2 + W1_0_1**2 - W2_0_0**2 - W2_1_0**2"


def test_cli_certify_then_verify(capsys, tmp_path):
    path = tmp_path / "s.json"
    code, out, _ = _run(capsys, "certify", "relu-bias:2,3,3,2", "--subset", "W2,b2,W3",
                        "-o", str(path), "--reproducible")
    assert code == 0 and "certificate written" in out
    code, out, _ = _run(capsys, "verify", str(path))
    assert code == 0 and "subset of 18 parameters: 3 laws depending only on them" in out


# -- certificates --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def honest():
    cert, result = certify_subset(linear([2, 2, 2, 2]), "W1,W2", reproducible=True)
    return cert, result


def _verify(cert, seed=0):
    return verify_text(certformat.dumps(cert), rng=random.Random(seed))


def test_round_trip_is_byte_identical_and_verifies(honest):
    cert, result = honest
    again, _ = certify_subset(linear([2, 2, 2, 2]), "W1,W2", reproducible=True)
    text = certformat.dumps(cert)
    assert text == certformat.dumps(again)
    assert certformat.dumps(certformat.loads(text)) == text
    assert cert["version"] == certformat.SUBSET_VERSION
    section = cert["subset"]
    assert (section["laws"], section["rank"], section["laws_rank"]) == (3, 5, 3)
    assert set(section["words"]) <= set(cert["lie"]["basis"])
    report = _verify(cert)
    assert report.ok, str(report)
    assert "3 laws depending only on them" in report.summary


@pytest.mark.parametrize("make, subset, options", [
    (lambda: relu([2, 3, 3, 2], bias=True), "W1,b1,W2", {}),
    (lambda: exactcl.net(exactcl.Linear(2, 3), exactcl.ReLU(), exactcl.Linear(3, 2)), "W1", {}),
    (lambda: linear([2, 2, 3, 3]), "W2,W3", {"engine": "program", "identities": "monte-carlo"}),
    (_custom, "a,b,c,d", {"degree": 3}),
], ids=["relu-bias", "net", "program-monte-carlo", "closure-all"])
def test_certificates_of_every_kind_verify(make, subset, options):
    cert, result = certify_subset(make(), subset, reproducible=True, **options)
    report = _verify(cert)
    assert report.ok, str(report)
    assert cert["subset"]["laws"] == result.laws


def test_a_certificate_claims_only_what_word_values_prove():
    cert, result = certify_subset(_custom(), "a,b,d", degree=3, reproducible=True)
    assert result.laws == 0 and cert["subset"]["proof"] == "bounds only"
    assert cert["subset"]["bounds"] == [0, 1]
    assert _verify(cert).ok


def _failed(report) -> set[str]:
    return {c.claim for c in report.checks if not c.passed}


def _zero_complement(s):
    s["complements"][0] = ["0"] * len(s["complements"][0])


def _swap_subset(s):
    s["parameters"][-1] = "W3_0_0"  # W2_1_1 out, W3_0_0 in: still sorted


def _stray_variable(s):
    s["polynomials"][0].append([[[8, 2]], "1/1"])  # + W3_0_0**2 (variable 8)


@pytest.mark.parametrize("mutate, claims", [
    (_zero_complement, {"subset rank", "subset count"}),
    (lambda s: s.update(rank=s["rank"] + 1), {"subset rank"}),
    (lambda s: s.update(rank=s["rank"] - 1), {"subset rank"}),
    (lambda s: s.update(laws=4, bounds=[4, 4]), {"subset count"}),
    (_swap_subset, {"subset laws supported"}),
    (_stray_variable, {"subset laws supported", "subset law identities"}),
    (lambda s: s.update(laws_rank=4), {"subset laws independent"}),
    (lambda s: s.update(proof="closure"), {"subset count"}),
], ids=["complement zero", "rank up", "rank down", "laws claimed", "subset changed",
        "law with a stray variable", "laws rank", "proof kind"])
def test_mutations_are_rejected_naming_the_claim(honest, mutate, claims):
    cert = copy.deepcopy(honest[0])
    mutate(cert["subset"])
    report = _verify(cert)
    assert report.status == "false", str(report)
    assert claims <= _failed(report), str(report)


@pytest.mark.parametrize("mutate", [
    lambda c: c.update(version=2),
    lambda c: c.pop("subset"),
    lambda c: c["subset"].update(parameters=["W9_0_0"]),
    lambda c: c["subset"].update(words=[999]),
    lambda c: c["subset"]["complements"].append(["1"]),
    lambda c: c["subset"].pop("rank"),
], ids=["version 2", "no section", "unknown name", "unknown word", "short complement",
        "missing key"])
def test_malformed_subset_sections_are_unreadable(honest, mutate):
    cert = copy.deepcopy(honest[0])
    mutate(cert)
    report = verify_certificate(json.loads(json.dumps(cert)), rng=random.Random(0))
    assert report.status == "unreadable", str(report)


def test_verifying_a_subset_certificate_loads_no_producer_code(honest, tmp_path):
    import subprocess
    import sys
    path = tmp_path / "s.json"
    path.write_text(certformat.dumps(honest[0]))
    code = ("import sys, exactcl.kernel.verifier\n"
            f"assert exactcl.kernel.verifier.verify({str(path)!r}).ok\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sympy', 'networkx')"
            " or (m.startswith('exactcl.')"
            " and m.split('.')[1] not in ('kernel', 'errors', 'version'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "[]"

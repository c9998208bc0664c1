"""Certificates of models under a flow: the flow and the base model are
recorded, and the verifier rebuilds the fields from them.

Expected values are derived here from the definitions, not from exactcl:
the phase space of a momentum flow on D parameters has 2 D + 1 variables
and 1 + d fields (the drift and one per generator, d the components of
phi: n_0 n_L for a deep linear net, the paths for a ReLU net);
rank-one NMF under diag(theta) keeps sum_i U_i - sum_j V_j.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from fractions import Fraction

import pytest
import sympy

import exactcl
from exactcl.certificates.build import certify, model_section
from exactcl.certificates.view import Certificate
from exactcl.errors import InputError
from exactcl.kernel import certformat
from exactcl.kernel.verifier import verify_certificate, verify_text
from exactcl.models.builtin import linear, relu
from exactcl.models.flows import apply_flow, icnn, nmf


def verify(cert: dict, seed: int = 0, **options):
    """Verify through the text a file holds, as the command line does."""
    return verify_text(certformat.dumps(cert), rng=random.Random(seed), **options)


def failed(report) -> list[str]:
    return [c.claim for c in report.checks if not c.passed]


def check(report, claim: str):
    return next(c for c in report.checks if c.claim == claim)


# -- round trips -------------------------------------------------------------------

#: (id, model builder, flow, D of the base, components of phi, lifted)
ROUND_TRIPS = [
    ("nmf-metric", lambda: nmf(2, 2, 1), None, 4, 4, False),
    ("nmf-momentum-1", lambda: nmf(2, 2, 1), "momentum:1", 4, 4, True),
    ("linear-momentum-0", lambda: linear([2, 2, 2]), "momentum:0", 8, 4, True),
    ("linear-momentum-1", lambda: linear([2, 2, 2]), "momentum:1", 8, 4, True),
    ("linear-momentum-1/2", lambda: linear([2, 2, 2]), "momentum:1/2", 8, 4, True),
    ("relu-bias-momentum-0", lambda: relu([2, 2, 1], bias=True), "momentum:0", 8, 6, True),
    ("relu-bias-momentum-1", lambda: relu([2, 2, 1], bias=True), "momentum:1", 8, 6, True),
    ("relu-bias-momentum-1/2", lambda: relu([2, 2, 1], bias=True), "momentum:1/2", 8, 6, True),
    ("linear-nesterov", lambda: linear([1, 2, 1]), "nesterov", 4, 1, True),
    ("icnn-metric", lambda: icnn([2, 2, 1]), None, 6, 4, False),
]


@pytest.mark.parametrize("make, flow, D, d, lifted",
                         [r[1:] for r in ROUND_TRIPS], ids=[r[0] for r in ROUND_TRIPS])
def test_a_flow_certificate_round_trips(make, flow, D, d, lifted, tmp_path):
    path = tmp_path / "c.json"
    cert, _ = certify(make(), path, flow=flow, reproducible=True)
    section = cert["model"]
    assert set(section) == {"name", "variables", "fields", "fingerprint", "flow", "base"}
    assert "fingerprint" not in section["base"] and "flow" not in section["base"]
    assert len(section["base"]["variables"]) == D
    assert len(section["variables"]) == (2 * D + 1 if lifted else D)
    assert len(section["fields"]) == (1 + d if lifted else d)
    report = exactcl.verify(path, rng=random.Random(1))
    assert report.status == "verified", report
    assert check(report, "flow").passed
    assert f"of {section['base']['name']}" in check(report, "flow").detail
    assert "the fields are the flow" in report.summary


def test_the_base_of_a_builtin_network_is_checked_by_its_name():
    cert, _ = certify(linear([2, 2, 2]), flow="momentum:1/2", reproducible=True)
    report = verify(cert)
    assert check(report, "base model name").passed
    assert "layers rebuilt from the name" in check(report, "base model name").detail
    assert "name not checked" not in report.summary
    # nmf, icnn and icnn-bias are built-in specs: rebuilt from the name and compared
    for model in (nmf(2, 2, 1), icnn([2, 2, 1]), icnn([2, 2, 1], bias=True)):
        cert, _ = certify(model, reproducible=True)
        report = verify(cert)
        assert report.ok and "name not checked" not in report.summary, report.summary
        assert check(report, "model name").passed and check(report, "base model name").passed


def test_nmf_under_its_mirror_metric_keeps_the_rescaling_in_its_linear_form():
    cert, _ = certify(nmf(2, 2, 1), reproducible=True)
    assert cert["model"]["flow"] == {"kind": "gradient",
                                     "metric": {"kind": "diag", "tensors": []}}
    # d/dt U_i = -U_i dE/dU_i; with phi_ij = U_i V_j, U_i dE/dU_i = sum_j V_j U_i dE/dphi_ij:
    # sum_i U_i - sum_j V_j is conserved (one law), independent of exactcl's search
    assert cert["claim"]["laws"] == 1


def test_a_matrix_metric_round_trips_and_its_entries_are_checked():
    u, v = sympy.symbols("W1_0_0 W2_0_0")
    metric = sympy.Matrix([[2, 1], [1, 1 + u**2]])
    cert, _ = certify(linear([1, 1, 1]), metric=metric, reproducible=True)
    assert cert["model"]["flow"]["metric"]["kind"] == "matrix"
    assert verify(cert).status == "verified"
    bad = copy.deepcopy(cert)
    bad["model"]["flow"]["metric"]["rows"][0][0] = [[[], "3/1"]]
    assert "flow" in failed(verify(bad, check_fingerprint=False))


def test_a_certificate_without_a_flow_is_unchanged():
    section = model_section(linear([2, 2, 2]))
    assert set(section) == {"name", "variables", "program", "fingerprint"}
    cert, _ = certify(linear([2, 2, 2]), reproducible=True)
    assert cert["version"] == certformat.SCHEMA_VERSION == 2


def test_the_viewer_names_the_flow():
    cert, _ = certify(relu([2, 2, 1], bias=True), flow="momentum:1/2", reproducible=True)
    view = Certificate.from_dict(cert)
    assert view.flow == "momentum tau=1/2 of relu-bias:2,2,1"
    assert "Flow: the fields of momentum tau=1/2 of relu-bias:2,2,1" in view.summary()
    assert Certificate.from_dict(certify(linear([1, 1, 1]), reproducible=True)[0]).flow is None


def test_verifying_a_flow_imports_neither_the_producer_nor_sympy(tmp_path):
    path = tmp_path / "c.json"
    certify(nmf(2, 2, 1), path, flow="momentum:1/2", reproducible=True)
    code = ("import sys, exactcl.kernel.verifier as v\n"
            f"r = v.verify({str(path)!r})\n"
            "assert r.ok, r\n"
            "print(sorted(m for m in sys.modules if m.startswith('exactcl.') or "
            "m.split('.')[0] in ('sympy', 'networkx')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert all(m.startswith("exactcl.kernel") or m in ("exactcl.errors", "exactcl.version")
               for m in eval(out))


def test_the_flow_check_is_within_the_work_budget():
    cert, _ = certify(linear([2, 2, 2]), flow="momentum:1", reproducible=True)
    report = verify(cert, work_limit=1e-4)
    assert report.status == "unreadable" and report.summary.startswith("refused:")


# -- mutations: the flow changed, the fields kept -----------------------------------

@pytest.fixture(scope="module")
def momentum() -> dict:
    return certify(linear([2, 2, 2]), flow="momentum:1/2", reproducible=True)[0]


@pytest.fixture(scope="module")
def mirror() -> dict:
    return certify(nmf(2, 2, 1), reproducible=True)[0]


def mutated(cert: dict, change) -> dict:
    out = copy.deepcopy(cert)
    change(out["model"])
    return out


REJECTED = {
    "tau changed": ("momentum", lambda m: m["flow"].update(tau="1/1")),
    "tau 0": ("momentum", lambda m: m["flow"].update(tau="0/1")),
    "kind nesterov": ("momentum", lambda m: (m["flow"].pop("tau"),
                                             m["flow"].update(kind="nesterov"))),
    "metric added": ("momentum", lambda m: m["flow"].update(
        metric={"kind": "diag", "tensors": ["W1"]})),
    "metric tensors changed": ("mirror", lambda m: m["flow"]["metric"].update(
        tensors=["U0", "U1"])),
    "metric removed": ("mirror", lambda m: m["flow"].update(kind="momentum", tau="1/1")
                       or m["flow"].pop("metric")),
    "base width changed": ("momentum", lambda m: m.update(
        base={k: v for k, v in model_section(linear([2, 3, 2])).items()
              if k != "fingerprint"})),
    "a field component changed": ("momentum", lambda m: m["fields"][1][0][1][0].__setitem__(
        1, "2/1")),
}


@pytest.mark.parametrize("which, change", REJECTED.values(), ids=list(REJECTED))
def test_a_changed_flow_is_rejected_by_the_flow_check(which, change, momentum, mirror):
    cert = mutated({"momentum": momentum, "mirror": mirror}[which], change)
    report = verify(cert, check_fingerprint=False)
    assert report.status == "false", report
    assert "flow" in failed(report)
    # and the fingerprint sees the edit too
    assert "model fingerprint" in failed(verify(cert))


def test_a_base_named_for_another_builtin_fails_the_name_check(momentum):
    cert = mutated(momentum, lambda m: m["base"].update(name="relu:2,2,2"))
    report = verify(cert, check_fingerprint=False)
    assert failed(report) == ["model name", "base model name"]


def test_a_flow_removed_with_its_fields_kept_is_false_by_its_name(momentum):
    # without flow and base the file is a model given by its fields, and its
    # claims hold of those fields; but its name still says it is a flow's
    cert = mutated(momentum, lambda m: (m.pop("flow"), m.pop("base")))
    report = verify(cert, check_fingerprint=False)
    assert report.status == "false" and failed(report) == ["model name"]
    assert "holds no flow section" in check(report, "model name").detail
    cert = mutated(momentum, lambda m: (m.pop("flow"), m.pop("base"), m.update(name="fields")))
    report = verify(cert, check_fingerprint=False)
    assert report.status == "verified"
    assert "name not checked: the model's name 'fields'" in report.summary


@pytest.mark.parametrize("name", ["relu:2,2,2 under momentum tau=1/2",
                                  "linear:2,2,2 under momentum tau=3",
                                  "linear:2,2,2 under nesterov (damping 3/t)",
                                  "net:Linear(2,2),Linear(2,2) under momentum tau=1/2",
                                  "linear:2,2,2"])
def test_a_flow_certificate_renamed_is_false(momentum, name):
    report = verify(mutated(momentum, lambda m: m.update(name=name)), check_fingerprint=False)
    assert report.status == "false" and failed(report) == ["model name"], str(report)


UNREADABLE = {
    "negative tau": (lambda m: m["flow"].update(tau="-1/2"), "model.flow.tau"),
    "decimal tau": (lambda m: m["flow"].update(tau="0.5"), "model.flow.tau"),
    "tau a number": (lambda m: m["flow"].update(tau=1), "model.flow.tau"),
    "tau over 0": (lambda m: m["flow"].update(tau="1/0"), "model.flow.tau"),
    "momentum without tau": (lambda m: m["flow"].pop("tau"), "no damping"),
    "unknown kind": (lambda m: m["flow"].update(kind="adam"), "model.flow.kind"),
    "gradient with tau": (lambda m: m["flow"].update(kind="gradient"), "only momentum"),
    "gradient without metric": (lambda m: (m["flow"].pop("tau"),
                                           m["flow"].update(kind="gradient")), "itself"),
    "unknown tensor": (lambda m: m["flow"].update(metric={"kind": "diag", "tensors": ["W9"]}),
                       "model.flow.metric.tensors[0]"),
    "unknown metric kind": (lambda m: m["flow"].update(metric={"kind": "full"}),
                            "model.flow.metric.kind"),
    "matrix of the wrong side": (lambda m: m["flow"].update(
        metric={"kind": "matrix", "rows": [[[]]]}), "model.flow.metric.rows"),
    "unknown flow key": (lambda m: m["flow"].update(beta="1/2"), "unknown key"),
    "flow without base": (lambda m: m.pop("base"), "no base"),
    "base without flow": (lambda m: m.pop("flow"), "no flow"),
    "a flow inside the base": (lambda m: m["base"].update(flow={"kind": "nesterov"}),
                               "model.base has unknown key"),
    "a fingerprint inside the base": (lambda m: m["base"].update(fingerprint="0"),
                                      "model.base has unknown key"),
    "base without variables": (lambda m: m["base"].pop("variables"), "model.base lacks"),
    "phi beside the flow": (lambda m: m.update(phi=[]) or m.pop("fields"), "flow's fields"),
}


@pytest.mark.parametrize("change, where", UNREADABLE.values(), ids=list(UNREADABLE))
def test_a_malformed_flow_section_is_unreadable(change, where, momentum):
    report = verify(mutated(momentum, change))
    assert report.status == "unreadable", report
    assert where in report.summary


def test_a_base_program_too_large_for_a_file_is_refused_from_its_sizes(momentum):
    big = mutated(momentum, lambda m: m["base"].update(program=[["linear", 10**5, 10**5,
                                                                  False]]))
    report = verify(big)
    assert report.status == "unreadable" and "40,000" in report.summary


# -- bad input on the producer side ----------------------------------------------

def one_line(err: pytest.ExceptionInfo, argument: str) -> None:
    text = str(err.value)
    assert "\n" not in text and f"Argument {argument!r}" in text


@pytest.mark.parametrize("flow", ["momentum:-1", "momentum:-1/2", "momentum:0.5",
                                  "momentum:abc", "momentum:1/0", "momentum:", "adam",
                                  "metric:matrix", Fraction(1, 2), 0.5],
                         ids=["negative", "negative-fraction", "decimal", "word",
                              "zero-denominator", "empty", "unknown-kind", "matrix-text",
                              "Fraction", "float"])
def test_a_bad_flow_is_an_input_error(flow):
    for fn in (exactcl.count, certify):
        with pytest.raises(InputError) as err:
            fn(linear([1, 1, 1]), flow=flow)
        one_line(err, "flow")


U, V = sympy.symbols("W1_0_0 W2_0_0")
BAD_METRICS = {
    "wrong shape": sympy.eye(3),
    "not a matrix": [[1, 0], [0, 1]],
    "not polynomial": sympy.Matrix([[1 / U, 0], [0, 1]]),
    "a float": sympy.Matrix([[0.5, 0], [0, 1]]),
    "zero": sympy.zeros(2, 2),
    "singular everywhere": sympy.Matrix([[U, U * V], [1, V]]),
    "rank one constant": sympy.ones(2, 2),
}


@pytest.mark.parametrize("metric", BAD_METRICS.values(), ids=list(BAD_METRICS))
def test_a_bad_metric_is_an_input_error(metric):
    for fn in (exactcl.count, certify):
        with pytest.raises(InputError) as err:
            fn(linear([1, 1, 1]), metric=metric)
        one_line(err, "metric")


def test_a_metric_singular_only_somewhere_is_taken():
    # det = W1_0_0: singular on a hyperplane only
    result = exactcl.count(linear([1, 1, 1]), metric=sympy.Matrix([[U, 0], [0, 1]]))
    assert result.parameters == 2


def test_a_flow_the_model_cannot_take_is_an_input_error():
    with pytest.raises(InputError) as err:
        exactcl.count(linear([1, 1, 1]), flow="metric:diag:W9")
    one_line(err, "flow")
    u, u_dot = sympy.symbols("u u_dot")
    with pytest.raises(InputError) as err:
        exactcl.count(exactcl.from_phi([u * u_dot], [u, u_dot]), flow="momentum:1")
    one_line(err, "model")
    flowed = apply_flow(linear([1, 1, 1]), "momentum:1")
    for fn in (exactcl.count, certify):
        with pytest.raises(InputError) as err:
            fn(flowed, flow="nesterov")
        one_line(err, "flow")


def test_the_file_of_a_flow_is_canonical_json(tmp_path):
    path = tmp_path / "c.json"
    cert, _ = certify(nmf(2, 2, 1), path, flow="momentum:1/2", reproducible=True)
    text = path.read_text()
    assert text == certformat.dumps(json.loads(text))
    assert verify_certificate(certformat.loads(text), rng=random.Random(2)).ok

"""The mirror momentum of NMF (``--flow mirror-momentum:TAU``, Keep the Momentum,
ICML 2024): theta'' + tau theta' = -diag(tau theta + theta') grad E, beside
``momentum:TAU+metric:diag`` (theta'' + tau theta' = -diag(theta) grad E).

Expected values come from SymPy alone (tests/sympy_nmf_flows.py, run with
SYMPY_GROUND_TYPES=python in a process of its own): the fields written by
hand, a Lie rank at a random point and, for the second flow, the two laws
per rank-one component written by hand.
"""

from __future__ import annotations

import copy
import json
import os
import random
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import sympy

import exactcl
from exactcl.certificates.build import certify
from exactcl.errors import InputError
from exactcl.interfaces.cli import main
from exactcl.kernel import certformat
from exactcl.kernel.verifier import verify_text
from exactcl.models.builtin import linear
from exactcl.models.flows import Flow, apply_flow, icnn, nmf, parse_flow
from exactcl.models.symbolic import poly_to_string

ROOT = Path(__file__).resolve().parents[1]

#: (n, m, r, tau, kind): kind "mirror" is mirror-momentum:TAU, "diag" momentum:TAU+metric:diag
CASES = [(1, 1, 1, "1/2", "mirror"), (2, 1, 1, "2", "mirror"), (2, 2, 1, "0", "mirror"),
         (2, 2, 1, "1", "mirror"), (2, 2, 2, "1/2", "mirror"),
         (2, 2, 1, "1", "diag"), (3, 2, 1, "0", "diag"), (2, 2, 2, "1/2", "diag")]


def flow_text(tau: str, kind: str) -> str:
    return f"mirror-momentum:{tau}" if kind == "mirror" else f"momentum:{tau}+metric:diag"


def field_strings(model) -> list[list[str]]:
    zero = model.ring.zero()
    return [[poly_to_string(X.as_dict.get(k, zero), model.ring) for k in range(model.ring.nvars)]
            for X in model.generators]


@pytest.fixture(scope="module")
def sympy_answers() -> list[dict]:
    """SymPy's figures for CASES, given exactcl's fields to compare with its own."""
    request = {"cases": [[n, m, r, tau, kind,
                          field_strings(apply_flow(nmf(n, m, r), flow_text(tau, kind)))]
                         for n, m, r, tau, kind in CASES]}
    env = dict(os.environ, SYMPY_GROUND_TYPES="python")
    proc = subprocess.run([sys.executable, "-m", "tests.sympy_nmf_flows"],
                          input=json.dumps(request), capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("k", range(len(CASES)),
                         ids=[f"nmf-{n}-{m}-{r}-{kind}-tau{tau}" for n, m, r, tau, kind in CASES])
def test_counts_on_nmf_agree_with_sympy(k, sympy_answers):
    n, m, r, tau, kind = CASES[k]
    theirs = sympy_answers[k]
    assert theirs["fields_equal"], "exactcl's fields are not the ones written by hand"
    result = exactcl.count(nmf(n, m, r), flow=flow_text(tau, kind))
    assert result.parameters == theirs["dim"] == 2 * (n + m) * r + 1
    # SymPy's own sandwich: laws written by hand (a lower bound) meet dim - rank
    assert theirs["laws"] + theirs["rank"] == theirs["dim"]
    want = 0 if kind == "mirror" else 2 * r
    assert theirs["laws"] == want
    assert (result.laws, result.proof) == (want, "sandwich")


def test_the_existing_flow_keeps_its_name_and_its_2r_laws():
    r = exactcl.count(nmf(2, 3, 2), flow="momentum:1")  # the model's own metric, as before
    assert r.model == "nmf:2,3,2 under momentum tau=1, metric diag(theta)"
    assert (r.laws, r.proof) == (4, "sandwich")
    assert parse_flow("momentum:1+metric:diag") == Flow("momentum", Fraction(1), ("diag", ()))


def test_the_data_fields_carry_the_velocity():
    """nmf:1,1,1, phi = U V: Z = (0, 0, 0, (tau U + U') V, (tau V + V') U)."""
    m = apply_flow(nmf(1, 1, 1), "mirror-momentum:3")
    assert m.parameters == ("s", "U0_0", "V0_0", "U0_0_dot", "V0_0_dot")
    s, u, v, du, dv = m.ring.gens
    drift, z = m.generators
    assert drift.as_dict == {0: 3 * s, 1: du, 2: dv, 3: -3 * du, 4: -3 * dv}
    assert z.as_dict == {3: (3 * u + du) * v, 4: (3 * v + dv) * u}
    # the other flow: (0, 0, 0, U V, V U)
    assert apply_flow(nmf(1, 1, 1), "momentum:3").generators[1].as_dict == {3: u * v, 4: v * u}


def test_names_texts_and_specs():
    flow = parse_flow("mirror-momentum:2/4")
    assert (flow.kind, flow.tau, flow.metric, flow.spec) == ("mirror-momentum", Fraction(1, 2),
                                                             None, "mirror-momentum:1/2")
    assert flow.lifted and flow.time() == "exp(1/2*t)"
    assert parse_flow("mirror-momentum:0").time() == "t"
    for text in ("mirror-momentum:1/2", "mirror-momentum:0+metric:diag",
                 "mirror-momentum:2+metric:diag:U"):
        assert parse_flow(parse_flow(text).spec) == parse_flow(text)
    assert exactcl.count(nmf(2, 2, 1), flow="mirror-momentum:1").model == \
        "nmf:2,2,1 under mirror momentum tau=1, diag(tau theta + theta')"
    # on some tensors; a model with a geometry of its own takes it on its tensors
    r = exactcl.count(nmf(2, 2, 1), flow="mirror-momentum:1+metric:diag:U")
    assert r.model.endswith("diag(tau theta + theta') on U")
    assert exactcl.count(icnn([2, 2, 1]), flow="mirror-momentum:1").model == \
        "icnn:2,2,1 under mirror momentum tau=1, diag(tau theta + theta') on W2"


def test_the_laws_printed_under_a_flow_without_laws():
    r = exactcl.count(nmf(2, 2, 1), flow="mirror-momentum:1/2")
    assert r.laws == 0 and r.laws_strings() == []


# -- certificates and the verifier ---------------------------------------------------

def verify(cert: dict, **options):
    return verify_text(certformat.dumps(cert), rng=random.Random(3), **options)


def failed(report) -> list[str]:
    return [c.claim for c in report.checks if not c.passed]


@pytest.fixture(scope="module")
def mirror_cert() -> dict:
    return certify(nmf(2, 2, 1), flow="mirror-momentum:1/2", reproducible=True)[0]


@pytest.fixture(scope="module")
def metric_cert() -> dict:
    return certify(nmf(2, 2, 1), flow="momentum:1/2", reproducible=True)[0]


def test_a_mirror_momentum_certificate_round_trips(mirror_cert, tmp_path):
    assert mirror_cert["model"]["flow"] == {"kind": "mirror-momentum", "tau": "1/2",
                                            "metric": {"kind": "diag", "tensors": []}}
    assert mirror_cert["claim"]["laws"] == 0
    report = verify(mirror_cert)
    assert report.status == "verified", report
    flow = next(c for c in report.checks if c.claim == "flow")
    assert "mirror momentum tau=1/2, diag(tau theta + theta') of nmf:2,2,1" in flow.detail
    path = tmp_path / "c.json"
    path.write_text(certformat.dumps(mirror_cert))
    assert exactcl.verify(path).ok


def _swap_kind(cert: dict, kind: str, name: str | None = None) -> dict:
    out = copy.deepcopy(cert)
    out["model"]["flow"]["kind"] = kind
    if name is not None:  # the name the other kind would give, so that only the fields differ
        out["model"]["name"] = name
    return out


def test_the_kind_swapped_is_rejected_by_the_flow_check(mirror_cert, metric_cert):
    for cert, kind, other in ((mirror_cert, "momentum", metric_cert),
                              (metric_cert, "mirror-momentum", mirror_cert)):
        bad = _swap_kind(cert, kind, other["model"]["name"])
        report = verify(bad, check_fingerprint=False)
        assert report.status == "false", report
        assert failed(report) == ["flow"], failed(report)
        assert "model fingerprint" in failed(verify(bad))
        # the kind swapped, the name kept: the name check fails too
        assert {"flow", "model name"} <= set(failed(verify(_swap_kind(cert, kind),
                                                           check_fingerprint=False)))


@pytest.mark.parametrize("change, where", [
    (lambda f: f.update(tau="1/1"), None),
    (lambda f: f["metric"].update(tensors=["U"]), None),
    (lambda f: f.pop("tau"), "no damping"),
    (lambda f: f.update(tau="-1/2"), "model.flow.tau"),
    (lambda f: f.pop("metric"), "holds no metric"),
    (lambda f: f.update(metric={"kind": "matrix", "rows": [[[]] * 4] * 4}), "diagonal metric"),
], ids=["tau changed", "tensors changed", "no tau", "negative tau", "no metric",
        "matrix metric"])
def test_a_changed_mirror_flow_section_is_false_or_unreadable(change, where, mirror_cert):
    bad = copy.deepcopy(mirror_cert)
    change(bad["model"]["flow"])
    report = verify(bad, check_fingerprint=False)
    if where is None:
        assert report.status == "false" and "flow" in failed(report), report
    else:
        assert report.status == "unreadable" and where in report.summary, report


# -- bad input ------------------------------------------------------------------------

@pytest.mark.parametrize("flow, message", [
    ("mirror-momentum:-1", "must give mirror-momentum a damping tau >= 0, not -1"),
    ("mirror-momentum:-1/2", "damping tau >= 0, not -1/2"),
    ("mirror-momentum:0.5", "a decimal is not exact"),
    ("mirror-momentum", "rational damping tau >= 0 such as mirror-momentum:0"),
    ("mirror-momentum:+1", "TAU >= 0 unsigned"),
    ("mirror-momentum:1/0", "denominator 0"),
    ("mirror-momentum:1+nesterov", "must be a flow"),
    ("momentum:1+mirror-momentum:1", "must be a flow"),
    ("mirror-momentum:1+metric:diag:W9", "names the tensor 'W9'"),
    (0.5, "must be a flow"),
])
def test_a_bad_mirror_flow_is_refused_in_one_line(flow, message):
    for fn in (exactcl.count, certify):
        with pytest.raises(InputError) as err:
            fn(nmf(2, 2, 1), flow=flow)
        text = str(err.value)
        assert "\n" not in text and text.startswith("Argument 'flow'") and message in text, text


def test_a_matrix_metric_does_not_go_with_the_mirror_momentum():
    M = sympy.diag(*sympy.symbols(nmf(1, 1, 1).parameters))
    with pytest.raises(InputError, match="^Argument 'metric' is a matrix, but the mirror "
                                         "momentum's force is diag") as err:
        exactcl.count(nmf(1, 1, 1), flow="mirror-momentum:1", metric=M)
    assert "\n" not in str(err.value)


def test_a_model_already_under_a_flow_is_refused():
    flowed = apply_flow(nmf(1, 1, 1), "mirror-momentum:1")
    with pytest.raises(InputError, match="already under a flow"):
        exactcl.count(flowed, flow="mirror-momentum:1")


def test_any_model_takes_it_on_its_parameters():
    """The mirror geometry is defined for any parameters (as metric:diag is):
    a deep linear network is counted and certified under it."""
    cert, r = certify(linear([1, 2, 1]), flow="mirror-momentum:1", reproducible=True)
    assert r.model == "linear:1,2,1 under mirror momentum tau=1, diag(tau theta + theta')"
    assert verify(cert).ok


# -- the command line, sweeps and the proofs script -----------------------------------

def test_cli_counts_certifies_and_verifies(tmp_path, capsys):
    assert main(["count", "nmf:2,2,1", "--flow", "mirror-momentum:1"]) == 0
    out = capsys.readouterr().out
    assert "under mirror momentum tau=1, diag(tau theta + theta') (D = 9)" in out
    assert "laws        0   (certified: sandwich)" in out
    path = tmp_path / "c.json"
    assert main(["certify", "nmf:2,2,1", "--flow", "mirror-momentum:1/2", "-o", str(path)]) == 0
    assert main(["verify", str(path)]) == 0
    capsys.readouterr()
    assert main(["count", "nmf:2,2,1", "--flow", "mirror-momentum:0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'--flow'" in err and len(err.splitlines()) == 1, err


def test_a_sweep_config_takes_the_mirror_momentum(tmp_path):
    from exactcl.workflows.grid import load_config
    path = tmp_path / "g.toml"
    path.write_text('specs = ["nmf:2,2,1"]\n[sweep]\nflow = "mirror-momentum:1/2"\n')
    cases, _ = load_config(path)
    assert [c.id for c in cases] == ["nmf_2-2-1_mirror-momentum-1-2"]
    assert cases[0].model().name == "nmf:2,2,1 under mirror momentum tau=1/2, " \
                                    "diag(tau theta + theta')"


def test_the_proofs_script_reproduces_its_certificates():
    """proofs/nmf_momentum.py in check mode, every case: byte for byte and verified."""
    from exactcl.workflows.reproduce import load_script, run_claim
    module = load_script(ROOT / "proofs" / "nmf_momentum.py")
    report = run_claim(module.CLAIM_ID, module.TITLE, module.SOURCE, module.cases(),
                       data_dir=ROOT / "data", check=True, finding=module.finding)
    assert report.ok, [(o.case.name, o.file_status, o.verified) for o in report.outcomes]
    assert all(o.agrees is True and o.proof == "sandwich" for o in report.outcomes)
    assert len(report.outcomes) == 20


def test_no_torch_optimizer_is_taken_for_the_mirror_momentum():
    """torch's SGD runs the heavy ball, not this flow: the laws of a count
    under it are refused in one line, without the Nesterov remark."""
    torch = pytest.importorskip("torch")
    from exactcl.torch.bridge import from_torch
    module = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False),
                                 torch.nn.Linear(2, 1, bias=False)).double()
    tm = from_torch(module, (2,))
    with pytest.raises(InputError) as err:
        tm.laws(tm.count(flow="mirror-momentum:1"),
                optimizer=torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9))
    text = str(err.value)
    assert "no torch optimizer runs that flow." in text and "Nesterov" not in text, text
    assert "\n" not in text


def test_the_size_estimate_bounds_the_fields():
    """Each term of a generator becomes two (tau theta_v X + v_v X), plus the drift."""
    from exactcl.models.flows import flow_size
    model = nmf(2, 2, 1)
    fields, terms = flow_size(model, parse_flow("mirror-momentum:1"))
    flowed = apply_flow(model, "mirror-momentum:1")
    assert fields == len(flowed.generators) == 5
    assert terms == 2 * 8 + 9 == sum(X.size for X in flowed.generators)

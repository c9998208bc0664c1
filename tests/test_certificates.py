"""Certificates: certify then verify round trips, canonical bytes, atomic
writes, the command line, and the verifier's isolation from the producer."""

import json
import os
import pathlib
import random
import subprocess
import sys

import pytest
import sympy

import exactcl
from exactcl import from_fields, from_phi, linear, product, relu
from exactcl.certificates.build import certify
from exactcl.interfaces.cli import main
from exactcl.kernel.certformat import dumps, loads
from exactcl.kernel.verifier import verify_certificate

x, y, z, w, u, v1, v2 = sympy.symbols("x y z w u v1 v2")

MODELS = [
    ("product:3", lambda: product(3), 2, "sandwich"),
    ("two-layer linear", lambda: linear([2, 2, 2]), 3, "sandwich"),
    ("two-layer linear r > n + m", lambda: linear([1, 3, 1]), 5, "sandwich"),
    ("deep linear", lambda: linear([2, 3, 3, 2]), 12, "sandwich"),
    ("deep linear, scalar output", lambda: linear([1, 2, 2, 1]), 7, "closure"),
    ("relu", lambda: relu([3, 4, 5]), 4, "sandwich"),
    ("relu-bias", lambda: relu([2, 3, 3, 2], bias=True), 6, "sandwich"),
    ("custom phi", lambda: from_phi([u * v1, u * v2], [u, v1, v2]), 1, "sandwich"),
    ("single field", lambda: from_fields([[y * z + w, x**2 - z, x * y * w + 1, z**3]],
                                         [x, y, z, w]), 3, "closure"),
]


@pytest.mark.parametrize("name,make,laws,proof", MODELS, ids=[m[0] for m in MODELS])
@pytest.mark.parametrize("exact", [False, True], ids=["mod-p", "over-Q"])
def test_certify_then_verify(name, make, laws, proof, exact):
    cert, result = certify(make(), reproducible=True)
    assert (cert["claim"]["laws"], cert["claim"]["proof"]) == (laws, proof)
    report = verify_certificate(loads(dumps(cert)), exact=exact, rng=random.Random(1))
    assert report.status == "verified", str(report)
    assert report.exit_code == 0
    assert f"exactly {laws} independent" in report.summary


def test_monte_carlo_closure_round_trip():
    model = from_fields([[y * z + w, x**2 - z, x * y * w + 1, z**3]], [x, y, z, w])
    cert, _ = certify(model, reproducible=True, closure="monte-carlo")
    assert cert["closure"]["mode"] == "monte-carlo"
    report = verify_certificate(cert, rng=random.Random(2))
    assert report.ok
    assert any("monte-carlo" in c.detail for c in report.checks)


def test_same_input_gives_the_same_bytes():
    a, _ = certify(relu([2, 3, 2], bias=True), reproducible=True)
    b, _ = certify(relu([2, 3, 2], bias=True), reproducible=True)
    assert dumps(a) == dumps(b)
    assert json.loads(dumps(a)) == a
    timed, _ = certify(relu([2, 3, 2], bias=True))
    assert isinstance(timed["seconds"], float)


def test_certificate_is_written_atomically(tmp_path, monkeypatch):
    target = tmp_path / "c.json"
    certify(product(3), target, reproducible=True)
    first = target.read_bytes()
    assert oct(target.stat().st_mode & 0o777) != "0o600"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        certify(linear([2, 2, 2]), target, reproducible=True)
    assert target.read_bytes() == first  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]  # no temporary left


def test_cli_certify_and_verify(tmp_path, capsys):
    path = tmp_path / "l.json"
    assert main(["certify", "linear:2,2,2", "-o", str(path), "--reproducible"]) == 0
    assert "certificate written" in capsys.readouterr().out
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "VERIFIED: exactly 3 independent conservation laws" in out
    assert out.count("  passed  ") >= 6
    assert main(["verify", "--exact", "--json", str(path)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == "verified"

    cert = json.loads(path.read_text())
    cert["claim"]["laws"] = 4
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(cert))
    assert main(["verify", str(bad), "--no-fingerprint"]) == 1
    assert "FAILED  count" in capsys.readouterr().out
    junk = tmp_path / "junk.json"
    junk.write_text("{")
    assert main(["verify", str(path), str(bad), str(junk)]) == 3
    assert main(["verify", str(tmp_path / "missing.json")]) == 3


def test_cli_certify_refuses_a_missing_folder(tmp_path, capsys):
    assert main(["certify", "product:2", "-o", str(tmp_path / "no" / "c.json")]) == 2
    assert "'--output'" in capsys.readouterr().err


def test_verify_api_reads_files(tmp_path):
    path = tmp_path / "p.json"
    exactcl.certify(product(4), path, reproducible=True)
    report = exactcl.verify(path)
    assert report.ok and "3 independent" in report.summary
    assert str(path) in str(report)


def test_verifier_imports_neither_the_producer_nor_sympy():
    code = (
        "import sys, exactcl.kernel.verifier\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sympy', 'networkx')"
        " or (m.startswith('exactcl.')"
        " and m.split('.')[1] not in ('kernel', 'errors', 'version')))\n"
        "print(','.join(bad))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert proc.stdout.strip() == ""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, exactcl.kernel.verifier; print(sorted(m for m in "
         "sys.modules if m.startswith('exactcl.')))"],
        capture_output=True, text=True, check=True, timeout=60).stdout
    # the kernel, and the public path of its exceptions (the list printed by the child)
    assert all(m.startswith("exactcl.kernel") or m in ("exactcl.errors", "exactcl.version")
               for m in eval(loaded))


def test_verify_reports_a_claim_made_false_by_editing_a_law(tmp_path):
    cert, _ = certify(linear([2, 2, 2]), reproducible=True)
    cert["laws"]["polynomials"][0][0][1] = "2/1"
    report = verify_certificate(cert, check_fingerprint=False, rng=random.Random(0))
    assert report.status == "false"
    failed = [c.claim for c in report.checks if not c.passed]
    assert "law identities" in failed


def test_public_functions_survive_importing_every_submodule():
    import importlib
    import pkgutil
    for info in pkgutil.iter_modules(exactcl.__path__):
        importlib.import_module(f"exactcl.{info.name}")
    for name in ("count", "verify", "certify", "laws", "linear", "relu", "product", "grow",
                 "find_laws", "bracket", "from_phi", "from_fields"):
        assert callable(getattr(exactcl, name)), name


def test_work_limit_bounds_the_recomputed_words(tmp_path, capsys):
    cert, _ = certify(linear([2, 2, 2]), reproducible=True)
    assert cert["lie"]["words"], "needs a bracket word"
    tight = verify_certificate(cert, rng=random.Random(0), work_limit=1e-9)
    assert tight.status == "unreadable" and "work limit" in tight.summary
    assert verify_certificate(cert, rng=random.Random(0), work_limit=1.0).ok
    path = tmp_path / "c.json"
    path.write_text(dumps(cert))
    assert main(["verify", str(path), "--work-limit", "1e-9"]) == 3
    assert main(["verify", str(path), "--work-limit", "0"]) == 2
    assert "'--work-limit'" in capsys.readouterr().err


def test_bounds_only_certificate_verifies(tmp_path):
    # growth stopped at depth 0 cannot close the sandwich and the closure check fails:
    # the certificate claims bounds only, without the failed check, and verifies
    from exactcl.certificates.build import certify
    from exactcl.kernel.verifier import verify
    from exactcl.models.builtin import linear
    path = tmp_path / "bounds.json"
    cert, result = certify(linear([2, 2, 2]), path, reproducible=True, max_depth=0)
    assert result.proof == "bounds only" and result.closure is not None
    assert cert["closure"] is None and cert["claim"]["status"] == "bounds"
    report = verify(path)
    assert report.ok, str(report)


def test_a_report_has_one_verdict():
    from exactcl.kernel.verifier import Check, Report
    failed = Check("sweep table", False, "laws differ")
    with pytest.raises(ValueError, match="cannot be 'verified'"):
        Report("c.json", "verified", (Check("count", True, "3 laws"), failed), "VERIFIED: 3")
    ok = Report("c.json", "verified", (Check("count", True, "3 laws"),), "VERIFIED: 3 laws")
    assert ok.with_check(Check("sweep table", True, "same claim")).summary == "VERIFIED: 3 laws"
    bad = ok.with_check(failed)
    assert (bad.status, bad.exit_code, bad.summary) == (
        "false", 1, "NOT VERIFIED: false claim(s): sweep table")
    assert str(bad).splitlines()[0] == "c.json: FALSE"
    unreadable = Report("c.json", "unreadable", summary="not JSON").with_check(failed)
    assert (unreadable.status, unreadable.summary) == ("unreadable", "not JSON")


# ------------------------------------------------------------------ schema version 2

FIXTURES = pathlib.Path(__file__).resolve().parent / "data"


def test_schema_2_round_trip_of_an_expanded_count():
    """A network counted on expanded fields: the model section holds its program
    (no phi), the lie, laws, claim and closure sections are those version 1 wrote
    (the committed version-1 fixture) but for the two new keys."""
    cert, result = certify(linear([1, 2, 2, 1]), reproducible=True)
    assert result.engine == "expanded" and cert["version"] == 2
    assert set(cert["model"]) == {"name", "variables", "program", "fingerprint"}
    assert cert["model"]["program"] == [["linear", 1, 2, False], ["linear", 2, 2, False],
                                        ["linear", 2, 1, False]]
    assert cert["lie"]["generators"] == {"kind": "components"}
    assert cert["laws"]["identities"] == {"mode": "exact"}
    old = json.loads((FIXTURES / "v1_linear_1_2_2_1.json").read_text())
    assert old["version"] == 1
    new = loads(dumps(cert))
    del new["lie"]["generators"], new["laws"]["identities"]
    for key in ("claim", "lie", "laws", "closure"):
        assert dumps(new[key]) == dumps(old[key]), key
    report = verify_certificate(loads(dumps(cert)), rng=random.Random(3))
    assert report.ok, str(report)
    assert "expanded over Q" in next(c.detail for c in report.checks if c.claim == "model")
    assert "exactly over Q" in next(c.detail for c in report.checks
                                    if c.claim == "law identities")


def test_schema_2_round_trip_of_a_program_count(tmp_path):
    """linear:8,8,8,8,8,8 runs on its program: certified and written without
    expanding phi, verified by evaluation with the law identities by Monte
    Carlo and their error bound in the report."""
    model = linear([8] * 6)
    path = tmp_path / "deep.json"
    cert, result = certify(model, path, reproducible=True)
    assert result.engine == "program" and not model.expanded
    assert "phi" not in cert["model"] and cert["model"]["program"][0] == ["linear", 8, 8, False]
    assert cert["lie"]["generators"] == {"kind": "components"}
    ids = cert["laws"]["identities"]
    assert ids["mode"] == "monte-carlo" and ids["rounds"] == 2 and cert["closure"] is None
    assert ids == result.identities.as_dict()
    assert loads(path.read_text()) == cert
    report = exactcl.verify(path, rng=random.Random(4))
    assert report.ok, str(report)
    detail = next(c.detail for c in report.checks if c.claim == "law identities")
    assert "checked by Monte Carlo at 2 random points" in detail and "error probability <= 2^-" \
        in detail
    assert "never expanded" in next(c.detail for c in report.checks if c.claim == "model")
    assert "law identities by Monte Carlo (2 rounds, error probability <= 2^-" in report.summary
    from exactcl.certificates.view import Certificate
    assert "Law identities: Monte Carlo, 2 rounds at random points modulo random primes, " \
        "error probability <= 2^-" in Certificate.from_dict(cert).summary()
    more = verify_certificate(cert, rng=random.Random(4), rounds=5)
    assert "at 5 random points" in next(c.detail for c in more.checks
                                        if c.claim == "law identities")
    flipped = json.loads(dumps(cert))
    term = flipped["laws"]["polynomials"][7][0]
    term[1] = "-" + term[1] if not term[1].startswith("-") else term[1][1:]
    report = verify_certificate(flipped, rng=random.Random(4))
    assert report.status == "false"
    assert [c.claim for c in report.checks if not c.passed][0] == "law identities"
    wider = json.loads(dumps(cert))
    wider["model"]["program"][-1][2] = 9
    assert verify_certificate(wider, rng=random.Random(4)).status == "unreadable"


@pytest.mark.parametrize("small", [True, False], ids=["expanded", "evaluated"])
def test_probe_fields_round_trip(monkeypatch, small):
    """relu:2,4,4,4,2 on the program engine has more components than 2 D: its
    words are in random probe fields. Verified with the generators expanded
    (identities exact) or, with the size switch at 0, entirely by evaluation."""
    from exactcl.kernel import rankcheck
    cert, result = certify(relu([2, 4, 4, 4, 2]), reproducible=True, engine="program")
    gen = cert["lie"]["generators"]
    assert gen == {"kind": "probes", "count": result.fields.count,
                   "family": result.fields.family}
    if not small:
        monkeypatch.setattr(rankcheck, "SMALL_TERMS", 0)
    report = verify_certificate(loads(dumps(cert)), rng=random.Random(5))
    assert report.ok, str(report)
    identities = next(c.detail for c in report.checks if c.claim == "law identities")
    assert ("exactly over Q" in identities) == small
    assert ("Monte Carlo" in identities) != small
    assert "probe fields of the family 'exactcl-cover-0'" in str(report)


def test_certificates_of_random_active_neurons_still_verify(monkeypatch):
    """Deep ReLU programs used to draw every active neuron after the first
    (family exactcl-probes-): their certificates verify as they were written."""
    from exactcl.engine import evaluation
    monkeypatch.setattr(evaluation, "probe_family", lambda relus, seed: f"exactcl-probes-{seed}")
    cert, result = certify(relu([2, 4, 4, 4, 2]), reproducible=True, engine="program")
    assert cert["lie"]["generators"]["family"] == "exactcl-probes-0"
    monkeypatch.undo()
    report = verify_certificate(loads(dumps(cert)), rng=random.Random(5))
    assert report.ok and "probe fields of the family 'exactcl-probes-0'" in str(report)


@pytest.mark.parametrize("name", ["v1_linear_1_2_2_1.json", "v1_relu_bias_2_2_2.json"])
def test_version_1_files_still_verify(name):
    path = FIXTURES / name
    cert = loads(path.read_text())
    assert cert["version"] == 1 and "phi" in cert["model"]
    report = exactcl.verify(path, rng=random.Random(6))
    assert report.ok, str(report)
    assert verify_certificate(cert, rng=random.Random(6), exact=True).ok
    cert["claim"]["laws"] += 1
    assert verify_certificate(cert, rng=random.Random(6)).status == "false"


def test_version_1_files_hold_no_version_2_keys():
    from exactcl.errors import CertificateFormatError
    old = loads((FIXTURES / "v1_relu_bias_2_2_2.json").read_text())
    with pytest.raises(CertificateFormatError, match="unknown key"):
        loads(json.dumps(dict(old, lie=dict(old["lie"], generators={"kind": "components"}))))
    new, _ = certify(relu([2, 2, 2], bias=True), reproducible=True)
    for version, message in ((1, "unknown key"), (3, "must hold a 'subset' section"),
                             (4, "versions 1, 2, 3")):
        with pytest.raises(CertificateFormatError, match=message):
            loads(json.dumps(dict(new, version=version)))
    without = json.loads(dumps(new))
    del without["laws"]["identities"]
    with pytest.raises(CertificateFormatError, match="laws lacks the key"):
        loads(json.dumps(without))


@pytest.mark.parametrize("make", [lambda: linear([2, 3, 2]), lambda: linear([1, 2, 3, 2]),
                                  lambda: relu([2, 3, 2], bias=True), lambda: relu([2, 2, 3, 2]),
                                  lambda: relu([1, 2, 2, 1], bias=True)],
                         ids=["linear:2,3,2", "linear:1,2,3,2", "relu-bias:2,3,2",
                              "relu:2,2,3,2", "relu-bias:1,2,2,1"])
def test_the_verifier_expands_a_program_as_the_builders_do(make):
    """Word ids name generators by position: the verifier's expansion of a
    program gives the builders' phi, component by component, in order."""
    from exactcl.kernel.programs import program_layout
    from exactcl.kernel.rebuild import program_phi
    from exactcl.kernel.rings import Ring
    model = make()
    section = certify(model, reproducible=True)[0]["model"]
    ring = Ring(tuple(section["variables"]))
    phi = program_phi(program_layout(section), ring)
    assert [p.str() for p in phi] == [p.str() for p in model.phi]

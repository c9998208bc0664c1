"""The model's name is checked: a certificate named by a built-in spec must hold
that spec's model.

The verifier rebuilds phi from a built-in name (exactcl.kernel.namecheck, its own
builder) and compares it with the file's model; a custom name is reported as
unchecked, and the display of a certificate never passes a name off as checked.
References here: exactcl.models.builtin (the producer's builder) for the rebuilt phi,
and certificates edited by hand with their fingerprint recomputed, so that
only the name check can catch them.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter

import pytest

import exactcl
from exactcl.certificates.build import certify
from exactcl.certificates.view import Certificate
from exactcl.errors import CertificateFormatError
from exactcl.kernel import certformat
from exactcl.kernel.namecheck import check_name, is_builtin_name, named_model, parse_name
from exactcl.kernel.rings import Ring, poly_terms
from exactcl.kernel.verifier import verify_certificate, verify_text
from exactcl.models.builtin import from_polynomials, linear, product, relu
from exactcl.models.specs import parse_spec

SPECS = ["linear:1,1", "linear:2,3", "linear:2,3,2", "linear:2,2,2,2", "linear:1,2,3,1",
         "linear:3,1,2", "relu:2,2", "relu:2,3,2", "relu:3,2,2,2", "relu:1,1,1,1",
         "relu-bias:2,2", "relu-bias:2,3,2", "relu-bias:2,3,3,2", "relu-bias:1,2,1,2",
         "product:1", "product:4"]


def refit(cert: dict) -> dict:
    """The fingerprint recomputed after an edit of the model section."""
    cert["model"]["fingerprint"] = certformat.fingerprint(cert["model"])
    return cert


def verified(cert: dict, **options):
    options.setdefault("rng", random.Random(7))
    return verify_text(certformat.dumps(cert), **options)


def failed(report) -> list[str]:
    return [c.claim for c in report.checks if not c.passed]


def run_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exactcl", *argv], capture_output=True,
                          text=True, timeout=120, check=False)


def as_phi(model):
    """The same network given by its phi under its built-in name, as version 1
    files hold it (certify writes a network's program): the name check then
    compares phi."""
    return from_polynomials(model.ring, model.phi, name=model.name)


@pytest.fixture(scope="module")
def honest() -> dict[str, dict]:
    out = {}
    for name, model in (("linear:2,2,2", as_phi(linear([2, 2, 2]))),
                        ("relu-bias:2,3,2", as_phi(relu([2, 3, 2], bias=True))),
                        ("product:3", product(3))):
        out[name], _ = certify(model, reproducible=True)
    return out


# ------------------------------------------------------------- the independent builder

@pytest.mark.parametrize("spec", SPECS)
def test_rebuilt_phi_is_the_producers(spec):
    """namecheck's builder and exactcl.models.builtin give the same variables, in order,
    and the same components of phi (as a multiset)."""
    model = parse_spec(spec)
    names, phi = named_model(*parse_name(spec))
    assert names == list(model.parameters)
    assert Counter(phi) == Counter(tuple(poly_terms(p)) for p in model.phi)


@pytest.mark.parametrize("change,expected", [
    pytest.param(lambda c: c["model"].update(name="relu:2,2,2"),
                 "layer 1 of relu:2,2,2 is ['relu']", id="same-D-other-family"),
    pytest.param(lambda c: c["model"].update(name="product:8"),
                 "product:8 is given by phi; the file's model is a program of layers",
                 id="product-name"),
    pytest.param(lambda c: c["model"].update(name="relu-bias:2,2,2"),
                 "relu-bias:2,2,2 has 10 parameters; the file's model has 8", id="bias-name"),
])
def test_a_program_under_another_builtin_name_fails(change, expected):
    """A network's program is compared layer by layer with the layers its name
    stands for (the variables are the program's: the file format checks them)."""
    cert, _ = certify(linear([2, 2, 2]), reproducible=True)
    assert "program" in cert["model"] and "phi" not in cert["model"]
    change(cert)
    refit(cert)
    report = verified(cert)
    assert report.status == "false" and "model name" in failed(report), str(report)
    (line,) = [c for c in report.checks if c.claim == "model name"]
    assert expected in line.detail, line.detail


def test_a_program_name_is_checked_without_building_phi(monkeypatch):
    """The name of a program is checked from the layers: phi is never built."""
    import exactcl.kernel.namecheck as namecheck
    cert, _ = certify(relu([2, 3, 3, 2], bias=True), reproducible=True)
    monkeypatch.setattr(namecheck, "named_model", None)
    assert check_name(cert["model"]) == (
        True, "relu-bias:2,3,3,2: the layers rebuilt from the name are the program in the "
              "file (5 layers, 3 linear)")


@pytest.mark.parametrize("spec", SPECS)
def test_every_honest_builtin_certificate_passes_the_name_check(spec):
    cert, _ = certify(parse_spec(spec), reproducible=True)
    ok, detail = check_name(cert["model"])
    assert ok, detail
    report = verified(cert)
    assert report.ok, str(report)
    (line,) = [c for c in report.checks if c.claim == "model name"]
    assert line.passed and "rebuilt from the name" in line.detail


def test_the_name_check_imports_only_the_file_format_and_the_layer_rules():
    code = ("import sys, exactcl.kernel.namecheck\n"
            "print(sorted(m for m in sys.modules if m.startswith('exactcl.')))\n")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60).stdout
    layers = {m for m in eval(loaded) if m.startswith("exactcl.kernel.layers")}
    assert "exactcl.kernel.layers.conv" in layers  # how a name's layers are read
    assert set(eval(loaded)) - layers <= {
        "exactcl.errors", "exactcl.version", "exactcl.kernel", "exactcl.kernel.errors",
        "exactcl.kernel.rings",
        "exactcl.kernel.fields", "exactcl.kernel.certformat", "exactcl.kernel.budget",
        "exactcl.kernel.namecheck", "exactcl.kernel.evaluator", "exactcl.kernel.blocks",
            "exactcl.kernel.densemod",
        "exactcl.kernel.reading", "exactcl.kernel.programs"}


def test_names_that_claim_a_family():
    assert [is_builtin_name(n) for n in ("linear:2,2", "relu:x", "relu-bias:", "product:3",
                                         "uv", "Linear:2,2", "linear", "attention d=2")] \
        == [True, True, True, True, False, False, False, False]
    assert parse_name("relu-bias:2,3,3,2") == ("relu-bias", (2, 3, 3, 2))
    for bad in ("linear:2", "linear:2,,2", "linear: 2,2", "linear:2,2 ", "linear:0,2",
                "linear:02,2", "product:2,2", "product:", "relu:+2,2", "relu:2.0,2"):
        assert parse_name(bad) is None, bad


# ------------------------------------------------------------- the brief's two files

def test_a_builtin_name_over_another_model_fails_through_the_cli(honest, tmp_path):
    """The model of linear:2,2,2 labelled relu-bias:2,3,3,2, fingerprint recomputed:
    verify exits 1 naming the model name, and the display does not vouch for
    the name."""
    cert = refit(json.loads(json.dumps(honest["linear:2,2,2"])))
    cert["model"]["name"] = "relu-bias:2,3,3,2"
    refit(cert)
    path = tmp_path / "renamed.json"
    path.write_text(certformat.dumps(cert))
    proc = run_cli("verify", str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED  model name: relu-bias:2,3,3,2 has 27 parameters; the file's model has 8" \
        in proc.stdout
    assert "passed  model fingerprint" in proc.stdout
    assert proc.stdout.rstrip().endswith("NOT VERIFIED: false claim(s): model name")
    shown = Certificate.load(path)
    assert shown.summary().startswith("Certificate of relu-bias:2,3,3,2 (D = 8; name not "
                                      "checked until verified): claims exactly 3 ")
    assert "(name not checked until verified)" in repr(shown)
    assert "name not checked until verified" in shown._repr_markdown_().splitlines()[0]


def test_a_phi_coefficient_changed_fails_through_the_cli(honest, tmp_path):
    """relu-bias:2,3,2 with one path's weight doubled keeps its Lie algebra and its
    laws (so every other check passes), but it is not the model its name says."""
    cert = json.loads(json.dumps(honest["relu-bias:2,3,2"]))
    cert["model"]["phi"][4][0][1] = "2/1"
    refit(cert)
    path = tmp_path / "scaled.json"
    path.write_text(certformat.dumps(cert))
    proc = run_cli("verify", str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("FAILED  model name: phi[4] of the file is not a component of relu-bias:2,3,2's "
            "phi (rebuilt from the name)") in proc.stdout
    others = [line for line in proc.stdout.splitlines()[1:-1] if "model name" not in line]
    assert others and all(line.startswith("  passed") for line in others), proc.stdout


# ------------------------------------------------------------------------ other cases

@pytest.mark.parametrize("change,expected", [
    pytest.param(lambda c: c["model"].update(name="relu:2,2,2"),
                 "relu:2,2,2 has 8 components of phi; the file's model has 4",
                 id="same-D-other-family"),
    pytest.param(lambda c: c["model"].update(name="linear:2,2,2,1"),
                 "linear:2,2,2,1 has 10 parameters", id="other-widths"),
    pytest.param(lambda c: c["model"]["variables"].__setitem__(0, "W1_0_9"),
                 "variable 0 of linear:2,2,2 is W1_0_0; the file's model.variables[0] is "
                 "'W1_0_9'", id="variable-renamed"),
    pytest.param(lambda c: c["model"]["variables"].reverse(),
                 "variable 0 of linear:2,2,2 is W1_0_0; the file's model.variables[0] is "
                 "'W2_1_1'", id="variables-reversed"),
    pytest.param(lambda c: c["model"]["phi"].__setitem__(3, c["model"]["phi"][0]),
                 "phi[3] of the file is not a component", id="component-repeated"),
    pytest.param(lambda c: c["model"].update(name="linear:2, 2,2"),
                 "starts like a built-in spec but is not one in the form linear:W0,W1,...",
                 id="spaces"),
    pytest.param(lambda c: c["model"].update(name="linear:02,2,2"),
                 "is not one in the form", id="leading-zero"),
])
def test_a_wrong_model_under_a_builtin_name_fails(honest, change, expected):
    cert = json.loads(json.dumps(honest["linear:2,2,2"]))
    change(cert)
    refit(cert)
    report = verified(cert)
    assert report.status == "false" and "model name" in failed(report), str(report)
    (line,) = [c for c in report.checks if c.claim == "model name"]
    assert expected in line.detail, line.detail
    assert report.summary.startswith("NOT VERIFIED: false claim(s): model name")


def test_fields_under_a_builtin_name_fail():
    x = exactcl.from_fields([[1, 0], [0, 1]], ["x", "y"], name="product:2")
    cert, _ = certify(x, reproducible=True)
    report = verified(cert)
    assert failed(report) == ["model name"], str(report)
    assert "product:2 has 2 parameters" not in str(report)
    assert "is given by phi; the file's model is given by fields" in str(report)


@pytest.mark.parametrize("name,what", [("linear:128,128,128,128", "49,152 parameters"),
                                       ("relu:9,40,40,40,9", "5,184,000 components of phi"),
                                       ("linear:9,40,40,40,9", "5,184,000 terms of phi"),
                                       ("relu:1000000000,2", "parameters"),
                                       pytest.param("linear:" + ",".join(["1"] * 50_000),
                                                    "parameters", id="50000-widths")])
def test_a_name_too_large_for_any_file_is_unreadable(honest, tmp_path, name, what):
    """Refused from the widths alone (nothing is built): unreadable, naming
    model.name and the size."""
    cert = json.loads(json.dumps(honest["linear:2,2,2"]))
    cert["model"]["name"] = name
    refit(cert)
    report = verified(cert)
    assert report.status == "unreadable", str(report)[:500]
    assert report.summary.startswith("model.name '") and what in report.summary
    assert "\n" not in report.summary and len(report.summary) < 300
    with pytest.raises(CertificateFormatError, match="cannot be checked against the file"):
        check_name(cert["model"])
    path = tmp_path / "huge.json"
    path.write_text(certformat.dumps(cert))
    assert run_cli("verify", str(path)).returncode == 3


def test_a_large_name_over_a_small_phi_fails_before_building():
    """linear:1,47,47,47,47,1 has one component of phi with 4,879,681 terms: a file
    with its 6,721 variables and one short component fails on the count of terms
    (the model named is never built)."""
    names, _ = named_model("product", (6721,))
    section = {"name": "linear:1,47,47,47,47,1", "variables": names,
               "phi": [[[[[0, 1], [1, 1]], "1/1"]]]}
    ok, detail = check_name(section)
    assert not ok
    assert detail == "linear:1,47,47,47,47,1's phi has 4879681 terms; the file's has 1"


def test_a_custom_name_is_reported_unchecked(tmp_path):
    ring = Ring(("u", "v"))
    u, v = ring.gens
    cert, _ = certify(from_polynomials(ring, [u * v**2], name="phi = u v^2"), reproducible=True)
    report = verify_certificate(cert, rng=random.Random(1))
    assert report.ok, str(report)
    (line,) = [c for c in report.checks if c.claim == "model name"]
    assert line.passed
    assert line.detail == ("'phi = u v^2' is not a built-in spec: unchecked (the claims are "
                           "about the model in the file, whatever its name says)")
    assert report.summary.endswith("; name not checked: the model's name 'phi = u v^2' is "
                                   "not a built-in spec")
    assert "model name: 'phi = u v^2' is not a built-in spec: unchecked" in str(report)
    shown = Certificate.from_dict(cert)
    assert shown.name_note == "unchecked name"
    assert shown.summary().startswith("Certificate of phi = u v^2 (D = 2; unchecked name): ")
    assert repr(shown).startswith("Certificate('phi = u v^2' (unchecked name), D=2")
    assert "(D = 2; unchecked name)" in shown._repr_markdown_()
    builtin = verify_certificate(certify(product(2), reproducible=True)[0])
    assert builtin.ok and "not checked" not in builtin.summary

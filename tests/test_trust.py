"""No false claim verifies: files tampered as an attacker would, each of which
verified before, is FALSE or unreadable now.

* a sweep row backed by another model's certificate (record, claim summary,
  SHA-256 and tables all rewritten with the package's own table builder);
* repeated JSON keys anywhere (certificate, record, manifest), and
  non-finite numbers;
* flow certificates renamed, bases renamed (nmf:, icnn:), net: names.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from exactcl.certificates.build import certify
from exactcl.errors import CertificateFormatError
from exactcl.kernel.certformat import dumps
from exactcl.kernel.reading import strict_json
from exactcl.kernel.verifier import verify_text
from exactcl.models.builtin import linear
from exactcl.models.flows import icnn, nmf
from exactcl.workflows.grid import Case
from exactcl.workflows.sweep import claim_summary, sweep, write_tables

from .helpers import run_cli

GRID = [Case(spec="linear:2,2,2"), Case(spec="relu:2,2,2")]
FLOW_GRID = [Case(spec="linear:2,2,2", flow="momentum:1/2"),
             Case(spec="relu:2,2,2", flow="momentum:1/2")]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = {}
    for key, grid in (("gradient", GRID), ("momentum", FLOW_GRID)):
        folder = tmp_path_factory.mktemp(key) / "sweep"
        assert sweep(grid, folder, jobs=1, progress=False).ok
        out[key] = (folder, grid)
    return out


def _swap(folder: Path, grid, source: Case, victim: Case) -> None:
    """Back the victim's row with the source's certificate, as an attacker
    would: its claim summary and SHA-256 in the victim's record, and every
    table rebuilt with the sweep's own table builder."""
    text = (folder / "certificates" / f"{source.id}.json").read_text()
    (folder / "certificates" / f"{victim.id}.json").write_text(text)
    record_file = folder / "cases" / f"{victim.id}.json"
    record = json.loads(record_file.read_text())
    record.update(claim_summary(json.loads(text)),
                  sha256=hashlib.sha256(text.encode()).hexdigest())
    record_file.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    records = {c.id: json.loads((folder / "cases" / f"{c.id}.json").read_text()) for c in grid}
    write_tables(str(folder), grid, records)


@pytest.mark.parametrize("key", ["gradient", "momentum"])
def test_a_row_backed_by_another_models_certificate_is_false(swept, tmp_path, capsys, key):
    folder, grid = swept[key]
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    _swap(copy, grid, grid[0], grid[1])
    table = (copy / "results.md").read_text()
    assert "| relu:2,2,2" in table and "sandwich" in table  # the lie, written as the sweep does
    rc, out, _ = run_cli(capsys, "verify", str(copy), "-q")
    assert rc == 1, out
    assert "sweep case: the certificate is not of the record's case relu:2,2,2" in out, out
    assert "3 tables: 0 verified, 3 false" in out, out
    rc, out, _ = run_cli(capsys, "verify", str(folder), "-q")  # the honest folder still verifies
    assert rc == 0, out


def test_a_record_or_manifest_with_a_repeated_key_is_unreadable(swept, tmp_path, capsys):
    folder, grid = swept["gradient"]
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    record_file = copy / "cases" / f"{grid[1].id}.json"
    text = record_file.read_text()
    record_file.write_text(text.replace('"laws": 2,', '"laws": 3,\n "laws": 2,', 1))
    rc, out, _ = run_cli(capsys, "verify", str(copy), "-q")
    assert rc == 3 and "repeats the key 'laws'" in out, out
    copy2 = Path(shutil.copytree(folder, tmp_path / "copy2"))
    manifest = copy2 / "sweep.json"
    manifest.write_text(manifest.read_text().replace("{", '{"schema": "x", ', 1))
    rc, out, _ = run_cli(capsys, "verify", str(copy2), "-q")
    assert rc == 3 and "repeats the key 'schema'" in out, out


@pytest.fixture(scope="module")
def honest() -> str:
    return dumps(certify(linear([2, 2, 2]), reproducible=True)[0])


@pytest.mark.parametrize("before, after, key", [
    ('"laws": 3,', '"laws": 5,\n    "laws": 3,', "claim.laws"),
    ('"model": {', '"model": {"name": "relu:2,2,2"},\n  "model": {', "model"),
    ('"rank": 5', '"rank": 6, "rank": 5', "lie.rank"),
])
def test_a_certificate_with_a_repeated_key_is_unreadable(honest, before, after, key):
    assert before in honest
    report = verify_text(honest.replace(before, after, 1))
    assert report.status == "unreadable" and report.exit_code == 3
    assert f"repeats the key {key!r}" in report.summary, report.summary


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_not_json(honest, value):
    report = verify_text(honest.replace('"seconds": null', f'"seconds": {value}', 1))
    assert report.status == "unreadable" and "non-finite number" in report.summary
    with pytest.raises(CertificateFormatError, match="non-finite"):
        strict_json(f"[{value}]")


@pytest.mark.parametrize("build, new", [
    (lambda: nmf(2, 2, 1), "icnn:2,2,1"),
    (lambda: nmf(2, 2, 1), "nmf:2,1,1"),
    (lambda: icnn([2, 2, 1]), "icnn-bias:2,2,1"),
    (lambda: icnn([2, 2, 1]), "relu:2,2,1"),
])
def test_a_base_renamed_to_another_builtin_is_false(build, new):
    cert = certify(build(), reproducible=True)[0]
    base = cert["model"]["base"]["name"]
    text = dumps(cert).replace(json.dumps(base), json.dumps(new))
    report = verify_text(text, check_fingerprint=False)
    assert report.status == "false", str(report)
    failed = {c.claim for c in report.checks if not c.passed}
    assert failed and failed <= {"model name", "base model name"}, failed


def test_a_model_of_its_own_flow_under_gradient_is_checked_by_its_base_name():
    cert = certify(nmf(2, 2, 1), flow="gradient", reproducible=True)[0]
    assert cert["model"]["name"] == "nmf:2,2,1 under gradient" and "flow" not in cert["model"]
    report = verify_text(dumps(cert))
    assert report.ok and "name not checked" not in report.summary, report.summary
    for other in ("nmf:2,1,2 under gradient", "linear:2,2,2 under gradient", "uv under gradient"):
        cert2 = json.loads(dumps(cert))
        cert2["model"]["name"] = other
        assert verify_text(dumps(cert2), check_fingerprint=False).status == "false", other


def test_a_net_name_is_compared_with_the_program():
    from exactcl.layers.program import Conv1d, Linear, ReLU, Residual, net
    prog = net(Conv1d(1, 2, 2, stride=2, bias=True, length=7), ReLU(), Conv1d(2, 1, 2),
               Linear(2, 2), Residual(Linear(2, 2), ReLU(), Linear(2, 2, bias=True)))
    cert = certify(prog, reproducible=True)[0]
    name = cert["model"]["name"]
    assert name == prog.spec
    assert verify_text(dumps(cert)).ok
    for other in (name.replace("stride=2", "stride=1"), name.replace("Conv1d(2,1,2)",
                                                                     "Conv1d(2,1,2,bias)"),
                  name.replace("Residual(", "Residual(ReLU,", 1), name + ",ReLU"):
        cert2 = json.loads(dumps(cert))
        cert2["model"]["name"] = other
        report = verify_text(dumps(cert2), check_fingerprint=False)
        assert report.status == "false", other


@pytest.fixture
def claim_folder(tmp_path) -> Path:
    root = Path(__file__).parents[1] / "data" / "corollary_4_4_two_layer_linear"
    return Path(shutil.copytree(root, tmp_path / "claim"))


@pytest.mark.parametrize("change", ["count", "link", "model"])
def test_a_proofs_summary_row_must_show_the_certificate_it_links(claim_folder, capsys, change):
    summary = claim_folder / "SUMMARY.md"
    lines = summary.read_text().splitlines(keepends=True)
    rows = [k for k, line in enumerate(lines) if line.startswith("| `")]
    first, second = lines[rows[0]], lines[rows[1]]
    if change == "count":  # the exhibited laws of the first row
        cells = first.split(" | ")
        cells[5] = str(int(cells[5]) + 1)
        lines[rows[0]] = " | ".join(cells)
    elif change == "link":  # the first row backed by the second's certificate
        lines[rows[0]] = first.split(" | [")[0] + " | [" + second.split(" | [")[1]
    else:
        lines[rows[0]] = first.replace("`linear:", "`relu:", 1)
    summary.write_text("".join(lines))
    rc, out, _ = run_cli(capsys, "verify", str(claim_folder), "-q")
    assert rc == 1 and "FAILED  summary rows: line" in out, out
    assert "1 tables: 0 verified, 1 false" in out

"""proofs/ -> data/: the quick set of every claim reproduces its committed
certificates byte for byte (software versions aside) and verifies."""

import io
import pathlib
import re
import subprocess
import sys

import pytest

from exactcl.workflows.reproduce import find_root, load_script, reproduce_all

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "proofs").glob("*.py") if not p.name.startswith("_"))


def test_every_claim_has_a_script_data_and_a_summary():
    assert len(SCRIPTS) >= 5
    for path in SCRIPTS:
        module = load_script(path)
        assert module.CLAIM_ID == path.stem
        assert (ROOT / "data" / path.stem / "SUMMARY.md").exists()
        names = {c.name for c in module.cases()}
        committed = {p.stem for p in (ROOT / "data" / path.stem).glob("*.json")}
        assert names == committed, path.name
    readme = (ROOT / "proofs" / "README.md").read_text()
    for path in SCRIPTS:
        assert path.name in readme


def test_reproduce_quick_matches_the_committed_certificates():
    out = io.StringIO()
    assert reproduce_all(ROOT, quick=True, check=True, out=out) == 0, out.getvalue()
    text = out.getvalue()
    assert not re.search(r"; (DIFFERS|missing)\)", text)  # file status of each case
    assert "NOT VERIFIED" not in text
    assert "all claims reproduced and verified" in text


def test_a_script_runs_alone_in_check_mode():
    script = ROOT / "proofs" / "corollary_4_4_two_layer_relu.py"
    proc = subprocess.run([sys.executable, str(script), "--check", "--quick"],
                          capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "identical" in proc.stdout


def test_check_mode_notices_a_changed_certificate(tmp_path):
    import shutil
    for sub in ("proofs", "data"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    target = tmp_path / "data" / "theorem_3_3_analytic_examples" / "product_3.json"
    target.write_text(target.read_text().replace('"laws": 2', '"laws": 3'))
    out = io.StringIO()
    assert reproduce_all(tmp_path, quick=True, check=True, out=out) == 1
    assert "product:3 -> 2 laws (sandwich; verified; DIFFERS)" in out.getvalue()


def test_find_root_walks_up(tmp_path):
    assert find_root(ROOT / "proofs") == ROOT
    assert find_root(tmp_path) is None


@pytest.mark.slow
def test_reproduce_everything():
    out = io.StringIO()
    assert reproduce_all(ROOT, quick=False, check=True, out=out) == 0, out.getvalue()


def test_every_committed_certificate_verifies_within_the_default_budget():
    """A referee runs ``exactcl verify`` on data/ with no option: every file
    must be accepted by the budget meant for files of unknown origin."""
    import random

    from exactcl.kernel.budget import verify_budget
    from exactcl.kernel.verifier import verify
    files = sorted((ROOT / "data").rglob("*.json"))
    assert len(files) > 400
    rng = random.Random(5)
    for path in files:
        report = verify(path, rng=rng)
        assert report.ok, str(report)
        assert 0 < report.work <= verify_budget(path.stat().st_size), (path.name, report.work)

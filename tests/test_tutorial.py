"""The tutorial stays true: every command in docs/tutorial.md runs, prints
what the tutorial shows, and redraws the pictures it embeds."""

from __future__ import annotations

import doctest
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial.md"
#: RMS difference (0-255 grey levels) under which a redrawn picture matches
#: the embedded one: rough on purpose (fonts and anti-aliasing may differ).
PICTURE_TOLERANCE = 8
#: The section that needs the torch extra, run by its own test (skipped without torch).
TORCH_SECTION = "## 8. Laws along real training with PyTorch"


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, in order."""
    return re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S)


def commands_with_output(text: str) -> list[tuple[str, str | None]]:
    """Each bash command and the text block right after it (if any)."""
    found = blocks(text)
    out = []
    for i, (lang, body) in enumerate(found):
        if lang != "bash":
            continue
        expected = found[i + 1][1] if i + 1 < len(found) and found[i + 1][0] == "text" else None
        out.append((body.strip(), expected))
    return out


def normal(text: str) -> str:
    """Output with what varies between runs and machines replaced."""
    text = re.sub(r"\b\d{12,}\b", "<prime>", text)
    text = re.sub(r"\b\d+\.\d+ s\b", "<t> s", text)
    text = re.sub(r"\b\d+:\d\d(:\d\d)? wall clock", "<t> wall clock", text)
    text = re.sub(r"local pool of \d+ processes|one process", "<engine>", text)
    text = re.sub(r"\d\.\d+e-\d+", lambda m: f"{float(m.group()):.2e}", text)
    text = re.sub(r"(exponent[^:]*: )(\d\.\d+)", lambda m: f"{m.group(1)}"
                  f"{float(m.group(2)):.2f}", text)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def table_rows(markdown: str) -> list[list[str]]:
    """Rows of the Markdown table in a text, seconds column blanked."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in markdown.splitlines() if line.startswith("| ")]
    head = rows[0]
    col = head.index("seconds")
    return [r[:col] + r[col + 1:] for r in rows]


def test_every_command_prints_what_the_tutorial_shows(tmp_path):
    text = TUTORIAL.read_text()
    pairs = commands_with_output(text)
    installs = [c for c, _ in pairs if not c.startswith(("exactcl ", "mkdir "))]
    assert installs == ["python3 -m pip install '.[plot,torch]'"]  # the one command not run here
    runs = [(c, e) for c, e in pairs if c.startswith("exactcl ")]
    assert len(runs) >= 8 and all(e is not None for _, e in runs)
    assert not list(tmp_path.iterdir())  # a reader starts in an empty folder
    for command, expected in pairs:
        if command in installs:
            continue
        argv = shlex.split(command)
        if argv[0] == "exactcl":
            argv = [sys.executable, "-m", "exactcl", *argv[1:]]
        proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              check=False)
        assert proc.returncode == 0, (command, proc.stderr)
        assert normal(proc.stdout) == normal(expected or ""), command
    # the table shown is the sweep's table
    shown = table_rows(text.split("`sweep/results.md`", 1)[1])
    made = table_rows((tmp_path / "sweep" / "results.md").read_text())
    assert shown == made
    # the pictures embedded are the pictures the commands draw
    from matplotlib.testing.compare import compare_images
    embedded = re.findall(r"!\[[^\]]*\]\((img/[^)]+)\)", text.split(TORCH_SECTION, 1)[0])
    assert sorted(embedded) == ["img/drift.png", "img/graph.png", "img/growth.png"]
    for name in embedded:
        assert (DOCS / name).exists(), name
        diff = compare_images(str(DOCS / name), str(tmp_path / name), tol=PICTURE_TOLERANCE)
        assert diff is None, diff


def test_tutorial_text_states_the_drift_it_prints():
    # the sentence before `exactcl plot drift` quotes the largest drift printed after it
    text = TUTORIAL.read_text()
    before, after = text.split("```bash\nexactcl plot drift", 1)
    output = after.split("```text\n", 1)[1].split("```", 1)[0]
    printed = max(float(x) for x in re.findall(r"= (\d\.\d+e-\d+)", output))
    claim = re.findall(r"every law moves by (less than|at most) ((?:[\d.]+ × )?10\^-\d+)",
                       " ".join(before.strip().rsplit("\n\n", 1)[1].split()))
    assert len(claim) == 1, claim
    how, number = claim[0]
    mantissa, _, power = number.rpartition("10^")
    stated = float(mantissa.rstrip(" ×") or 1) * 10.0 ** int(power)
    if how == "less than":
        assert printed < stated, (printed, claim)
    else:  # "at most", rounded to the digits written
        digits = len(mantissa.rstrip(" ×").replace(".", "")) or 1
        assert abs(float(f"{printed:.{digits - 1}e}") - stated) < 1e-9 * stated, (printed, claim)


def _doctest_text(text: str, name: str) -> tuple[int, int]:
    test = doctest.DocTestParser().get_doctest(text, {}, name, str(TUTORIAL), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    return runner.failures, runner.tries


def test_tutorial_python_session():
    failures, tried = _doctest_text(TUTORIAL.read_text().split(TORCH_SECTION, 1)[0], "tutorial")
    assert tried >= 5 and failures == 0


def test_tutorial_torch_section(tmp_path, monkeypatch):
    """The PyTorch section (the torch extra) runs where a reader made img/, prints
    what it shows and redraws the picture it embeds."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    section = TORCH_SECTION + TUTORIAL.read_text().split(TORCH_SECTION, 1)[1]
    (tmp_path / "img").mkdir()
    monkeypatch.chdir(tmp_path)
    failures, tried = _doctest_text(section, "tutorial, PyTorch section")
    assert tried >= 10 and failures == 0
    from matplotlib.testing.compare import compare_images
    embedded = re.findall(r"!\[[^\]]*\]\((img/[^)]+)\)", section)
    assert embedded == ["img/torch_drift.png", "img/torch_momentum.png"]
    for picture in embedded:
        diff = compare_images(str(DOCS / picture), str(tmp_path / picture),
                              tol=PICTURE_TOLERANCE)
        assert diff is None, diff


@pytest.mark.parametrize("kind, spec", [("growth", "linear:2,2,2"), ("graph", "linear:2,3,2"),
                                        ("drift", "relu:2,3,2")])
@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_pictures_are_deterministic(tmp_path, kind, spec, ext):
    files = []
    for i in (1, 2):
        path = tmp_path / f"{i}.{ext}"
        subprocess.run([sys.executable, "-m", "exactcl", "plot", kind, spec, "-o",
                        str(path)], check=True, capture_output=True, timeout=300)
        files.append(path.read_bytes())
    assert files[0] == files[1]

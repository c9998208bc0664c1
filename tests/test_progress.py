"""Progress bars of counts, law searches, certify and reproduce: drawn on a
terminal, silent elsewhere and with --quiet, and never changing a result,
a line of standard output or a byte of a certificate."""

import io
import os
import pathlib
import re
import select
import subprocess
import sys
import time

import pytest

import exactcl
from exactcl.certificates.build import certify
from exactcl.engine import progress
from exactcl.engine.progress import Reporter, reporting, step
from exactcl.engine.search import find_laws
from exactcl.interfaces.cli import main
from exactcl.kernel.brackets import closure_check, closure_deterministic
from exactcl.kernel.certformat import dumps
from exactcl.kernel.rings import DEFAULT_PRIME
from exactcl.workflows.reproduce import reproduce_all

ROOT = pathlib.Path(__file__).resolve().parents[1]
LABEL = re.compile(r"\r(law check|law search|growth depth \d+|closure check) \[")


class FakeTTY(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def every_step(monkeypatch):
    """Redraw at every step, so that even fast runs draw each stage."""
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.0)


def render(text: str) -> list[str]:
    """The lines a terminal shows after ``text``: ``\\r`` returns to the start
    of the line and later characters overwrite earlier ones."""
    lines, line, col = [], [], 0
    for ch in text:
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(line).rstrip())
            line, col = [], 0
        else:
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
    if "".join(line).strip():
        lines.append("".join(line).rstrip())
    return lines


def without_seconds(result) -> dict:
    out = result.as_dict()
    del out["seconds"]
    return out


def mask_times(text: str) -> str:
    text = re.sub(r"(?m)^time +\S+ s$", "time X s", text)
    return re.sub(r"certificates, (\d+) claims, [\d.]+ s\)", r"certificates, \1 claims, X s)",
                  text)


# --------------------------------------------------------------------------- the API


def test_step_outside_a_reporting_block_does_nothing(capsys):
    assert progress._current is None
    step("growth depth 1", 3, 10, "rank")
    progress.clear()
    assert capsys.readouterr() == ("", "")


def test_a_count_on_a_terminal_draws_its_stages_and_erases_the_bar(every_step):
    tty = FakeTTY()
    with reporting(stream=tty) as reporter:
        assert progress._current is reporter
        exactcl.count(exactcl.linear([4, 4, 4]))
    assert progress._current is None
    text = tty.getvalue()
    assert "\rlaw check [" in text and "\rgrowth depth 1 [" in text
    assert re.search(r"growth depth 1 \[#*\.*\] \d+/22 rank, 0:\d\d elapsed", text)
    assert text.endswith("\r") and render(text) == []  # nothing left on the screen


def test_a_law_search_on_a_terminal_draws_the_blocks(every_step):
    tty = FakeTTY()
    with reporting(stream=tty):
        find_laws(exactcl.linear([2, 2, 2]).generators, 2)
    assert re.search(r"\rlaw search \[#*\.*\] \d+/\d+ blocks", tty.getvalue())
    assert render(tty.getvalue()) == []


@pytest.mark.parametrize("closure", ["deterministic", "monte-carlo"])
def test_the_closure_check_is_a_stage(every_step, closure):
    tty = FakeTTY()
    with reporting(stream=tty):
        result = exactcl.count(exactcl.linear([1, 2, 2, 1]), closure=closure)
    assert result.proof == "closure" and result.closure.mode == closure
    unit = "identities" if closure == "deterministic" else "rounds"
    assert re.search(rf"\rclosure check \[#*\.*\] \d+/\d+ {unit}", tty.getvalue())


def test_closure_checks_call_report_with_done_and_total():
    import random
    m = exactcl.linear([1, 2, 2, 1])
    words = exactcl.count(m).growth.fields()
    calls = []
    closure_check(m.generators, words, 3, random.Random(0), report=lambda *a: calls.append(a))
    assert calls == [(0, 3), (1, 3), (2, 3)]
    calls.clear()
    res = closure_deterministic(m.generators, words, [3, 1, 4, 1, 5, 9, 2, 6], DEFAULT_PRIME,
                                report=lambda *a: calls.append(a))
    assert res.passed and len(calls) == res.identities
    assert calls[0] == (0, res.identities) and calls[-1] == (res.identities - 1, res.identities)


@pytest.mark.parametrize("enabled, stream", [
    (None, io.StringIO),    # not a terminal
    (False, FakeTTY),       # --quiet on a terminal
], ids=["pipe", "quiet"])
def test_nothing_is_written_off_a_terminal_or_when_quiet(every_step, enabled, stream):
    out = stream()
    with reporting(enabled, stream=out) as reporter:
        assert reporter is None and progress._current is None
        exactcl.count(exactcl.linear([4, 4, 4]))
        find_laws(exactcl.linear([2, 2, 2]).generators, 2)
    assert out.getvalue() == ""


def test_the_default_stream_is_standard_error_and_silent_when_captured(every_step, capsys):
    with reporting():
        exactcl.count(exactcl.linear([3, 3, 3]))
    assert capsys.readouterr() == ("", "")


def test_a_quiet_block_silences_an_enclosing_one(every_step):
    tty = FakeTTY()
    with reporting(stream=tty):
        with reporting(False):
            exactcl.count(exactcl.linear([3, 3, 3]))
        assert progress._current is not None  # restored
    assert tty.getvalue() == ""


def test_redraws_are_throttled(monkeypatch):
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 3600.0)
    tty = FakeTTY()
    with reporting(stream=tty):
        exactcl.count(exactcl.linear([4, 4, 4]))
    # one draw (the first step) and the erasure at the end
    assert tty.getvalue().count("\r") == 3


def test_the_estimate_is_shown_for_blocks_not_for_ranks():
    r = Reporter(io.StringIO(), columns=200)
    r.update("growth depth 1", 5, 10, "rank", estimate=False, now=0.0)
    assert r.line(now=4.0) == "growth depth 1 [##########..........] 5/10 rank, 0:04 elapsed"
    r.update("law search", 5, 10, "blocks", now=10.0)
    assert r.line(now=14.0).endswith("5/10 blocks, 0:04 elapsed, ~0:04 left")


def test_lines_fit_the_terminal_and_a_shorter_line_overwrites_a_longer_one(every_step):
    tty = FakeTTY()
    r = Reporter(tty, columns=90)
    r.update("reproduce some_claim_with_a_long_name", 1, 3, "cases", outer=True, now=0.0)
    r.update("growth depth 1", 1, 4, "rank", estimate=False, now=0.0)
    r.update("law search", 1, 4, "blocks", now=0.0)
    r.update("x", 1, 1, now=1.0)
    drawn = [s.rstrip() for s in tty.getvalue().split("\r")[1:]]
    assert all(len(s) <= 89 for s in drawn)
    assert drawn[1].startswith("reproduce som... 1/3 cases | growth depth 1 [")
    assert drawn[2].startswith("law search [")  # no room left for the outer stage
    assert render(tty.getvalue()) == ["reproduce some_claim_with_a_lon... 1/3 cases | x "
                                      "[####################] 1/1, 0:00 elapsed"]
    r.columns = 72  # an outer stage alone: its label is shortened, not the end of the line
    r.update("reproduce some_claim_with_a_long_name", 2, 3, "cases", outer=True, now=10.0)
    assert r.line(now=20.0) == ("reproduce... [#############.......] 2/3 cases, 0:20 elapsed, "
                                "~0:10 left")


# --------------------------------------------------------------------------- same results


def test_results_are_the_same_with_and_without_a_reporter(every_step):
    models = [exactcl.linear([4, 4, 4]), exactcl.relu([2, 3, 2]), exactcl.linear([1, 2, 2, 1])]
    plain = [without_seconds(exactcl.count(m, search_degree=2)) for m in models]
    laws = find_laws(exactcl.linear([2, 2, 2]).generators, 2).strings()
    with reporting(stream=FakeTTY()):
        assert [without_seconds(exactcl.count(m, search_degree=2)) for m in models] == plain
        assert find_laws(exactcl.linear([2, 2, 2]).generators, 2).strings() == laws


def test_certificates_are_the_same_bytes_with_and_without_a_reporter(every_step):
    model = exactcl.linear([1, 2, 2, 1])
    plain = dumps(certify(model, reproducible=True)[0])
    tty = FakeTTY()
    with reporting(stream=tty):
        drawn = dumps(certify(model, reproducible=True)[0])
    assert tty.getvalue() and drawn == plain


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize("argv", [
    ["count", "linear:3,3,3"],
    ["count", "relu:2,3,2", "--json"],
    ["laws", "linear:2,2,2", "--degree", "2"],
], ids=["count", "count-json", "laws"])
def test_cli_is_silent_on_stderr_off_a_terminal_and_quiet_changes_no_output(capsys, argv):
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert main([*argv, "--quiet"]) == 0
    quiet_out, err = capsys.readouterr()
    assert err == ""
    if "--json" in argv or argv[0] == "laws":  # the time is a JSON field or not printed
        out, quiet_out = (re.sub(r'"seconds": [\d.]+', "", t) for t in (out, quiet_out))
    assert mask_times(quiet_out) == mask_times(out)


def test_cli_certify_quiet_writes_the_same_certificate(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["certify", "linear:2,2,2", "-o", str(a), "--reproducible"]) == 0
    assert main(["certify", "linear:2,2,2", "-o", str(b), "--reproducible", "-q"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and a.read_bytes() == b.read_bytes()


def test_quiet_is_an_option_of_count_laws_certify_and_reproduce():
    from exactcl.interfaces.cli import build_parser
    parser = build_parser()
    for argv in (["count", "-q"], ["laws", "--degree", "1", "--quiet"],
                 ["certify", "-o", "x.json", "-q"], ["reproduce", "--quiet"]):
        assert parser.parse_args(argv).quiet is True


def test_reproduce_quick_prints_the_same_with_and_without_quiet():
    # a child process: reproduce_all prints to the sys.stdout of its import time
    runs = [subprocess.run([sys.executable, "-m", "exactcl", "reproduce", "--quick", *q],
                           capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
            for q in ([], ["--quiet"])]
    for proc in runs:
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "all claims reproduced and verified" in runs[0].stdout
    assert mask_times(runs[1].stdout) == mask_times(runs[0].stdout)


def test_reproduce_on_a_terminal_shows_each_claim_and_its_lines_start_clean(every_step):
    plain = io.StringIO()
    assert reproduce_all(ROOT, quick=True, out=plain) == 0
    screen = FakeTTY()  # standard output and error on one terminal
    with reporting(stream=screen):
        assert reproduce_all(ROOT, quick=True, out=screen) == 0  # certificates identical
    text = screen.getvalue()
    assert re.search(r"\rreproduce section_4_deep_relu \[#*\.*\] \d/3 cases", text)
    assert re.search(r"\rreproduce section_4.* \d/3 cases \| (law|growth)", text)
    assert mask_times("\n".join(render(text))) == mask_times(plain.getvalue().rstrip("\n"))


# --------------------------------------------------------------------------- a real terminal


def run_on_a_terminal(argv: list[str], timeout: float = 120.0) -> tuple[int, str]:
    """Run ``python -m exactcl argv`` with standard output and error on a
    pseudo-terminal; return its status and everything it wrote."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "exactcl", *argv],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=ROOT)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        status = proc.wait(timeout=30)
    return status, b"".join(chunks).decode()


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_count_on_a_pseudo_terminal_draws_a_bar_then_the_result():
    status, text = run_on_a_terminal(["count", "linear:6,6,6"])
    assert status == 0, text
    assert "\r" in text and LABEL.search(text), text
    lines = render(text)
    assert lines[0] == "model       linear:6,6,6 (D = 72)"  # the bar left nothing behind
    assert lines[1] == "laws        21   (certified: sandwich)"
    assert re.fullmatch(r"time +[\d.]+ s", lines[-1])
    status, quiet = run_on_a_terminal(["count", "linear:6,6,6", "--quiet"])
    assert status == 0 and not LABEL.search(quiet)
    assert mask_times("\n".join(render(quiet))) == mask_times("\n".join(lines))

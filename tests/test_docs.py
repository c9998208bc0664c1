"""The README's examples and commands stay true."""

import doctest
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_readme_python_examples():
    failures, tried = doctest.testfile(str(ROOT / "README.md"), module_relative=False,
                                       optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried > 0 and failures == 0


def test_readme_main_job_runs_on_the_default():
    proc = subprocess.run([sys.executable, "-m", "exactcl", "count"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "laws        6   (certified: sandwich)" in proc.stdout
    assert "built-in default linear:3,3,3" in proc.stderr


def test_readme_cli_commands_run(tmp_path):
    text = (ROOT / "README.md").read_text()
    commands = [line.strip() for line in text.splitlines()
                if line.strip().startswith("exactcl ") and "#" not in line.split("exactcl", 1)[0]]
    assert len(commands) >= 7
    assert any(c.startswith("exactcl verify") for c in commands)
    # the grid file the README's sweep example reads is the README's TOML block
    toml = text.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "grid.toml").write_text(toml)
    for cmd in commands:
        argv = __import__("shlex").split(cmd.split("  #")[0])[1:]
        cwd = tmp_path
        if argv[0] == "reproduce":
            if "--quick" not in argv:
                continue  # the full run is CI's last step
            cwd = ROOT
        proc = subprocess.run([sys.executable, "-m", "exactcl", *argv], capture_output=True,
                              text=True, timeout=300, check=False, cwd=cwd)
        assert proc.returncode == 0, (cmd, proc.stderr)


#: Durations as the docs write them ("about 8 seconds"), and stale vaguer ones.
DURATION = r"about [\d.]+ (?:seconds?|minutes?)|under (?:a|\d+) minutes?|\bseconds\b|\bminutes\b"


def reproduce_times(text: str) -> dict[str, list[str]]:
    """The durations in the comment of each ``exactcl reproduce [--quick|--slow]`` line."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"exactcl reproduce( --quick| --slow)?\s+#(.*)", line.strip())
        if m:
            out[(m.group(1) or "").strip()] = re.findall(DURATION, m.group(2))
    return out


def test_reproduce_help_and_readmes_give_the_same_measured_times():
    proc = subprocess.run([sys.executable, "-m", "exactcl", "reproduce", "--help"],
                          capture_output=True, text=True, timeout=60, check=True)
    text = " ".join(proc.stdout.split())
    found = {"--quick": re.search(r"--quick only the quick cases \((about \d+ seconds?)\)", text),
             "": re.search(r"Every claim: (about \d+ seconds?)", text),
             "--slow": re.search(r"--slow also the cases marked slow \([^)]*?(about \d+ "
                                 r"seconds?)", text)}
    assert all(found.values()), (found, text)
    assert "measured on a machine with 2 shared cores" in text
    expected = {flag: [m.group(1)] for flag, m in found.items()}
    for readme in (ROOT / "README.md", ROOT / "proofs" / "README.md"):
        body = readme.read_text()
        assert reproduce_times(body) == expected, readme
        assert "measured on a machine with 2 shared cores" in body, readme

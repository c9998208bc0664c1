"""The benchmark suite's switch section runs: each fast path gives the
reference path's answer on the suite's inputs (the timings are not tested)."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SWITCHES = ["rank: incremental", "rows: sparse", "words: jets", "rank: modular",
            "kernel: modular", "search: graded", "values: component", "closure",
            "generator order"]


def test_quick_switches_agree_and_print_a_ratio_each():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "suite.py"), "--quick",
                           "--only", "switches"], capture_output=True, text=True, timeout=600,
                          check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if "ratio" in line]
    for name in SWITCHES:
        assert any(line.strip().startswith(name) for line in rows), name

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


def test_startup_benchmark_runs_against_a_baseline_directory():
    # this tree as its own baseline, one process per tree: the rows are printed
    # and the count loads neither networkx nor SymPy (timings are not tested)
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_startup.py"),
                           "--baseline", str(ROOT), "-n", "1"], capture_output=True, text=True,
                          timeout=300, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.count("ratio baseline / current") == 2
    assert out.count("count loads []") == 2


def test_block_benchmark_runs_and_both_evaluators_agree():
    # the quick set: one target on both engines, the chain and block evaluators
    # on one chain (the answers are compared; the timings are not tested)
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_blocks.py"),
                           "--quick"], capture_output=True, text=True, timeout=600,
                          check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "all targets met, answers agree" in proc.stdout
    assert "blocks / chain" in proc.stdout


def test_torch_benchmark_runs_its_overhead_section():
    # a few rounds of each monitor kind, the bridge left out (timings are not tested)
    import pytest
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_torch.py"),
                           "--rounds", "3", "--skip-bridge"], capture_output=True, text=True,
                          timeout=300, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count(": ratio ") == 7
    assert "attached to the optimizer" in proc.stdout
    assert "no monitor on either (the noise floor)" in proc.stdout


def test_layers_benchmark_certifies_or_refuses_each_module_in_one_line():
    # two cases: a module read and certified, one refused by name (timings are not tested)
    import pytest
    pytest.importorskip("torch")
    for only, want in (("LeakyReLU", "5 laws (sandwich)"),
                       ("BatchNorm1d after the first layer, eps=0", "refused in")):
        proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_layers.py"),
                               "--only", only], capture_output=True, text=True, timeout=300,
                              check=False, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert want in proc.stdout, proc.stdout
        if "refused" not in want:
            assert "verified; peak" in proc.stdout
            assert "forward checked: output equals" in proc.stdout

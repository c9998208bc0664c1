"""What a unit of the verifier's work budget costs, and what the estimates say.

Two parts, both measured in one run:

1. The certificates of data/ (the largest by work), the hostile files of
   tests/test_hostile.py and certificates of the program engine verified
   by evaluation (never expanded): units of work counted (``Report.work``),
   CPU seconds of the verification, and microseconds per unit. The default
   budget (``exactcl.kernel.budget.VERIFY_WORK``) times the largest rate seen is
   the most CPU a file from an unknown source can cost.
2. The memory estimates of exactcl.limits against the peak resident memory
   of ``exactcl count SPEC`` measured in a child process, for a range of
   built-in models: the estimate must never be below the measurement.

Usage: python benchmarks/bench_budget.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import random
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from exactcl.kernel import certformat  # noqa: E402
from exactcl.kernel.budget import VERIFY_WORK  # noqa: E402
from exactcl.kernel.verifier import verify, verify_text  # noqa: E402

SPECS = ["relu:16,16,16", "relu:24,24,24", "relu-bias:24,24,24", "relu:16,16,16,16",
         "linear:16,16,16", "linear:24,24,24", "linear:48,48", "relu:32,32,32",
         "linear:32,32,32", "relu-bias:32,32,32", "linear:8,8,8,8,8,8",
         "relu-bias:16,16,16,16,16,16"]
QUICK_SPECS = SPECS[:3] + ["linear:16,16,16"]


def cpu(fn):
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def budget_part(top: int) -> None:
    print(f"1. Verifier work: units counted and CPU time (budget {VERIFY_WORK:,} units)")
    rows = []
    for path in sorted((ROOT / "data").rglob("*.json")):
        report, seconds = cpu(lambda p=path: verify(p, rng=random.Random(1)))
        rows.append((report.work, seconds, path.relative_to(ROOT / "data"), report.status))
    rows.sort(reverse=True)
    import test_hostile

    from exactcl.certificates.build import certify
    from exactcl.models.builtin import product
    template, _ = certify(product(3), reproducible=True)
    bombs = []
    for name, cert in test_hostile._bomb_files(template).items():
        text = certformat.dumps(cert)
        report, seconds = cpu(lambda t=text: verify_text(t, rng=random.Random(1)))
        bombs.append((report.work, seconds, f"bomb {name} ({len(text):,} bytes)", report.status))
    rates = []
    for work, seconds, name, status in rows[:top] + bombs + program_rows():
        rate = seconds / work * 1e6 if work > 10_000 else float("nan")
        if work > 10_000:
            rates.append(rate)
        print(f"  {str(name):52} {status:10} {work:>10,} units {seconds:7.3f} s CPU"
              f"  {rate:6.2f} us/unit")
    total_work = sum(r[0] for r in rows)
    total_cpu = sum(r[1] for r in rows)
    print(f"  all {len(rows)} certificates of data/: {total_work:,} units, {total_cpu:.2f} s CPU, "
          f"largest {rows[0][0]:,} units ({rows[0][0] / VERIFY_WORK:.0%} of the budget)")
    worst = max(rates)
    print(f"  slowest rate {worst:.2f} us/unit: the default budget costs at most "
          f"{VERIFY_WORK * worst / 1e6:.2f} s of CPU at that rate")


#: Programs certified on the program engine and verified by evaluation.
PROGRAMS = [("linear", [8] * 6), ("linear", [6] * 5), ("relu", [2, 4, 4, 4, 2]),
            ("relu-bias", [3, 6, 6, 3]), ("relu", [1, 24, 24, 1])]


def program_rows() -> list[tuple]:
    """Verifier work and CPU of program-engine certificates, evaluated."""
    from exactcl.certificates.build import certify
    from exactcl.kernel import rankcheck
    from exactcl.models.builtin import linear, relu
    out = []
    small, rankcheck.SMALL_TERMS = rankcheck.SMALL_TERMS, 0
    try:
        for family, widths in PROGRAMS:
            model = linear(widths) if family == "linear" else relu(widths, family == "relu-bias")
            cert, _ = certify(model, reproducible=True, engine="program")
            text = certformat.dumps(cert)
            report, seconds = cpu(lambda t=text: verify_text(t, rng=random.Random(1),
                                                             work_limit=10))
            out.append((report.work, seconds, f"program {model.name}, evaluated",
                        report.status))
    finally:
        rankcheck.SMALL_TERMS = small
    return out


def peak_rss(argv: list[str]) -> tuple[int, float]:
    """Peak resident bytes and wall seconds of a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.read().decode()[-300:]}")
    return usage.ru_maxrss * 1024, time.perf_counter() - start


def memory_part(specs: list[str]) -> None:
    from exactcl import limits
    print("2. Memory: estimate of exactcl.limits against the peak resident memory of "
          "`exactcl count SPEC`")
    ratios = []
    for spec in specs:
        estimate = _estimate(spec)
        rss, seconds = peak_rss([sys.executable, "-m", "exactcl", "count", spec, "-q"])
        ratios.append(estimate / rss)
        print(f"  {spec:22} estimate {limits.format_size(estimate):>9}   measured "
              f"{limits.format_size(rss):>9}   ratio {estimate / rss:5.2f}   ({seconds:.1f} s)")
    print(f"  estimate / measured: min {min(ratios):.2f}, max {max(ratios):.2f} "
          f"(below 1 would be an underestimate)")


def _estimate(spec: str) -> int:
    """The memory estimate the count of ``spec`` checks, without counting:
    on the program engine that of its evaluation (nothing expanded), on the
    expanded engine the one its expansion checks before building anything."""
    from exactcl import limits
    from exactcl.engine.counting import choose_engine
    from exactcl.engine.evaluation import ProgramFields
    from exactcl.models import builtin as models
    from exactcl.models.specs import parse_spec

    class Stop(Exception):
        pass

    model = parse_spec(spec)  # the program and candidate laws only: cheap
    if choose_engine(model) == "program":
        layout = model.program.layout
        fields = ProgramFields.choose(layout)
        return limits.program_bytes(layout, fields.count, fields.kind) + limits.BASE_BYTES
    estimates = []

    def record(what, parts, max_memory=None):
        estimates.append(sum(parts.values()) + limits.BASE_BYTES)
        raise Stop

    original = models.check_memory
    models.check_memory = record
    try:
        _ = model.generators
    except Stop:
        pass
    finally:
        models.check_memory = original
    return estimates[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and smaller models")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; load average {os.getloadavg()[0]:.2f}")
    budget_part(6 if args.quick else 10)
    print()
    memory_part(QUICK_SPECS if args.quick else SPECS)


if __name__ == "__main__":
    main()

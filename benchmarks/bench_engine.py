"""Speed and memory of the engine on the reference cases (issue targets).

Each case runs in a fresh Python process, which reports its wall-clock time
and peak resident memory. The naive baseline is the paper's algorithm
written directly in SymPy (symbolic Jacobians and brackets of every
generator with every basis field, floating-point rank at one random point),
run on the same machine in the same run, so the speed-up is a ratio
measured side by side.

Usage: python benchmarks/bench_engine.py [--quick] [--baseline-timeout S]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
start = time.perf_counter()
kind, spec, arg = sys.argv[1], sys.argv[2], sys.argv[3]
import exactcl
import exactcl.counting, exactcl.search  # names load lazily: import before timing
from exactcl.specs import parse_spec
imported = time.perf_counter()
model = parse_spec(spec)
if kind == "count":
    r = exactcl.count(model)
    out = {"result": f"{r.laws} laws ({r.proof})", "laws": r.laws}
elif kind == "laws":
    r = exactcl.laws(model, int(arg))
    out = {"result": f"{len(r.laws)} laws, {r.independent} independent", "laws": len(r.laws)}
else:
    sys.path.insert(0, "benchmarks")
    from naive_baseline import naive_count
    laws = naive_count(model)
    out = {"result": f"{laws} laws (float rank)", "laws": laws}
out["seconds"] = time.perf_counter() - imported
out["process_seconds"] = time.perf_counter() - start
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""

# (label, kind, spec, arg, target seconds or None)
CASES = [
    ("count", "count", "linear:16,16,16", "", 10),
    ("count", "count", "linear:32,32,32", "", 120),
    ("count", "count", "relu:16,16,16", "", 30),
    ("laws deg 2", "laws", "linear:4,4,4,4", "2", 5),
]
QUICK = [
    ("count", "count", "linear:16,16,16", "", 10),
    ("count", "count", "relu:16,16,16", "", 30),
    ("laws deg 2", "laws", "linear:4,4,4,4", "2", 5),
]
BASELINE = ["linear:4,4,4", "relu:3,4,5"]


def run(kind: str, spec: str, arg: str, timeout: float) -> dict:
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, kind, spec, arg or "-"],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout, "seconds": time.perf_counter() - start}
    if proc.returncode != 0:
        raise SystemExit(f"case {kind} {spec} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer and smaller cases")
    ap.add_argument("--baseline-timeout", type=float, default=600.0)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or '?'}; python "
          f"{platform.python_version()}; {__import__('os').cpu_count()} cores")
    print("seconds: model built and computed, after imports; process: the whole fresh process")
    print(f"{'case':<12} {'model':<18} {'result':<28} {'seconds':>8} {'process':>8} "
          f"{'target':>7} {'peak MB':>8}")
    for label, kind, spec, arg, target in (QUICK if args.quick else CASES):
        r = run(kind, spec, arg, 3600)
        ok = "ok" if r["seconds"] < target else "MISSED"
        print(f"{label:<12} {spec:<18} {r['result']:<28} {r['seconds']:8.2f} "
              f"{r['process_seconds']:8.2f} {target:>6}s {r['peak_mb']:8.0f}  {ok}")
    print()
    print("side by side with the paper's algorithm written naively in SymPy (float ranks):")
    print(f"{'model':<14} {'exactcl s':>10} {'naive s':>10} {'ratio':>8}  results")
    for spec in BASELINE[:1] if args.quick else BASELINE:
        ours = run("count", spec, "", 3600)
        theirs = run("naive", spec, "", args.baseline_timeout)
        if "timeout" in theirs:
            print(f"{spec:<14} {ours['seconds']:10.2f} {'>' + str(int(theirs['timeout'])):>10} "
                  f"{'>' + format(theirs['timeout'] / ours['seconds'], '.0f'):>8}  "
                  f"{ours['result']} / timed out")
        else:
            print(f"{spec:<14} {ours['seconds']:10.2f} {theirs['seconds']:10.2f} "
                  f"{theirs['seconds'] / ours['seconds']:8.0f}  {ours['result']} / "
                  f"{theirs['result']}")


if __name__ == "__main__":
    main()

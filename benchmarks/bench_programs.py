"""Models as programs: the program engine against the expanded one, in one run.

Every case runs in a fresh Python process that reports its time after
imports and its peak resident memory. "certify" counts, writes the
certificate and verifies it with the independent verifier (both timed;
the certificate is its own, so with ``work_limit=100``, the verifier's
budget for a trusted file);
"count" is the certified count alone; "laws" the degree-2 law search.
Each case runs on the program engine (evaluation of the model's layers,
never expanded) and, where it can finish within ``--expanded-limit``
seconds, on the expanded engine (fields expanded over Q, words by jets),
so that the two are compared side by side; the answers must agree.

Then the growth of the cost of a certified count, certificate and
verification along depth (linear:8,...,8 with 3 to 10 weight layers) and
along width (linear:n,n,n, two weight layers, up to D = 8192), with the
exponent a of time ~ D^a fitted by least squares; and the crossover of
the two engines on small networks (which one ``engine="auto"`` takes).

Usage: python benchmarks/bench_programs.py [--quick] [--expanded-limit S] [--only SECTION]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys

CHILD = r"""
import json, os, resource, sys, tempfile, time
job = json.loads(sys.argv[1])
import exactcl, exactcl.engine.counting, exactcl.certificates.build, exactcl.kernel.verifier
from exactcl.models.specs import parse_spec
start = time.perf_counter()
model = parse_spec(job["spec"])
engine = job["engine"]
out = {"D": model.D}
try:
    if job["engine"] == "expanded":
        model.generators  # refused here, with its estimate, when too large to expand
except exactcl.ResourceError as err:
    print(json.dumps({"refused": str(err)}))
    raise SystemExit(0)
if job["kind"] == "certify":
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "c.json")
        cert, result = exactcl.certificates.build.certify(model, path, engine=engine)
        made = time.perf_counter()
        # its own certificate: trusted, verified with a work limit of 100 (a file
        # from an unknown source gets 1, a budget bounded by its size)
        report = exactcl.kernel.verifier.verify(path, work_limit=100)
        assert report.ok, str(report)
        out.update(certify=made - start, verify=time.perf_counter() - made,
                   bytes=os.path.getsize(path))
elif job["kind"] == "count":
    result = exactcl.count(model, engine=engine)
elif job["kind"] == "laws":
    result = exactcl.count(model, engine=engine, search_degree=job["degree"])
out.update(laws=result.laws, proof=result.proof, rank=result.lie_rank, engine=result.engine)
out["seconds"] = time.perf_counter() - start
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""

# (kind, spec, degree, target seconds, target MB, run the expanded engine too)
TARGETS = [
    ("certify", "linear:8,8,8,8,8,8", None, 5, 1024, True),
    ("certify", "linear:" + ",".join(["8"] * 10), None, 30, None, True),
    ("certify", "relu-bias:16,16,16,16,16,16", None, 30, None, False),
    ("count", "linear:32,32,32", None, 15, None, True),
    ("count", "linear:64,64,64", None, 600, 8192, False),
    ("count", "relu:32,32,32", None, 10, None, True),
    ("count", "relu-bias:64,64,64", None, 120, 4096, False),
    ("laws", "linear:4,4,4,4,4", 2, 30, None, True),
]
QUICK = ("linear:8,8,8,8,8,8", "linear:32,32,32", "relu:32,32,32", "linear:4,4,4,4,4")
DEPTHS = range(3, 11)
WIDTHS = (8, 16, 32, 64)
CROSSOVER = ["linear:4,4,4", "relu:4,4,4", "linear:2,2,5,5,2", "relu:9,8,7,7",
             "linear:4,4,4,4,4", "relu-bias:6,6,6,6"]


def child(job: dict, timeout: float | None = None) -> dict | None:
    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise SystemExit(f"benchmark case {job} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _time(r: dict | None, limit: float) -> str:
    if r is not None and "refused" in r:
        return "refused"
    return f"> {limit:.0f} s" if r is None else f"{r['seconds']:.2f} s"


def targets(quick: bool, limit: float) -> None:
    print("1. Targets: program engine (and expanded engine, side by side where it finishes "
          f"within {limit:.0f} s)")
    print(f"{'case':<8} {'model':<32} {'D':>5} {'laws':>5} {'proof':<9} {'program':>10} "
          f"{'(certify + verify)':>19} {'peak MB':>8} {'target':>8} {'expanded':>10} "
          f"{'ratio':>7}")
    refusals = []
    for kind, spec, degree, target, target_mb, expanded in TARGETS:
        if quick and spec not in QUICK:
            continue
        job = {"kind": kind, "spec": spec, "engine": "program", "degree": degree}
        r = child(job)
        split = (f"({r['certify']:.2f} + {r['verify']:.2f})" if kind == "certify" else "")
        ok = r["seconds"] < target and (target_mb is None or r["peak_mb"] < target_mb)
        goal = f"< {target} s" + (f", < {target_mb // 1024} GB" if target_mb else "")
        old = child(dict(job, engine="expanded"), limit) if expanded else None
        if old is not None and "refused" in old:
            refusals.append(f"{spec}, expanded: {old['refused']}")
        elif old is not None and old["laws"] != r["laws"]:
            raise SystemExit(f"{spec}: the engines disagree: {old['laws']} != {r['laws']}")
        ratio = (f"{old['seconds'] / r['seconds']:.1f}x"
                 if old is not None and "refused" not in old else "")
        label = kind if degree is None else "laws d2"
        print(f"{label:<8} {spec:<32} {r['D']:>5} {r['laws']!s:>5} "
              f"{r['proof']:<9} {r['seconds']:>8.2f} s {split:>19} {r['peak_mb']:>8.0f} "
              f"{goal:>8} {_time(old, limit) if expanded else 'not run':>10} {ratio:>7}  "
              f"{'ok' if ok else 'MISSED'}")
    for line in refusals:
        print(f"  refused: {line}")
    print()


def fit(points: list[tuple[int, float]]) -> float:
    xs = [math.log(d) for d, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def growth(quick: bool) -> None:
    print("2. Growth of the cost (program engine; certify = count + certificate + verification)")
    depths = list(DEPTHS)[:4] if quick else DEPTHS
    rows = []
    for k in depths:
        spec = "linear:" + ",".join(["8"] * (k + 1))
        r = child({"kind": "certify", "spec": spec, "engine": "program", "degree": None})
        rows.append((r["D"], r["seconds"]))
        print(f"  depth {k:>2}  {spec:<28} D = {r['D']:>4}  {r['seconds']:7.2f} s  "
              f"{r['peak_mb']:6.0f} MB  {r['laws']} laws ({r['proof']})")
    print(f"  along depth at width 8: time ~ D^{fit(rows):.2f} (target: exponent <= 3)")
    rows = []
    for n in WIDTHS[:3] if quick else WIDTHS:
        spec = f"linear:{n},{n},{n}"
        r = child({"kind": "count", "spec": spec, "engine": "program", "degree": None})
        rows.append((r["D"], r["seconds"]))
        print(f"  width {n:>2}   {spec:<28} D = {r['D']:>4}  {r['seconds']:7.2f} s  "
              f"{r['peak_mb']:6.0f} MB  {r['laws']} laws ({r['proof']})")
    print(f"  along width, two weight layers: count time ~ D^{fit(rows):.2f} "
          f"(target: exponent <= 2)")
    print()


def crossover(quick: bool) -> None:
    from exactcl.engine.counting import choose_engine
    from exactcl.models.specs import parse_spec
    print("3. Small networks: both engines, certify + verify (engine='auto' takes the marked one)")
    for spec in CROSSOVER[:3] if quick else CROSSOVER:
        runs = {e: child({"kind": "certify", "spec": spec, "engine": e, "degree": None})
                for e in ("expanded", "program")}
        if runs["expanded"]["laws"] != runs["program"]["laws"]:
            raise SystemExit(f"{spec}: the engines disagree")
        auto = choose_engine(parse_spec(spec))
        cells = "  ".join(f"{e} {r['seconds']:6.2f} s{'*' if e == auto else ' '}"
                          for e, r in runs.items())
        faster = min(runs, key=lambda e: runs[e]["seconds"])
        print(f"  {spec:<22} D = {runs['program']['D']:>4}  {cells}  faster: {faster}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--expanded-limit", type=float, default=300.0)
    parser.add_argument("--only", choices=("targets", "growth", "crossover"))
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.python_version()}, "
          f"{__import__('os').cpu_count()} cores")
    if args.only in (None, "targets"):
        targets(args.quick, args.expanded_limit)
    if args.only in (None, "growth"):
        growth(args.quick)
    if args.only in (None, "crossover"):
        crossover(args.quick)


if __name__ == "__main__":
    main()

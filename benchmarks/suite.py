"""The benchmark suite: targets, growth exponents, and every two-way switch.

Three tables, all measured in one run on the machine at hand:

1. Targets. Each case runs in a fresh Python process, which reports its
   time after imports and its peak resident memory. "certify" writes the
   certificate of the certified count to a file and verifies it with the
   independent verifier; "laws" is an exact law search (every law checked
   as an exact identity). A case that takes under 20 s is run three times
   and the median is shown.
2. Growth. Certified count, certificate written and verified, along
   linear:n,n,n and relu:n,n,n (n = 4 ... 32) and along depth for
   linear:8,...,8 (2 to 4 weight layers); the exponent a of time ~ D^a is a least-squares fit.
3. Switches. Where exactcl has two ways to get one answer, both are timed
   on the same inputs in this process, the answers are checked equal, and
   the ratio (slower way / way exactcl uses) is printed.

4. Baseline (with --baseline): the paper's algorithm written naively in
   SymPy (benchmarks/naive_baseline.py), against a certified count.
5. Sweeps. One grid swept by `exactcl sweep` in a fresh process: in one
   process, with the local pool of 2 workers, with a Dask cluster that the
   sweep starts, and with an already running Dask cluster on loopback;
   speed-ups and overheads are ratios of wall-clock times, and the
   certificates of all four runs are checked byte-identical.

Usage: python benchmarks/suite.py [--quick] [--baseline] [--only SECTION]
(full: under 15 min; quick: under 2)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, os, resource, sys, tempfile, time
job = json.loads(sys.argv[1])
import exactcl, exactcl.engine.counting, exactcl.engine.search
import exactcl.certificates.build, exactcl.kernel.verifier
from exactcl.models.specs import parse_spec
start = time.perf_counter()
model = parse_spec(job["spec"])
out = {"D": model.D}
if job["kind"] == "certify":
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "c.json")
        cert, result = exactcl.certificates.build.certify(model, path)
        made = time.perf_counter()
        report = exactcl.kernel.verifier.verify(path)
        assert report.ok, str(report)
        out.update(certify=made - start, verify=time.perf_counter() - made,
                   result=f"{result.laws} laws ({result.proof})", laws=result.laws)
elif job["kind"] == "laws":
    found = exactcl.laws(model, job["degree"])
    out.update(result=f"{len(found.laws)} laws, {found.independent} independent",
               laws=len(found.laws))
elif job["kind"] == "count":
    result = exactcl.count(model)
    out.update(result=f"{result.laws} laws ({result.proof})", laws=result.laws)
else:
    sys.path.insert(0, os.path.dirname(job["baseline"]))
    from naive_baseline import naive_count
    laws = naive_count(model)
    out.update(result=f"{laws} laws (float rank)", laws=laws)
out["seconds"] = time.perf_counter() - start
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""

# (kind, spec, degree or None, target seconds)
TARGETS = [
    ("certify", "linear:32,32,32", None, 120),
    ("certify", "relu:16,16,16,16", None, 60),
    ("certify", "relu-bias:16,16,16,16", None, 90),
    ("laws", "linear:8,8,8", 2, 10),
    ("laws", "relu:8,8,8", 2, 10),
    ("laws", "linear:16,16,16", 2, 120),
    ("laws", "linear:1,2,2,1", 4, 30),
    ("laws", "product:6", 4, 30),
]
QUICK_TARGETS = [t for t in TARGETS if t[1] in ("relu:16,16,16,16", "linear:8,8,8", "relu:8,8,8",
                                                "linear:1,2,2,1", "product:6")]
FAMILIES = {
    "linear:n,n,n": [f"linear:{n},{n},{n}" for n in (4, 8, 16, 32)],
    "relu:n,n,n": [f"relu:{n},{n},{n}" for n in (4, 8, 16, 32)],
    "linear:8,...,8 (depth 2-4)": ["linear:" + ",".join(["8"] * (k + 1)) for k in (2, 3, 4)],
}
QUICK_FAMILIES = {name: specs[:3] if name.startswith("linear:n") else specs[:2]
                  for name, specs in FAMILIES.items()}
MEDIAN_BELOW = 20.0  # seconds: faster cases run three times


def child(job: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True,
                          text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark case {job} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measured(job: dict) -> dict:
    """One run, or the median of three when a run takes under MEDIAN_BELOW."""
    runs = [child(job)]
    if runs[0]["seconds"] < MEDIAN_BELOW:
        runs += [child(job), child(job)]
    runs.sort(key=lambda r: r["seconds"])
    out = dict(runs[len(runs) // 2])
    out["runs"] = len(runs)
    out["peak_mb"] = max(r["peak_mb"] for r in runs)
    return out


def fit_exponent(points: list[tuple[int, float]]) -> float:
    xs = [math.log(d) for d, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def targets(quick: bool) -> None:
    print("1. Targets (fresh process each; median of 3 when under 20 s)")
    print(f"{'case':<8} {'model':<22} {'D':>5} {'result':<30} {'certify':>8} {'verify':>7} "
          f"{'seconds':>8} {'target':>7} {'peak MB':>8} runs")
    for kind, spec, degree, target in QUICK_TARGETS if quick else TARGETS:
        r = measured({"kind": kind, "spec": spec, "degree": degree})
        label = kind if degree is None else f"laws d{degree}"
        cert = f"{r['certify']:8.2f} {r['verify']:7.2f}" if kind == "certify" else f"{'':8} {'':7}"
        ok = "ok" if r["seconds"] < target and r["peak_mb"] < 4096 else "MISSED"
        print(f"{label:<8} {spec:<22} {r['D']:>5} {r['result']:<30} {cert} {r['seconds']:8.2f} "
              f"{target:>6}s {r['peak_mb']:8.0f} {r['runs']:>4}  {ok}")
    print()


def growth(quick: bool) -> None:
    print("2. Growth of the time of a certified count (certificate written and verified)")
    for family, specs in (QUICK_FAMILIES if quick else FAMILIES).items():
        points = []
        cells = []
        for spec in specs:
            r = measured({"kind": "certify", "spec": spec, "degree": None})
            points.append((r["D"], r["seconds"]))
            cells.append(f"D={r['D']}: {r['seconds']:.2f} s ({r['peak_mb']:.0f} MB)")
        print(f"  {family:<28} time ~ D^{fit_exponent(points):.2f}   " + "; ".join(cells))
    print()


def timed(fn, repeat: int = 3):
    """(median seconds, value) of ``fn()``."""
    times, value = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), value


def ratio_row(switch: str, case: str, used: str, t_used: float, other: str, t_other: float
              ) -> None:
    print(f"  {switch:<26} {case:<24} {used} {t_used:8.4f} s | {other} {t_other:8.4f} s | "
          f"ratio {t_other / t_used:8.1f}")


def switches(quick: bool) -> None:
    from flint import fmpq, fmpq_mat

    import exactcl
    import exactcl.engine.growth as growth_module
    from exactcl.engine.bases import IncrementalBasis
    from exactcl.engine.exactlinalg import kernel_Q, kernel_Q_modular
    from exactcl.engine.growth import grow
    from exactcl.engine.search import (
        _block_rows,
        _by_direction,
        _grading,
        _monomials,
        _sparse_terms,
    )
    from exactcl.kernel.fields import MODULAR_TERMS, modular_image
    from exactcl.kernel.jets import WordJets
    from exactcl.kernel.linalg import independent_rows_mod, rank_mod
    from exactcl.kernel.rings import DEFAULT_PRIME, evaluate, rational_mod, support
    from exactcl.models.specs import parse_spec

    p = DEFAULT_PRIME
    print("3. Switches: the way exactcl uses against the other way, same inputs, same answer")

    def point_of(model, seed=0):
        rng = random.Random(seed)
        return [rng.randrange(p) for _ in range(model.D)]

    # incremental elimination vs an echelon form from scratch per batch; sparse vs dense rows
    for spec in ["relu:8,8,8,8", "linear:16,16,16"] if not quick else ["relu:6,6,6,6"]:
        model = parse_spec(spec)
        pt = point_of(model)
        values = [X.values_mod(pt, p) for X in model.generators]
        batches = [values[k:k + 256] for k in range(0, len(values), 256)]

        def incremental(sparse=True):
            B = IncrementalBasis(model.D, p, keep_rows=False)
            kept = []
            for batch in batches:
                rows = batch if sparse else [[v.get(c, 0) for c in range(model.D)]
                                             for v in batch]
                kept.append(B.add(rows))
            return kept

        def from_scratch():
            rows, kept = [], []
            for batch in batches:
                dense = [[v.get(c, 0) for c in range(model.D)] for v in batch]
                picked = independent_rows_mod(rows + dense, model.D, p)
                new = [i - len(rows) for i in picked if i >= len(rows)]
                rows += [dense[i] for i in new]
                kept.append(new)
            return kept

        t_inc, a = timed(incremental, 1)
        t_old, b = timed(from_scratch, 1)
        assert a == b
        ratio_row("rank: incremental", f"{spec} ({len(values)} vec)", "incremental", t_inc,
                  "from scratch", t_old)
        t_dense, c = timed(lambda: incremental(sparse=False), 1)
        assert a == c
        ratio_row("rows: sparse", f"{spec} ({len(values)} vec)", "sparse", t_inc, "dense",
                  t_dense)

    # word values: jets mod p vs expanded words over Q reduced mod p
    for spec in ["linear:2,2,4,4,2", "linear:3,3,3,3"] if not quick else ["linear:2,2,3,3,2"]:
        model = parse_spec(spec)
        g = grow(model.generators, point_of(model), p)
        brackets = {n: (data["left"], data["right"]) for n, data in g.nodes.items()
                    if "left" in data}

        def jets():
            words = WordJets(model.generators, brackets, g.point, p)
            return [words.value(n) for n in g.basis]

        def expanded():
            G = grow(model.generators, g.point, p)  # fresh graph: nothing cached
            return [{v: x for v, x in enumerate(f.evaluate_mod(g.point, p)) if x}
                    for f in G.fields()]

        t_jet, a = timed(jets, 1)
        t_exp, b = timed(expanded, 1)
        assert a == b
        ratio_row("words: jets", f"{spec} depth {len(g.depths) - 1}", "jets mod p", t_jet,
                  "expanded /Q", t_exp)

    # rank of word values: modular vs exact over Q
    for spec in ["linear:8,8,8", "relu-bias:6,6,6,6"] if not quick else ["linear:6,6,6"]:
        model = parse_spec(spec)
        small = [random.Random(1).randrange(-9, 10) for _ in range(model.D)]
        g = grow(model.generators, small, p)
        fields = g.fields()
        exact_rows = [f.evaluate(small) for f in fields]
        mod_rows = [f.evaluate_mod(small, p) for f in fields]

        def over_q():
            m = fmpq_mat(len(exact_rows), model.D,
                         [fmpq(x.numerator, x.denominator) for r in exact_rows for x in r])
            return int(m.rank())

        t_mod, a = timed(lambda: rank_mod(mod_rows, model.D, p))
        t_q, b = timed(over_q, 1)
        assert a == b
        ratio_row("rank: modular", f"{spec} ({len(fields)} words)", "mod p     ", t_mod,
                  "over Q     ", t_q)

    # law search kernel: modular + reconstruction + verification vs exact nullspace
    for spec, degree in [("linear:8,8,8", 2), ("relu:4,4,4", 2)] if not quick else \
            [("linear:4,4,4", 2)]:
        model = parse_spec(spec)
        gens = [_sparse_terms(X) for X in model.generators]
        weights = _grading(gens, model.D)
        blocks: dict = {}
        for mono in _monomials(model.D, degree, False):
            blocks.setdefault(tuple(sum(r[v] * e for v, e in mono) for r in weights),
                              []).append(mono)
        block = max(blocks.values(), key=len)
        rows = _block_rows(block, _by_direction(gens))
        dense = [[r.get(c, 0) for c in range(len(block))] for r in rows]
        t_mod, a = timed(lambda: kernel_Q_modular(rows, len(block), p), 1)
        t_q, b = timed(lambda: kernel_Q(dense, len(block)), 1)
        assert a == b
        ratio_row("kernel: modular", f"{spec} d{degree} block {len(block)}", "modular   ", t_mod,
                  "fmpz exact", t_q)

    # law search: weight blocks vs one block
    for spec, degree in [("linear:4,4,4", 2), ("product:6", 4), ("linear:1,2,2,1", 3)]:
        model = parse_spec(spec)
        t_g, a = timed(lambda: exactcl.laws(model, degree), 1)
        t_u, b = timed(lambda: exactcl.engine.search.find_laws(model.generators, degree,
                                                               graded=False), 1)
        assert a.laws == b.laws
        ratio_row("search: graded", f"{spec} d{degree} ({a.blocks} blocks)", "graded    ", t_g,
                  "one block ", t_u)

    # component values: exact over Q then reduced vs the nmod_mpoly image (switch at
    # MODULAR_TERMS terms); components of deep linear generators of growing size
    for spec in ["linear:2,4,4,2", "linear:2,8,8,2", "linear:2,16,16,2", "linear:2,32,32,2",
                 "linear:2,8,8,8,2", "linear:2,16,16,16,2"]:
        model = parse_spec(spec)
        pt = point_of(model)
        q = max((c for X in model.generators[:1] for _, c in X.components), key=len)
        s = support(q)
        t_q, a = timed(lambda: rational_mod(evaluate(q, pt, s), p), 5)
        t_img, b = timed(lambda: int(modular_image(q, p)(*[x % p for x in pt])), 5)
        assert a == b
        if len(q) <= MODULAR_TERMS:
            ratio_row("values: component", f"{len(q)} terms ({spec})", "over Q    ", t_q,
                      "nmod image", t_img)
        else:
            ratio_row("values: component", f"{len(q)} terms ({spec})", "nmod image", t_img,
                      "over Q    ", t_q)

    # closure check: deterministic identities vs Monte Carlo (two-layer linear nets given
    # as phi, so that no law is exhibited and the count rests on the closure check)
    import sympy
    for n, r in ((2, 2), (2, 3)) if not quick else ((2, 2),):
        U = sympy.Matrix(n, r, lambda i, j: sympy.Symbol(f"u{i}{j}"))
        V = sympy.Matrix(n, r, lambda i, j: sympy.Symbol(f"v{i}{j}"))
        model = exactcl.from_phi(list(U * V.T), list(U) + list(V))
        t_det, a = timed(lambda: exactcl.count(model, search_degree=0,
                                               closure="deterministic"), 1)
        t_mc, b = timed(lambda: exactcl.count(model, search_degree=0, closure="monte-carlo"), 1)
        assert a.laws == b.laws and a.proof == b.proof == "closure"
        ratio_row("closure", f"U V^T given as phi, D={model.D}", "determin. ", t_det,
                  "monte-carlo", t_mc)

    # depth 0: generators in seeded random order vs natural order
    spec = "relu:8,8,8,8" if quick else "relu:16,16,16,16"
    model = parse_spec(spec)
    target = model.D - len(model.candidates)
    pt = point_of(model)
    t_shuf, a = timed(lambda: grow(model.generators, pt, p, target=target).rank, 1)
    saved = growth_module.SHUFFLE_ABOVE
    growth_module.SHUFFLE_ABOVE = math.inf
    try:
        t_nat, b = timed(lambda: grow(model.generators, pt, p, target=target).rank, 1)
    finally:
        growth_module.SHUFFLE_ABOVE = saved
    assert a == b
    ratio_row("generator order", f"{spec} ({len(model.generators)} gen)", "random    ", t_shuf,
              "natural   ", t_nat)
    print()


BASELINE = ["linear:4,4,4", "relu:3,4,5"]


def baseline(quick: bool) -> None:
    """exactcl against the paper's algorithm written naively in SymPy (float ranks)."""
    print("4. exactcl (certified count) against the paper's algorithm written naively in SymPy")
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "naive_baseline.py")
    for spec in BASELINE[:1] if quick else BASELINE:
        ours = measured({"kind": "count", "spec": spec, "degree": None})
        theirs = child({"kind": "naive", "spec": spec, "degree": None, "baseline": here})
        print(f"  {spec:<14} exactcl {ours['seconds']:8.3f} s | naive SymPy "
              f"{theirs['seconds']:8.1f} s | ratio {theirs['seconds'] / ours['seconds']:8.0f} "
              f"| {ours['result']} / {theirs['result']}")
    print()


SWEEP_GRID = ["--family", "linear,relu,relu-bias", "--depth", "4", "--width", "4..5"]
QUICK_SWEEP_GRID = ["--family", "linear,relu-bias", "--depth", "3", "--width", "3..5"]


def sweeps(quick: bool) -> None:
    """The local pool and Dask against one process, on the same grid."""
    import tempfile
    grid = QUICK_SWEEP_GRID if quick else SWEEP_GRID
    print(f"5. Sweeps of `exactcl sweep {' '.join(grid)}` (wall clock of the whole command, "
          f"fresh process each)")
    with tempfile.TemporaryDirectory() as tmp:
        def run(name: str, extra: list[str]) -> float:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "exactcl", "sweep", *grid, "--out",
                                   os.path.join(tmp, name), "-q", *extra], capture_output=True,
                                  text=True, check=False)
            seconds = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(f"sweep {name} failed:\n{proc.stdout}{proc.stderr}")
            return seconds

        times = {"one process": run("serial", ["--jobs", "1"]),
                 "local pool, 2 workers": run("pool", ["--jobs", "2"])}
        try:
            import distributed
        except ImportError:
            distributed = None
        if distributed is not None:
            times["Dask, cluster started by the sweep"] = run(
                "dask-local", ["--engine", "dask", "--jobs", "2"])
            with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                          host="127.0.0.1", dashboard_address=None,
                                          silence_logs=40) as cluster:
                times["Dask, running loopback cluster"] = run(
                    "dask", ["--scheduler", cluster.scheduler_address])
        with open(os.path.join(tmp, "serial", "sweep.json")) as fh:
            n = len(json.load(fh)["cases"])
        names = sorted(os.listdir(os.path.join(tmp, "serial", "certificates")))
        assert len(names) == n
        for folder in os.listdir(tmp):
            for name in names:
                with open(os.path.join(tmp, folder, "certificates", name), "rb") as a, \
                        open(os.path.join(tmp, "serial", "certificates", name), "rb") as b:
                    assert a.read() == b.read(), (folder, name)
    base, pool = times["one process"], times["local pool, 2 workers"]
    for name, t in times.items():
        extra = "" if t is base else f" | speed-up over one process {base / t:4.2f}"
        if "Dask" in name:
            extra += (f" | against the pool {t / pool:4.2f} ({(t - pool) / n * 1000:+.0f} ms "
                      f"per case)")
        print(f"  {name:<36} {t:7.2f} s{extra}")
    print(f"  {n} cases; the certificates of every run are byte-identical")
    if distributed is None:
        print("  (Dask not installed: pip install 'exactcl[dask]' to time it)")
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller cases (under 2 minutes)")
    ap.add_argument("--only", choices=["targets", "growth", "switches", "baseline", "sweeps"])
    ap.add_argument("--baseline", action="store_true",
                    help="also time the naive SymPy baseline (minutes)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    import flint
    start = time.perf_counter()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; python "
          f"{platform.python_version()}, python-flint {flint.__version__}")
    print()
    sections = [("targets", targets), ("growth", growth), ("switches", switches),
                ("baseline", baseline), ("sweeps", sweeps)]
    for name, section in sections:
        if args.only == name or (args.only is None and (name != "baseline" or args.baseline)):
            section(args.quick)
    print(f"suite took {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

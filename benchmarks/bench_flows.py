"""Flows beyond the gradient flow: the speed targets.

Each case is certified (count, certificate) and verified by the
independent verifier (its own file, so with the trusted work limit of
100), in a fresh Python process that reports its time after imports and
its peak resident memory:

* the heavy ball (momentum:1) on linear:4,4,4 and on relu-bias:4,4,4;
* the mirror flow M = diag(theta) on NMF with U of shape 8 x 4 and V of
  shape 8 x 4 (phi = U V^T is 8 x 8; V^T is the 4 x 8 factor).

Usage: python benchmarks/bench_flows.py [--quick]
"""

from __future__ import annotations

import argparse
import platform

CHILD = r"""
import json, os, resource, sys, tempfile, time
job = json.loads(sys.argv[1])
import exactcl, exactcl.certificates.build, exactcl.models.flows, exactcl.kernel.verifier
start = time.perf_counter()
kind, args = job["model"]
model = {"linear": lambda w: exactcl.linear(w), "relu-bias": lambda w: exactcl.relu(w, bias=True),
         "nmf": lambda a: exactcl.models.flows.nmf(*a)}[kind](args)
options = {"flow": job["flow"]} if job["flow"] else {}
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "c.json")
    cert, result = exactcl.certificates.build.certify(model, path, **options)
    made = time.perf_counter()
    report = exactcl.kernel.verifier.verify(path, work_limit=100)
    assert report.ok, str(report)
    out = {"certify": made - start, "verify": time.perf_counter() - made,
           "bytes": os.path.getsize(path)}
out.update(D=result.parameters, laws=result.laws, proof=result.proof, model=result.model)
out["seconds"] = time.perf_counter() - start
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""

# (label, model, flow (None: the model's own), target seconds)
TARGETS = [
    ("momentum on linear:4,4,4", ("linear", [4, 4, 4]), "momentum:1", 10),
    ("momentum on relu-bias:4,4,4", ("relu-bias", [4, 4, 4]), "momentum:1", 10),
    ("mirror flow on NMF, U 8 x 4, V^T 4 x 8", ("nmf", [8, 8, 4]), None, 10),
]
QUICK = ("momentum on linear:4,4,4",)


def run(model, flow, timeout: float) -> dict:
    from bench_blocks import run_child  # a fresh interpreter per case, as there
    return run_child(CHILD, {"model": model, "flow": flow}, timeout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only momentum on linear:4,4,4")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.platform()}\n")
    print("certify + verify (fresh process each, verify with work limit 100)\n")
    print(f"{'case':42s} {'model':48s} {'D':>4s} {'laws':>5s} {'proof':9s} "
          f"{'time (certify + verify)':>24s} {'peak MB':>8s} {'target':>7s}")
    ok = True
    for label, model, flow, target in TARGETS:
        if args.quick and label not in QUICK:
            continue
        out = run(model, flow, 10 * target)
        if "seconds" not in out:
            print(f"{label:42s} failed: {out}")
            ok = False
            continue
        met = out["seconds"] < target
        ok &= met
        both = f"{out['seconds']:.2f} s ({out['certify']:.2f} + {out['verify']:.2f})"
        print(f"{label:42s} {out['model']:48s} {out['D']:4d} {out['laws']!s:>5s} "
              f"{out['proof']:9s} {both:>24s} {out['peak_mb']:8.0f} {f'< {target} s':>7s}"
              f"  {'ok' if met else 'MISSED'}")
    print("\nD: dimension of the space the laws live in (2 D + 1 for momentum: s, theta, theta')")
    print("\nall targets met" if ok else "\nSOME TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

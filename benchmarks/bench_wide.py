"""Wide programs on BLAS against the FLINT path, side by side in one run:
each case built, counted and certified (growth, law checks, the certificate
written) and the certificate verified, with the dense modular kernel (rank
decisions modulo 2^20 - 3, exactcl.kernel.densemod; the evaluator's matrices
on BLAS, values handed over as rows) and with FLINT modulo the 62-bit prime
(the path before it, forced by raising the width threshold); the count, the
time of each stage and the peak memory of each. The cases of the issue: the
residual MLP of D = 6634 (stem 64 -> 32, two residual ReLU blocks of width 32
with biases, head 32 -> 10), linear:64,64,64 (D = 8192), relu-bias:64,64,64,
and a residual MLP of D = 16,978 (width 56; BLAS only: FLINT would take
hours).

Each case runs in its own process (peak memory per run), with one BLAS thread.

Usage: python benchmarks/bench_wide.py [--only NAME] [--new-only]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: label -> (case, targets: {stage: seconds}, peak GB target, FLINT too)
CASES = {
    "residual MLP D=6634": ("res:32", {"total": 30}, None, True),
    "linear:64,64,64": ("linear:64,64,64", {"count": 60}, 4.0, True),
    "relu-bias:64,64,64": ("relu-bias:64,64,64", {"count": 5}, None, True),
    "residual MLP D=16978": ("res:56", {"total": 600}, 8.0, False),
}

_RUN = r"""
import json, pathlib, resource, sys, tempfile, time
sys.path.insert(0, {root!r})
import exactcl
from exactcl import Linear, ReLU, Residual, net
from exactcl.engine import bases, counting
from exactcl.kernel import densemod
from exactcl.kernel.verifier import verify
if {old!r}:
    densemod.WIDE = bases.BLAS_ABOVE = counting.BLAS_ABOVE = 10**9
name = {name!r}
start = time.perf_counter()
if name.startswith("res:"):
    w = int(name[4:])
    def block():
        return Residual(Linear(w, w, bias=True), ReLU(), Linear(w, w, bias=True))
    model = exactcl.from_program(net(Linear(64, w, bias=True), block(), block(),
                                     Linear(w, 10, bias=True)))
else:
    from exactcl.models.specs import parse_spec
    model = parse_spec(name)
built = time.perf_counter()
with tempfile.TemporaryDirectory() as tmp:
    path = pathlib.Path(tmp) / "cert.json"
    _, r = exactcl.certify(model, str(path))
    certified = time.perf_counter()
    report = verify(path, work_limit=10**6)
    verified = time.perf_counter()
print(json.dumps({{"D": r.parameters, "laws": r.laws, "proof": r.proof,
                  "prime": r.growth.prime if r.growth is not None else None,
                  "model": built - start, "count": r.seconds,
                  "certify": certified - built, "verify": verified - certified,
                  "total": verified - start, "status": report.status,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}}))
"""


def _run(name: str, old: bool) -> dict:
    code = _RUN.format(root=str(ROOT), old=old, name=name)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, env={"OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin"})
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _line(r: dict) -> str:
    if "error" in r:
        return f"failed: {r['error']}"
    return (f"{r['laws']} laws ({r['proof']}, prime {r['prime']}, certificate {r['status']}); "
            f"model {r['model']:.1f} s, count {r['count']:.1f} s, count + certificate "
            f"{r['certify']:.1f} s, verify {r['verify']:.1f} s, total {r['total']:.1f} s; "
            f"peak {r['peak_gb']:.1f} GB")


def _targets(r: dict, seconds: dict, peak: float | None) -> str:
    if "error" in r:
        return "failed"
    out = [f"{stage} {r[stage]:.1f} s {'<' if r[stage] < limit else '>='} {limit} s "
           f"({'met' if r[stage] < limit else 'MISSED'})" for stage, limit in seconds.items()]
    if peak is not None:
        out.append(f"peak {r['peak_gb']:.1f} GB {'<' if r['peak_gb'] < peak else '>='} {peak} GB "
                   f"({'met' if r['peak_gb'] < peak else 'MISSED'})")
    return "; ".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="only the cases whose name contains this text")
    ap.add_argument("--new-only", action="store_true", help="skip the FLINT path")
    args = ap.parse_args(argv)
    print(f"Python {platform.python_version()}, {platform.machine()}, one BLAS thread")
    for label, (name, seconds, peak, flint_too) in CASES.items():
        if args.only and args.only not in label:
            continue
        new = _run(name, False)
        print(f"  {label} (D = {new.get('D')}): BLAS {_line(new)}")
        print(f"    targets: {_targets(new, seconds, peak)}")
        if flint_too and not args.new_only:
            old = _run(name, True)
            print(f"  {label}: FLINT {_line(old)}")
            if "error" not in old and "error" not in new:
                same = old["laws"] == new["laws"]
                print(f"    ratio (total) {old['total'] / new['total']:.1f}x, (count) "
                      f"{old['count'] / new['count']:.1f}x; counts "
                      f"{'agree' if same else 'DIFFER'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

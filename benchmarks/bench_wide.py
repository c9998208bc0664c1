"""Wide programs on BLAS against the FLINT path, side by side in one run:
the count (growth and law checks) of each case with the dense modular
kernel (rank decisions modulo 2^20 - 3, exactcl.kernel.densemod) and with
FLINT modulo the 62-bit prime (the path before it, forced by raising the
width threshold), the count, the time and the peak memory of each. The
cases of the issue: the residual MLP of D = 6634 (stem 64 -> 32, two
residual ReLU blocks of width 32 with biases, head 32 -> 10),
linear:64,64,64 (D = 8192) and relu-bias:64,64,64.

Each count runs in its own process (peak memory per run).

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

CASES = {
    "residual MLP D=6634": "res",
    "linear:64,64,64": "linear:64,64,64",
    "relu-bias:64,64,64": "relu-bias:64,64,64",
}

_RUN = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
import exactcl
from exactcl import Linear, ReLU, Residual, net
from exactcl.engine import bases, counting
from exactcl.kernel import densemod
if {old!r}:
    densemod.WIDE = bases.BLAS_ABOVE = counting.BLAS_ABOVE = 10**9
name = {name!r}
if name == "res":
    def block():
        return Residual(Linear(32, 32, bias=True), ReLU(), Linear(32, 32, bias=True))
    model = exactcl.from_program(net(Linear(64, 32, bias=True), block(), block(),
                                     Linear(32, 10, bias=True)))
else:
    from exactcl.models.specs import parse_spec
    model = parse_spec(name)
start = time.perf_counter()
r = exactcl.count(model)
seconds = time.perf_counter() - start
print(json.dumps({{"D": r.parameters, "laws": r.laws, "proof": r.proof, "engine": r.engine,
                  "prime": r.growth.prime if r.growth is not None else None,
                  "seconds": seconds,
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
    return (f"{r['laws']} laws ({r['proof']}, engine {r['engine']}, prime {r['prime']}), "
            f"{r['seconds']:.1f} s, peak {r['peak_gb']:.1f} GB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="only the cases whose name contains this text")
    ap.add_argument("--new-only", action="store_true", help="skip the FLINT path")
    args = ap.parse_args(argv)
    print(f"Python {platform.python_version()}, {platform.machine()}, one BLAS thread")
    for label, name in CASES.items():
        if args.only and args.only not in label:
            continue
        new = _run(name, False)
        print(f"  {label}: BLAS {_line(new)}")
        if not args.new_only:
            old = _run(name, True)
            print(f"  {label}: FLINT {_line(old)}")
            if "error" not in old and "error" not in new:
                same = old["laws"] == new["laws"]
                print(f"    ratio {old['seconds'] / new['seconds']:.1f}x; counts "
                      f"{'agree' if same else 'DIFFER'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

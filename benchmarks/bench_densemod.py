"""The dense modular kernel on BLAS against FLINT, side by side in one run:
the rank of a random n x n matrix, FLINT's ``nmod_mat.rank`` modulo the
62-bit prime the engine's growth takes today, and
``exactcl.kernel.densemod.rank`` modulo a prime below 2^20 (one BLAS product
per update) and below 2^26 (the split product), one BLAS thread unless
``--threads``; medians of ``--repeat`` runs. The target: at least 5x at
n = 4096 and 6634 with one thread.

Usage: python benchmarks/bench_densemod.py [--sizes 1024,2048,4096,6634] [--threads 1]
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from flint import fmpz_mat, nmod_mat  # noqa: E402

from exactcl.kernel import densemod  # noqa: E402

FLINT_PRIME = 4611686018427387847
SMALL, SPLIT = (1 << 20) - 3, (1 << 26) - 5


def _median(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1024,2048,4096,6634")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    densemod.set_threads(args.threads)
    print(f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"{args.threads} BLAS thread(s)")
    ok = True
    for n in map(int, args.sizes.split(",")):
        rng = np.random.default_rng(n)
        M = rng.integers(0, SMALL, size=(n, n))
        rows = M.tolist()
        tf, rf = _median(lambda rows=rows: int(nmod_mat(fmpz_mat(rows), FLINT_PRIME).rank()),
                         args.repeat)
        ts, rs = _median(lambda M=M: densemod.rank(M, SMALL), args.repeat)
        tp, rp = _median(lambda M=M: densemod.rank(M, SPLIT), args.repeat)
        same = rf == rs == rp == n
        ratio = tf / ts
        print(f"  n = {n}: FLINT mod 2^62 {tf:.2f} s; BLAS mod 2^20 {ts:.2f} s "
              f"(ratio {ratio:.1f}x), mod 2^26 {tp:.2f} s (ratio {tf / tp:.1f}x); ranks "
              f"{'agree' if same else 'DIFFER'}")
        if n >= 4096 and ratio < 5:
            ok = False
        ok = ok and same
    print("target met (>= 5x at 4096 and above)" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

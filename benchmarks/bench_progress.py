"""Cost of the progress bar: counts and law searches with and without a reporter.

Each workload runs in turns, in one process: without a reporter (what the
library and ``--quiet`` do), with a reporter drawing to a fake terminal
(what ``exactcl count`` does on a terminal, redrawn at most every
``REDRAW_SECONDS``) and with a reporter that redraws at every step (the
cost throttling saves). It also counts the ``step()`` calls of one run
and times a ``step()`` call outside a reporting block, inside one when
the bar is not due, and one redraw: with at most one redraw every
``REDRAW_SECONDS`` these bound the cost of the bar independently of the
noise of the wall-clock columns (best of the repeats).

Usage: python benchmarks/bench_progress.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import platform
import time
import timeit

import exactcl
from exactcl.engine import progress
from exactcl.engine.search import find_laws
from exactcl.models.specs import parse_spec


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class Counting(progress.Reporter):
    """A reporter that counts its updates (it draws like the real one)."""

    calls = 0

    def update(self, *args, **kwargs) -> None:
        Counting.calls += 1
        super().update(*args, **kwargs)


WORKLOADS = {
    "count relu:16,16,16,16": lambda m: exactcl.count(m),
    "count linear:8,8,8": lambda m: exactcl.count(m),
    "laws relu:3,4,5 deg 3": lambda m: find_laws(m.generators, 3),
}
SPECS = {"count relu:16,16,16,16": "relu:16,16,16,16", "count linear:8,8,8": "linear:8,8,8",
         "laws relu:3,4,5 deg 3": "relu:3,4,5"}
QUICK = ["count linear:8,8,8", "laws relu:3,4,5 deg 3"]


def timed(fn, model, mode: str) -> float:
    start = time.perf_counter()
    if mode == "none":
        fn(model)
    else:
        saved = progress.REDRAW_SECONDS
        progress.REDRAW_SECONDS = 0.0 if mode == "every" else saved
        try:
            with progress.reporting(stream=FakeTTY()):
                fn(model)
        finally:
            progress.REDRAW_SECONDS = saved
    return time.perf_counter() - start


def step_calls(fn, model) -> int:
    Counting.calls = 0
    saved, progress._current = progress._current, Counting(FakeTTY())
    try:
        fn(model)
    finally:
        progress._current = saved
    return Counting.calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}, "
          f"exactcl {exactcl.__version__}")
    noop = min(timeit.repeat(lambda: progress.step("x", 1, 2, "u"), number=100_000,
                             repeat=5)) / 100_000
    with progress.reporting(stream=FakeTTY()) as reporter:
        progress.step("x", 1, 2, "u")  # drawn; the next ones are not due
        quiet = min(timeit.repeat(lambda: progress.step("x", 1, 2, "u"), number=100_000,
                                  repeat=5)) / 100_000
        draw = min(timeit.repeat(reporter.draw, number=10_000, repeat=5)) / 10_000
    print(f"step() outside a reporting block: {noop * 1e9:.0f} ns a call; inside one, "
          f"not drawn: {quiet * 1e9:.0f} ns; one redraw: {draw * 1e6:.1f} us")
    print(f"{'workload':<24} {'steps':>6} {'none s':>8} {'bar s':>8} {'bar/none':>9} "
          f"{'every s':>8} {'every/none':>11} {'bar bound':>10} {'no-op bound':>12}")
    for name in QUICK if args.quick else WORKLOADS:
        fn, model = WORKLOADS[name], parse_spec(SPECS[name])
        fn(model)  # warm caches shared by all modes
        times = {"none": [], "bar": [], "every": []}
        for _ in range(args.repeat):
            for mode in times:
                times[mode].append(timed(fn, model, mode))
        best = {mode: min(t) for mode, t in times.items()}
        calls = step_calls(fn, model)
        draws = 1 + best["none"] / progress.REDRAW_SECONDS
        bound = (calls * quiet + draws * draw) / best["none"]
        print(f"{name:<24} {calls:>6} {best['none']:>8.3f} {best['bar']:>8.3f} "
              f"{best['bar'] / best['none']:>9.3f} {best['every']:>8.3f} "
              f"{best['every'] / best['none']:>11.3f} {bound:>10.4%} "
              f"{calls * noop / best['none']:>12.5%}")


if __name__ == "__main__":
    main()

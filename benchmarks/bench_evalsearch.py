"""The law search by evaluation against the expanded search, side by side.

For each model, in one process: :func:`exactcl.engine.evalsearch.find_laws_by_evaluation`
on a freshly built model (its exact check expands the model when that is
cheap, and the expansion is part of its time) and
:func:`exactcl.engine.search.find_laws` on the expanded generators of another
freshly built one (the expansion is timed apart). Both must return the same
laws; the ratio is expanded (expansion included) over evaluation.

``--switch`` also times the evaluation search with several values of
:data:`exactcl.engine.evalsearch.PYTHON_BLOCK` (blocks reduced in Python up to that
size, by flint above), the benchmark that chose it. ``--grading`` times it
with the sign flips left out (the integer weights alone, the blocks of the
expanded search): how much of the ratio the finer grading makes.

Usage: python benchmarks/bench_evalsearch.py [--quick] [--switch] [--grading] [SPEC ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from exactcl.engine import evalsearch
from exactcl.engine.evalsearch import find_laws_by_evaluation
from exactcl.engine.search import find_laws
from exactcl.models.specs import parse_spec

MODELS = ["linear:4,4,4,4,4", "linear:3,3,3,3", "relu:3,3,3", "relu:4,4,4,4",
          "relu-bias:3,4,3"]
QUICK = ["linear:3,3,3,3", "relu:3,3,3"]
#: Evaluation only (their expanded search is refused or takes minutes).
LARGE = ["linear:8,8,8,8,8,8"]
SWITCH = [0, 4, 8, 16, 32]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def side_by_side(spec: str, degree: int, expanded: bool = True) -> None:
    ev, t_ev = timed(lambda: find_laws_by_evaluation(parse_spec(spec), degree))
    check = "exact" if ev.exact else ev.identities.describe()
    line = (f"{spec:22} deg {degree}  {len(ev.laws):4} laws  evaluation {t_ev:7.2f} s "
            f"({ev.blocks:,} blocks, {check})")
    if expanded:
        model = parse_spec(spec)
        _, t_expand = timed(lambda: model.generators)
        ex, t_search = timed(lambda: find_laws(model.generators, degree))
        same = [str(h) for h in ev.laws] == [str(h) for h in ex.laws]
        total = t_expand + t_search
        line += (f" | expanded {total:7.2f} s (expansion {t_expand:.2f} s, {ex.blocks} blocks)"
                 f"  ratio {total / t_ev:6.1f}  same laws: {same}")
    print(line, flush=True)


def switch(spec: str, degree: int) -> None:
    saved = evalsearch.PYTHON_BLOCK
    try:
        cells = []
        for value in SWITCH:
            evalsearch.PYTHON_BLOCK = value
            _, t = timed(lambda: find_laws_by_evaluation(parse_spec(spec), degree))
            cells.append(f"{value}: {t:.2f} s")
        print(f"PYTHON_BLOCK on {spec} deg {degree}: " + ", ".join(cells), flush=True)
    finally:
        evalsearch.PYTHON_BLOCK = saved


def grading(spec: str, degree: int) -> None:
    saved = evalsearch.sign_flips
    try:
        evalsearch.sign_flips = lambda layout: [0] * layout.D
        res, t = timed(lambda: find_laws_by_evaluation(parse_spec(spec), degree))
    finally:
        evalsearch.sign_flips = saved
    print(f"{spec:22} deg {degree}  {len(res.laws):4} laws  evaluation without sign flips "
          f"{t:7.2f} s ({res.blocks:,} blocks)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", metavar="SPEC")
    parser.add_argument("--quick", action="store_true", help="two small models only")
    parser.add_argument("--switch", action="store_true", help="also time PYTHON_BLOCK values")
    parser.add_argument("--grading", action="store_true",
                        help="also time the evaluation search without the sign flips")
    parser.add_argument("--degree", type=int, default=2)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    specs = args.specs or (QUICK if args.quick else MODELS)
    for spec in specs:
        side_by_side(spec, args.degree)
    if not args.specs and not args.quick:
        for spec in LARGE:
            side_by_side(spec, args.degree, expanded=False)
    if args.grading:
        for spec in (["linear:4,4,4,4,4", "relu:4,4,4,4"] if not args.quick else QUICK):
            grading(spec, args.degree)
    if args.switch:
        for spec in (["linear:4,4,4,4,4", "linear:8,8,8,8,8,8"] if not args.quick else QUICK):
            switch(spec, args.degree)


if __name__ == "__main__":
    main()

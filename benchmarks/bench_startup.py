"""Start-up of ``exactcl count product:3``: this tree against a baseline tree.

Each round runs ``python -m exactcl count product:3`` once per tree in
a fresh interpreter, the order of the trees alternating from round to
round, with ``PYTHONPATH=<tree>`` and a neutral working directory (so the
tree on the path is the one imported; the script checks it). Wall times
are reported as best and median per tree and as the ratio baseline /
current, measured in the same run.

Two modes: with a bytecode cache (what an installed package gives: each
tree compiles once into a cache of its own, warmed before timing) and
compiled from source at every start (``PYTHONDONTWRITEBYTECODE=1``, the
setting of some development shells). Then the import time of the package
as ``python -X importtime`` reports it (cumulative, median of the runs):
``import exactcl`` and ``import exactcl.__main__`` (the command line, the
same path in every tree whatever the package's layout), and whether networkx
or SymPy was loaded by the count.

The baseline is a directory (``--baseline DIR``) or a git revision
(``--rev REV``), extracted with ``git archive`` into a temporary folder
that is removed afterwards.

Usage: python benchmarks/bench_startup.py (--rev REV | --baseline DIR) [-n N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMAND = ["-m", "exactcl", "count", "product:3"]
IMPORTS = {"import exactcl": "exactcl", "import exactcl.__main__": "exactcl, exactcl.__main__"}
HEAVY = ("networkx", "sympy")


@contextlib.contextmanager
def baseline_tree(args: argparse.Namespace) -> Iterator[pathlib.Path]:
    if args.baseline is not None:
        yield pathlib.Path(args.baseline).resolve()
        return
    with tempfile.TemporaryDirectory(prefix="exactcl-baseline-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.rev],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield pathlib.Path(tmp)


def environment(tree: pathlib.Path, cache: pathlib.Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(tree)
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def run(argv: list[str], env: dict[str, str], cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], env=env, cwd=cwd, capture_output=True,
                          text=True, check=True)


def wall(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def cumulative_ms(stderr: str, name: str) -> float:
    """Cumulative import time of ``name`` in a ``-X importtime`` listing."""
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.rsplit("|", 1)[1].strip() == name:
            return int(line.split("|")[1]) / 1000
    return 0.0  # already imported (by site) or not imported


def row(label: str, times: list[float]) -> str:
    return f"    {label:<34} best {min(times):6.3f} s   median {statistics.median(times):6.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--rev", help="git revision of the baseline (extracted with git archive)")
    which.add_argument("--baseline", help="directory holding the baseline tree")
    parser.add_argument("-n", type=int, default=20, help="fresh processes per tree (default 20)")
    args = parser.parse_args()

    with baseline_tree(args) as base, tempfile.TemporaryDirectory(prefix="exactcl-bench-") as tmp:
        trees = {f"baseline {args.rev or base}": base, "current": ROOT}
        for tree in trees.values():
            where = run(["-c", "import exactcl; print(exactcl.__file__)"],
                        environment(tree, None), tmp).stdout.strip()
            if not pathlib.Path(where).is_relative_to(tree):
                sys.exit(f"PYTHONPATH={tree} imports exactcl from {where}")
        print(f"exactcl count product:3 start-up: {args.n} fresh processes per tree, "
              f"alternating (Python {platform.python_version()}, {os.cpu_count()} cores)")
        floor = [wall(["-c", "pass"], environment(ROOT, None), tmp) for _ in range(args.n)]
        print(row("floor: python -c pass", floor))

        for mode in ("bytecode cached", "compiled from source"):
            envs = {}
            for k, (label, tree) in enumerate(trees.items()):
                cache = pathlib.Path(tmp, f"pyc{k}") if mode == "bytecode cached" else None
                envs[label] = environment(tree, cache)
                wall(COMMAND, envs[label], tmp)  # warm the cache and the file system
            times: dict[str, list[float]] = {label: [] for label in trees}
            for i in range(args.n):
                for label in (list(trees) if i % 2 == 0 else list(trees)[::-1]):
                    times[label].append(wall(COMMAND, envs[label], tmp))
            print(f"  {mode}:")
            for label in trees:
                print(row(label, times[label]))
            (old, new) = (times[label] for label in trees)
            print(f"    {'ratio baseline / current':<34} best {min(old) / min(new):6.2f}     "
                  f"median {statistics.median(old) / statistics.median(new):6.2f}")

        print("  import time (python -X importtime, cumulative ms, median; bytecode cached):")
        for k, (label, tree) in enumerate(trees.items()):
            env = environment(tree, pathlib.Path(tmp, f"pyc{k}"))
            parts = []
            for code, name in IMPORTS.items():
                ms = []
                for _ in range(max(3, args.n // 4)):
                    stderr = run(["-X", "importtime", "-c", code], env, tmp).stderr
                    ms.append(sum(cumulative_ms(stderr, m) for m in name.split(", ")))
                parts.append(f"{code}: {statistics.median(ms):6.1f}")
            loaded = run(["-c", "import sys; from exactcl.__main__ import main; main(['count', "
                          "'product:3']); print(sorted({m.split('.')[0] for m in sys.modules} "
                          f"& {set(HEAVY)!r}))"], env, tmp).stdout.splitlines()[-1]
            print(f"    {label:<34} {'; '.join(parts)}; count loads {loaded}")


if __name__ == "__main__":
    main()

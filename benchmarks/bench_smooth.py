"""Smooth activations, the targets of their issue: each module read by
``exactcl.from_torch`` (its forward checked against the module's own), its
laws counted, certified and the certificate verified, with the proof of the
count and the times.

* MLPs 4-5-3 with biases and each of Tanh, Sigmoid, GELU (both forms),
  SiLU, Softplus and ELU: 0 laws, certified, each in under 5 s;
* Linear(4,5), Linear(5,5), Tanh, Linear(5,3): the 15 balancedness laws of
  the first pair and nothing else;
* a tanh MLP 32-32-32-10 with biases (D = 2,442): certified in under a
  minute (translate + count + certify + verify).

Usage: python benchmarks/bench_smooth.py [--only NAME]
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import resource
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import exactcl  # noqa: E402
from exactcl.kernel.verifier import verify  # noqa: E402

#: The verifier's work limit: these certificates are our own (``--work-limit``).
WORK_LIMIT = 1000

TARGET_SMALL, TARGET_WIDE = 5.0, 60.0


def _mlp(act):
    return lambda: nn.Sequential(nn.Linear(4, 5), act(), nn.Linear(5, 3))


#: name -> (module factory, input shape, laws the issue lists, target in seconds)
CASES = {
    "Tanh MLP 4-5-3": (_mlp(nn.Tanh), (4,), 0, TARGET_SMALL),
    "Sigmoid MLP 4-5-3": (_mlp(nn.Sigmoid), (4,), 0, TARGET_SMALL),
    "GELU MLP 4-5-3": (_mlp(nn.GELU), (4,), 0, TARGET_SMALL),
    "GELU(approximate='tanh') MLP 4-5-3": (_mlp(lambda: nn.GELU(approximate="tanh")), (4,), 0,
                                           TARGET_SMALL),
    "SiLU MLP 4-5-3": (_mlp(nn.SiLU), (4,), 0, TARGET_SMALL),
    "Softplus MLP 4-5-3": (_mlp(nn.Softplus), (4,), 0, TARGET_SMALL),
    "ELU MLP 4-5-3": (_mlp(nn.ELU), (4,), 0, TARGET_SMALL),
    "Linear(4,5), Linear(5,5), Tanh, Linear(5,3)": (
        lambda: nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 5), nn.Tanh(), nn.Linear(5, 3)),
        (4,), 15, None),
    "Tanh MLP 32-32-32-10": (
        lambda: nn.Sequential(nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                              nn.Linear(32, 10)), (32,), 0, TARGET_WIDE),
}


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run(name, make, shape, listed, target) -> bool:
    torch.manual_seed(0)
    module = make()
    start = time.perf_counter()
    tm = exactcl.from_torch(module, shape)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "cert.json"
        _, result = tm.certify(str(path))
        made = time.perf_counter() - start
        t0 = time.perf_counter()
        report = verify(path, work_limit=WORK_LIMIT)
        checked = time.perf_counter() - t0
    total = made + checked
    agrees = result.laws == listed and result.proof == "sandwich" and report.status == "verified"
    print(f"  {name}: {tm.program.spec}\n"
          f"    D = {result.parameters}: {result.laws} laws ({result.proof}; {listed} listed: "
          f"{'agrees' if agrees else 'DIFFERS'}); translate + count + certify {made:.1f} s, "
          f"verify {checked:.1f} s ({report.status}, {report.work:,} units); "
          f"peak {_peak_gb():.1f} GB")
    if target is not None:
        print(f"    {'within' if total <= target else 'OVER'} the target of {target:.0f} s "
              f"(all four steps, wall clock: {total:.1f} s)")
        agrees = agrees and total <= target
    return agrees


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="only the cases whose name contains this text")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"exactcl {exactcl.__version__}, torch {torch.__version__}, Python "
          f"{platform.python_version()}, {platform.machine()}")
    ok = True
    for name, (make, shape, listed, target) in CASES.items():
        if args.only and args.only not in name:
            continue
        ok = run(name, make, shape, listed, target) and ok
    print("every target met" if ok else "SOME TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Verification time against certification time, and certificate sizes.

Each model is certified and then verified in the same process, side by
side; the verifier draws fresh primes and re-checks everything. Sizes are
the bytes of the canonical certificate. "+degK" rows also run the law
search of degree K while certifying (what a model without literature
candidates needs).

Usage: python benchmarks/bench_certificates.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import random
import time

import exactcl
from exactcl.certificates.build import certify
from exactcl.kernel.certformat import dumps, loads
from exactcl.kernel.verifier import verify_certificate
from exactcl.models.specs import parse_spec

MODELS = ["product:6", "product:6+deg4", "linear:4,4,4+deg2", "relu:3,4,5+deg2",
          "linear:2,2,2", "linear:3,3,3", "linear:2,3,3,2", "linear:4,4,4,4",
          "linear:1,2,2,1", "relu:3,4,5", "relu-bias:2,3,3,2", "relu:2,2,5,3",
          "linear:8,8,8", "relu-bias:5,6,7,4", "linear:16,16,16", "relu:16,16,16"]
QUICK = MODELS[:12]
SIZES = ["linear:8,8,8", "relu-bias:5,6,7,4"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}, "
          f"exactcl {exactcl.__version__}")
    print(f"{'model':<20} {'D':>5} {'laws':>5} {'proof':<9} {'certify s':>10} {'verify s':>9} "
          f"{'verify/certify':>15} {'bytes':>9}")
    for spec in QUICK if args.quick else MODELS:
        name, _, degree = spec.partition("+deg")
        model = parse_spec(name)
        t0 = time.perf_counter()
        cert, result = certify(model, reproducible=True,
                               search_degree=int(degree) if degree else None)
        text = dumps(cert)
        t1 = time.perf_counter()
        report = verify_certificate(loads(text), rng=random.Random(0))
        t2 = time.perf_counter()
        assert report.ok, str(report)
        print(f"{spec:<20} {result.parameters:>5} {result.laws:>5} {result.proof:<9} "
              f"{t1 - t0:10.3f} {t2 - t1:9.3f} {(t2 - t1) / (t1 - t0):15.2f} {len(text):>9}")
    print()
    for spec in SIZES:
        cert, _ = certify(parse_spec(spec), reproducible=True)
        text = dumps(cert)
        print(f"certificate size {spec}: {len(text):,} bytes "
              f"({len(cert['model']['phi'])} phi components, {len(cert['lie']['words'])} "
              f"bracket words, {len(cert['laws']['polynomials'])} laws)")


if __name__ == "__main__":
    main()

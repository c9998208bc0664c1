"""Block programs (residual, convolutional, attention), in one run.

1. Targets: each case certified (count, certificate) and verified by the
   independent verifier (its own file, so with the trusted work limit of
   100), in a fresh Python process that reports its time after imports and
   its peak resident memory; on the engine ``engine="auto"`` takes and, where
   the expansion is possible within ``--expanded-limit`` seconds, on the
   expanded engine too, side by side (the answers must agree).
2. The block evaluator against the chain evaluator on plain chains, where
   both apply: the values of the same probe fields and bracket words at the
   same point, timed in one process (the chain evaluator is kept for chains
   where it is the faster one; the two must agree).

Usage: python benchmarks/bench_blocks.py [--quick] [--expanded-limit S]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time

CHILD = r"""
import json, os, resource, sys, tempfile, time
job = json.loads(sys.argv[1])
import exactcl, exactcl.certificates.build, exactcl.kernel.verifier
from exactcl.models.specs import parse_spec
start = time.perf_counter()
model = parse_spec(job["spec"])
out = {"D": model.D}
try:
    if job["engine"] == "expanded":
        model.generators  # refused here, with its estimate, when too large to expand
except exactcl.ResourceError as err:
    print(json.dumps({"refused": str(err)}))
    raise SystemExit(0)
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "c.json")
    cert, result = exactcl.certificates.build.certify(model, path, engine=job["engine"])
    made = time.perf_counter()
    report = exactcl.kernel.verifier.verify(path, work_limit=100)
    assert report.ok, str(report)
    out.update(certify=made - start, verify=time.perf_counter() - made,
               bytes=os.path.getsize(path))
out.update(laws=result.laws, proof=result.proof, rank=result.lie_rank, engine=result.engine,
           identities=result.identities.mode if result.identities else "exact")
out["seconds"] = time.perf_counter() - start
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""

RESIDUAL8 = "net:" + ",".join(["Residual(Linear(8,8),ReLU,Linear(8,8))"] * 8)
# (label, spec, target seconds)
TARGETS = [
    ("residual chain, 8 ReLU blocks of width 8", RESIDUAL8, 30),
    ("1-D convolution, 2 layers, 8 channels, kernel 3, length 16",
     "net:Conv1d(8,8,3,length=16),ReLU,Conv1d(8,8,3)", 30),
    ("softmax attention, 4 heads, d = 8, head dimension 4", "net:Attention(8,4,4)", 30),
    ("attention factors, 4 heads, d = 8, head dimension 4", "net:Attention(8,4,4,factors)", 30),
    ("softmax-free attention, 4 heads, d = 8, head dimension 4", "net:LinearAttention(8,4,4)",
     30),
]
QUICK = ("net:Attention(8,4,4,factors)",)


def run(spec: str, engine: str, timeout: float) -> dict:
    return run_child(CHILD, {"spec": spec, "engine": engine}, timeout)


def run_child(code: str, job: dict, timeout: float) -> dict:
    """Run ``code`` in a fresh interpreter with ``job`` (JSON) as its argument;
    its last line of output, read as JSON, or what went wrong."""
    try:
        proc = subprocess.run([sys.executable, "-c", code, json.dumps(job)], check=False,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def targets(quick: bool, expanded_limit: float) -> bool:
    print("1. Targets: certify + verify (fresh process each; * = what engine='auto' takes)\n")
    print(f"{'case':58s} {'D':>5s} {'laws':>5s} {'proof':9s} {'auto':>22s} {'peak MB':>8s} "
          f"{'target':>7s} {'other engine':>14s} {'ratio':>7s}")
    ok = True
    for label, spec, target in TARGETS:
        if quick and spec not in QUICK:
            continue
        auto = run(spec, "auto", 10 * target)
        if "seconds" not in auto:
            print(f"{label:58s} failed: {auto}")
            ok = False
            continue
        other = "expanded" if auto["engine"] == "program" else "program"
        side = run(spec, other, expanded_limit)
        if "seconds" in side:
            agree = (side["laws"], side["proof"]) == (auto["laws"], auto["proof"])
            ok &= agree
            text = f"{side['seconds']:.2f} s {other[:4]}"
            ratio = f"{side['seconds'] / auto['seconds']:6.1f}x"
            if not agree:
                ratio += " DIFFERS"
        else:
            text = f"{other[:4]} refused" if "refused" in side else (
                f"> {expanded_limit:.0f} s" if "timeout" in side else "error")
            ratio = ""
        met = auto["seconds"] < target
        ok &= met
        both = f"{auto['seconds']:.2f} s ({auto['certify']:.2f} + {auto['verify']:.2f})"
        print(f"{label:58s} {auto['D']:5d} {auto['laws']!s:>5s} {auto['proof']:9s} "
              f"{both:>22s} {auto['peak_mb']:8.0f} {'< ' + str(target) + ' s':>7s} "
              f"{text:>14s} {ratio:>7s}  {'ok' if met else 'MISSED'}  [{auto['engine']}*, "
              f"identities {auto['identities']}]")
    print("\n   other engine: the engine auto did not take (expa = expanded, prog = program), "
          "certify + verify; ratio: its time over auto's")
    return ok


def evaluators(quick: bool) -> bool:
    """The same words on a chain, by both evaluators."""
    import random

    from exactcl.kernel import blocks, evaluator
    print("\n2. Chains: the chain evaluator against the block evaluator (same probes, words, "
          "point)\n")
    cases = [[["linear", 8, 8, True], ["relu"]] * 5 + [["linear", 8, 8, False]],
             [["linear", 16, 16, False]] * 4]
    if quick:
        cases = cases[:1]
    ok = True
    for layers in cases:
        chain, block = evaluator.Layout(layers), blocks.BlockLayout(layers)
        prime = 4611686018427387847
        rng = random.Random(0)
        point = [rng.randrange(prime) for _ in range(chain.D)]
        probes = [blocks.random_probe(block, "bench", k) for k in range(64)]
        as_chain = [evaluator.Probe(q.x, [1] * len(chain.sources), q.sigma, q.u) for q in probes]
        brackets = {64 + k: (k, (k + 1) % 64) for k in range(32)}
        brackets.update({96 + k: (k, 64 + k) for k in range(16)})
        times, values = [], []
        for module, layout, prs in ((evaluator, chain, as_chain), (blocks, block, probes)):
            start = time.perf_counter()
            words = module.Words(layout, prs, dict(brackets), point, prime)
            values.append([words.value(n) for n in range(112)])
            times.append(time.perf_counter() - start)
        agree = values[0] == values[1]
        ok &= agree
        name = f"{len([x for x in layers if x[0] == 'linear'])} layers of width {layers[0][2]}"
        print(f"   {name:24s} D = {chain.D:4d}: chain {times[0]:.2f} s, blocks {times[1]:.2f} s, "
              f"blocks / chain = {times[1] / times[0]:.2f}x ({'agree' if agree else 'DIFFER'}; "
              f"64 probe fields, 32 brackets of depth 1 and 16 of depth 2)")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--expanded-limit", type=float, default=120.0)
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, {platform.platform()}\n")
    ok = targets(args.quick, args.expanded_limit)
    ok &= evaluators(args.quick)
    print("\nall targets met, answers agree" if ok else "\nSOME TARGET MISSED OR ANSWERS DIFFER")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

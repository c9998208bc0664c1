"""PyTorch: the monitor's overhead on a training step, and the bridge's time.

(a) A training step of the tutorial's digits MLP (64-16-10, ReLU, biases,
full batch of 1797 images, cross-entropy, float64, SGD) with and without
the monitor (``monitor.step()`` after it, or the monitor attached to the
optimizer, ``monitor.attach(opt)``, which records inside ``opt.step()``),
on two copies of the same network: each round
times one plain step and one monitored step, their order alternating from
round to round; the medians over the rounds are printed, with the larger
of the ratios of their medians and of their means (a monitor recording
every 10th step costs nothing at 9 steps of 10, so only the mean shows it),
once for the 16 laws of ``exactcl.from_torch`` (evaluated together) and
once for the same laws written by hand as 16 separate torch functions,
each with the laws recorded at every step and at every 10th; and once
with no monitor on either network, the bias and noise of the measure
itself.

(b) ``exactcl.from_torch`` then ``certify`` (count, certificate written,
no verification) for a 4-layer ReLU MLP 64-32-32-10 (widths of its four
layers of units, biases: D = 3466) and a residual MLP of width 32 with 2
blocks (64 -> 32 stem, ReLU, two blocks x + W2 relu(W1 x + b1) + b2 each
followed by a ReLU, 32 -> 10 head: D = 6634), each timed once in this
process, with the peak resident memory of the process after it.

torch runs on one thread unless ``--threads`` says otherwise: on a net this
small, threads cost more than they give (on a 2-core machine a step took
48 ms on two threads, 1 ms on one).

Usage: python benchmarks/bench_torch.py [--rounds N] [--threads T] [--skip-bridge]
"""

from __future__ import annotations

import argparse
import pathlib
import platform
import resource
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from torch import nn  # noqa: E402

import exactcl  # noqa: E402
from exactcl.torch.monitor import LawMonitor  # noqa: E402

#: Overhead the monitor may add to a training step of the digits MLP.
TARGET_OVERHEAD = 0.10
#: Time to translate and certify each bridge case, in seconds.
TARGET_BRIDGE = 60.0


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)).double()


def _hand_law(j):
    def law(m):
        return m[0].weight[j].pow(2).sum() + m[0].bias[j] ** 2 - m[2].weight[:, j].pow(2).sum()
    return law


def overhead(rounds: int) -> None:
    X, y = load_digits(return_X_y=True)
    X, y = torch.tensor(X / 16.0), torch.tensor(y)
    bridge = exactcl.from_torch(_mlp(), (64,))
    together, by_hand = bridge.laws(), [_hand_law(j) for j in range(16)]
    kinds = {"no monitor on either (the noise floor)": (None, 1, False),
             "from_torch laws (evaluated together)": (together, 1, False),
             "hand-written laws (one call each)": (by_hand, 1, False),
             "from_torch laws, every=10": (together, 10, False),
             "hand-written laws, every=10": (by_hand, 10, False),
             "from_torch laws, attached to the optimizer": (together, 1, True),
             "attached to the optimizer, every=10": (together, 10, True)}
    print(f"(a) monitor overhead: digits MLP 64-16-10, full batch, SGD, median of {rounds} "
          f"interleaved rounds")
    for name, (laws, every, attached) in kinds.items():
        nets = [_mlp(), _mlp()]
        opts = [torch.optim.SGD(n.parameters(), lr=0.01) for n in nets]
        mon = None if laws is None else LawMonitor(nets[1], laws, every=every)
        if attached:
            mon.attach(opts[1])  # the optimizer's step counts: no call below
        by_call = None if attached else mon

        def step(k, _nets=nets, _opts=opts, _mon=by_call):
            t = time.perf_counter()
            _opts[k].zero_grad()
            nn.functional.cross_entropy(_nets[k](X), y).backward()
            _opts[k].step()
            if k == 1 and _mon is not None:
                _mon.step()
            return time.perf_counter() - t

        for _ in range(10):  # warm-up
            step(0), step(1)
        times: list[list[float]] = [[], []]
        for r in range(rounds):
            for k in ((0, 1) if r % 2 == 0 else (1, 0)):
                times[k].append(step(k))
        plain, watched = (statistics.median(t) for t in times)
        # with every > 1 most steps record nothing: the mean carries the cost
        ratio = max(watched / plain, statistics.fmean(times[1]) / statistics.fmean(times[0]))
        verdict = "within" if ratio - 1 < TARGET_OVERHEAD else "OVER"
        print(f"  {name:43s} step {plain * 1e3:6.2f} ms, with the monitor "
              f"{watched * 1e3:6.2f} ms: ratio {ratio:.3f} ({verdict} the "
              f"{TARGET_OVERHEAD:.0%} target)")


def _bridge_cases():
    from exactcl.torch.bridge import Residual
    torch.manual_seed(0)
    deep = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 10))
    residual = nn.Sequential(nn.Linear(64, 32), nn.ReLU(),
                             Residual(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32)),
                             nn.ReLU(),
                             Residual(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 32)),
                             nn.ReLU(), nn.Linear(32, 10))
    return {"ReLU MLP 64-32-32-10 (4 layers of units)": deep,
            "residual MLP, width 32, 2 blocks": residual}


def bridge() -> None:
    print("(b) from_torch + certify, one run each")
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, module) in enumerate(_bridge_cases().items()):
            t = time.perf_counter()
            tm = exactcl.from_torch(module, (64,))
            translated = time.perf_counter() - t
            try:
                _, result = tm.certify(str(pathlib.Path(tmp) / f"{k}.json"))
            except exactcl.ResourceError as err:
                print(f"  {name:38s} refused: {err}")
                continue
            total = time.perf_counter() - t
            verdict = "within" if total < TARGET_BRIDGE else "OVER"
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KB -> GB
            print(f"  {name:40s} D = {result.parameters}, translate {translated:5.2f} s, "
                  f"translate + certify {total:6.1f} s ({verdict} the {TARGET_BRIDGE:.0f} s "
                  f"target): {result.laws} laws, proof {result.proof}; peak memory so far "
                  f"{peak:.2f} GB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-bridge", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"== {platform.machine()}, Python {platform.python_version()}, torch "
          f"{torch.__version__}, {args.threads} thread(s)")
    overhead(args.rounds)
    if not args.skip_bridge:
        bridge()
    return 0


if __name__ == "__main__":
    sys.exit(main())

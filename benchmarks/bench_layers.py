"""The layers researchers train with: every module of the list below read by
``exactcl.from_torch`` (its forward checked against the module's own), its
laws counted, certified and the certificate verified, one run each, with the
proof of the count, the figures and the time; a module exactcl refuses is
printed with its one-line refusal.

The list: a LeakyReLU MLP; an MLP with Dropout (eval) and Identity;
BatchNorm1d (training mode, batches of 8) and LayerNorm after the first
layer (eps = 0 and torch's 1e-5); BatchNorm2d (training mode, batches of
8) after a padded convolution;
a CNN with ``padding=1`` convolutions; an MLP with a LogSoftmax head;
``MultiheadAttention(bias=True)``; ``TransformerEncoderLayer(d_model=4,
nhead=2, dim_feedforward=8, dropout=0)`` in eval mode, and the same block
written without normalisation (attention and a ReLU MLP per token, each
with its residual); ``Embedding(6, 3)``
then ``Linear(3, 2)``; a LeNet-style CNN (Conv2d, ReLU, MaxPool2d, Conv2d,
ReLU, AvgPool2d, Flatten, Linear) at 4-5-3-like sizes; and (``--lenet``) a
LeNet-5-shaped network at reduced width on 28 x 28 images (D = 3,146),
whose target is a certificate in under two minutes on a 2-core machine.

Usage: python benchmarks/bench_layers.py [--lenet] [--only NAME]
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
from exactcl.errors import ExactclError  # noqa: E402
from exactcl.kernel.verifier import verify  # noqa: E402

#: Seconds the LeNet-5-shaped network may take (translate, count, certify).
TARGET_LENET = 120.0
#: The verifier's work limit: these certificates are our own, so trusted
#: (``exactcl verify --work-limit``); the units spent are printed.
WORK_LIMIT = 1000


def _seeded(make):
    def build():
        torch.manual_seed(0)
        return make()
    return build


def _mlp(*middle, last=()):
    return nn.Sequential(nn.Linear(4, 5), *middle, nn.Linear(5, 3), *last)


#: The batch a BatchNorm1d in training mode normalises over (from_torch's batch_size).
BATCH = 8

#: name -> (module factory, example input shape, eval mode[, from_torch keywords])
CASES = {
    "LeakyReLU MLP 4-5-3": (lambda: _mlp(nn.LeakyReLU()), (4,), False),
    "MLP with Dropout (eval) and Identity": (
        lambda: nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Dropout(0.5), nn.Identity(),
                              nn.Linear(5, 3)), (4,), True),
    "BatchNorm1d after the first layer, eps=0 (torch refuses it in training)": (
        lambda: _mlp(nn.BatchNorm1d(5, eps=0.0), nn.ReLU()), (4,), False,
        {"batch_size": BATCH}),
    "BatchNorm1d after the first layer, eps=0, written in exactcl's API": (
        lambda: exactcl.net(exactcl.Linear(4, 5, bias=True),
                            exactcl.BatchNorm1d(5, batch=BATCH, eps=0), exactcl.ReLU(),
                            exactcl.Linear(5, 3, bias=True)), None, False),
    "BatchNorm1d after the first layer, eps=1e-5": (
        lambda: _mlp(nn.BatchNorm1d(5), nn.ReLU()), (4,), False, {"batch_size": BATCH}),
    "BatchNorm2d after a padding=1 convolution, eps=1e-5": (
        lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 3)),
        (1, 6, 6), False, {"batch_size": BATCH}),
    "LayerNorm after the first layer, eps=0": (
        lambda: _mlp(nn.LayerNorm(5, eps=0.0), nn.ReLU()), (4,), False),
    "LayerNorm after the first layer, eps=1e-5": (
        lambda: _mlp(nn.LayerNorm(5), nn.ReLU()), (4,), False),
    "LeNet-style CNN": (
        lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(2, 3, 2), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                              nn.Linear(3, 2)), (1, 8, 8), False),
    "CNN with padding=1 convolutions": (
        lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
                              nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                              nn.Linear(2 * 4 * 4, 3)), (1, 4, 4), False),
    "MultiheadAttention(bias=True)": (
        lambda: nn.MultiheadAttention(4, 2, bias=True, batch_first=True), (3, 4), False),
    "TransformerEncoderLayer(4, 2, 8, dropout=0), eval": (
        lambda: nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0), (3, 4),
        True),
    "the same block written without normalisation": (lambda: _Block(), (3, 4), True),
    "Embedding(6, 3) then Linear(3, 2)": (
        lambda: nn.Sequential(nn.Embedding(6, 3), nn.Linear(3, 2)), (), False),
    "MLP with a LogSoftmax head": (lambda: _mlp(nn.ReLU(), last=(nn.LogSoftmax(dim=-1),)),
                                   (4,), False),
}


class _Block(nn.Module):
    """A transformer block written without normalisation: biased two-head
    self-attention and a ReLU MLP per token, each with its residual."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x):
        x = x + self.attn(x, x, x, need_weights=False)[0]
        return x + self.fc2(torch.relu(self.fc1(x)))


def _lenet():
    """LeNet-5's shape at reduced width on 28 x 28: conv 5x5 1->4, ReLU, max
    pool 2, conv 5x5 4->8, ReLU, average pool 2, flatten (128), 128 -> 16,
    ReLU, 16 -> 10; biases everywhere: D = 104 + 808 + 2,064 + 170 = 3,146."""
    return nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 5),
                         nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(128, 16),
                         nn.ReLU(), nn.Linear(16, 10))


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run(name, make, shape, eval_mode, target=None, keywords=None) -> None:
    module = _seeded(make)()
    if eval_mode and isinstance(module, nn.Module):
        module.eval()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        # a torch module is translated (and checked against its forward); a program is not
        tm = (exactcl.from_torch(module, shape, **(keywords or {}))
              if isinstance(module, nn.Module) else module)
        with tempfile.TemporaryDirectory() as tmp:
            path = pathlib.Path(tmp) / "cert.json"
            _, result = (tm.certify(str(path)) if isinstance(module, nn.Module) else
                         exactcl.certify(tm, str(path)))
            made, made_cpu = time.perf_counter() - start, time.process_time() - cpu
            t0 = time.perf_counter()
            report = verify(path, work_limit=WORK_LIMIT)
            checked = time.perf_counter() - t0
    except ExactclError as err:
        print(f"  {name}: refused in {time.perf_counter() - start:.1f} s: {err}")
        return
    what = (f"{result.laws} laws ({result.proof})" if result.laws is not None
            else f"only bounds: {result.lower} to {result.upper} laws")
    spec = tm.program.spec if isinstance(module, nn.Module) else tm.spec
    checked_by = tm.checked if isinstance(module, nn.Module) else "(no torch module)"
    print(f"  {name}: {spec}\n"
          f"    D = {result.parameters}: {what}; forward checked: {checked_by}; "
          f"translate + count + certify {made:.1f} s; verify {checked:.1f} s: "
          f"{report.status}; peak {_peak_gb():.1f} GB")
    print(f"    (CPU time of translate + count + certify {made_cpu:.1f} s; verify spent "
          f"{report.work:,} units of work)")
    if target is not None:
        verdict = "within" if made <= target else "OVER"
        print(f"    {verdict} the target of {target:.0f} s (wall clock)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lenet", action="store_true",
                    help="also the LeNet-5-shaped network (D = 3,146, about two minutes)")
    ap.add_argument("--only", help="only the case whose name contains this text")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"exactcl {exactcl.__version__}, torch {torch.__version__}, Python "
          f"{platform.python_version()}, {platform.machine()}")
    cases = dict(CASES)
    if args.lenet:
        cases["LeNet-5-shaped, reduced width, 28 x 28 (D = 3,146)"] = (_lenet, (1, 28, 28),
                                                                      False)
    for name, (make, shape, eval_mode, *keywords) in cases.items():
        if args.only and args.only not in name:
            continue
        run(name, make, shape, eval_mode, TARGET_LENET if make is _lenet else None,
            keywords[0] if keywords else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

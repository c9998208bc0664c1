"""The Lightning callback: a LawMonitor attached to the trainer's optimizer
for the run, recording what a loop written by hand records; skipped where
Lightning is not installed (the ``lightning`` extra)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from exactcl.errors import InputError

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_callback_module_imports_without_lightning_and_says_which_extra():
    code = ("import sys\n"
            "sys.modules['lightning'] = sys.modules['pytorch_lightning'] = None\n"
            "import exactcl.torch.callbacks as c\n"
            "try:\n"
            "    c.LawMonitorCallback\n"
            "except Exception as err:\n"
            "    print(type(err).__name__, err)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ("UnsupportedError LawMonitorCallback needs PyTorch Lightning: "
                                   "pip install 'exactcl[lightning]'.")


def test_importing_exactcl_torch_loads_no_lightning():
    code = ("import sys, exactcl, exactcl.torch, exactcl.torch.monitor, exactcl.torch.callbacks\n"
            "print(sorted(m for m in ('lightning', 'pytorch_lightning') if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


torch = pytest.importorskip("torch")
nn = torch.nn


def _lightning():
    return pytest.importorskip("lightning.pytorch")


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()


def _data():
    g = torch.Generator().manual_seed(1)
    return (torch.randn(32, 4, generator=g, dtype=torch.float64),
            torch.randn(32, 2, generator=g, dtype=torch.float64))


def _module_class(pl):
    class Regression(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _net()

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.mse_loss(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.05)

    return Regression


def _fit(pl, callback, steps, batch=32, accumulate=1):
    x, y = _data()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                         batch_size=batch, shuffle=False)
    model = _module_class(pl)()
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, accumulate_grad_batches=accumulate,
                         num_sanity_val_steps=0, callbacks=[callback])
    trainer.fit(model, loader)
    return model, trainer


def _flat(rows):
    return [v for row in rows for v in row]


def _by_hand(laws, steps, batch=32, accumulate=1, every=1):
    from exactcl.torch.monitor import LawMonitor
    net = _net()
    x, y = _data()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    mon = LawMonitor(net, laws, every=every)
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]
    k = 0
    for _ in range(steps):
        opt.zero_grad()
        for _ in range(accumulate):
            xb, yb = batches[k % len(batches)]
            k += 1
            (nn.functional.mse_loss(net(xb), yb) / accumulate).backward()
        opt.step()
        mon.step()
    return mon


def test_the_callback_records_what_a_loop_by_hand_records():
    pl = _lightning()
    import exactcl
    from exactcl.torch.callbacks import LawMonitorCallback
    laws = exactcl.from_torch(_net(), (4,)).laws()
    callback = LawMonitorCallback(laws, module="net", every=2)
    model, trainer = _fit(pl, callback, steps=5)
    mon = callback.monitor
    assert mon.steps == [0, 2, 4]
    expected = _by_hand(laws, 5, every=2)
    assert _flat(mon.values) == pytest.approx(_flat(expected.values), rel=1e-12, abs=1e-14)
    # detached at the end of training: the optimizer keeps no hook of ours
    assert mon.optimizer is None
    assert dict(trainer.optimizers[0]._optimizer_step_post_hooks) == {}


def test_gradient_accumulation_counts_optimizer_steps_not_batches():
    pl = _lightning()
    import exactcl
    from exactcl.torch.callbacks import LawMonitorCallback
    laws = exactcl.from_torch(_net(), (4,)).laws()
    callback = LawMonitorCallback(laws, module=lambda m: m.net)
    _fit(pl, callback, steps=3, batch=8, accumulate=2)
    assert callback.monitor.steps == [0, 1, 2, 3]
    expected = _by_hand(laws, 3, batch=8, accumulate=2)
    assert _flat(callback.monitor.values) == pytest.approx(_flat(expected.values), rel=1e-9,
                                                           abs=1e-12)


def test_bad_arguments_are_refused_by_name():
    _lightning()
    from exactcl.torch.callbacks import LawMonitorCallback
    with pytest.raises(InputError, match="Argument 'laws' must be a non-empty sequence"):
        LawMonitorCallback([])
    with pytest.raises(InputError, match="Argument 'every' must be a positive int, not 0"):
        LawMonitorCallback([lambda m: 1.0], every=0)
    with pytest.raises(InputError, match="Argument 'module' must be None"):
        LawMonitorCallback([lambda m: 1.0], module=3)
    pl = _lightning()
    callback = LawMonitorCallback([lambda m: 1.0], module="nope")
    with pytest.raises(InputError, match="Argument 'module' names 'nope', which the "
                                         "LightningModule Regression does not have"):
        _fit(pl, callback, steps=1)

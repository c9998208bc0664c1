"""The monitor of laws along training: what it records, and that what it
measures behaves as the theory says (a law drifts like step^2, anything
else like step)."""

from __future__ import annotations

import math
import pathlib
import subprocess
import sys

import pytest

from exactcl.errors import InputError
from exactcl.torch.monitor import LawMonitor, drift_scale

ROOT = pathlib.Path(__file__).resolve().parents[1]
STEP_SIZES = (0.0025, 0.005, 0.01, 0.02)


class _Law:
    """A hand-made law: a callable with the attributes the bridge gives its laws."""

    def __init__(self, fn, label, text=""):
        self.fn, self.label, self.text = fn, label, text

    def __call__(self, module):
        return self.fn(module)


def _neuron_law(j):
    return _Law(lambda m: m[0].weight[j].pow(2).sum() - m[2].weight[:, j].pow(2).sum(),
                f"neuron {j} of hidden layer 1", f"|W1[{j},:]|^2 - |W2[:,{j}]|^2")


def _norm(m):
    return sum(p.pow(2).sum() for p in m.parameters())


def _train(eta, steps, laws, every=1, optimizer="sgd"):
    """Full-batch training of a 4-3-2 ReLU net on fixed random data, float64."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU(),
                        nn.Linear(3, 2, bias=False)).double()
    x = torch.randn(16, 4, dtype=torch.float64)
    y = torch.randn(16, 2, dtype=torch.float64)
    opt = (torch.optim.SGD(net.parameters(), lr=eta) if optimizer == "sgd"
           else torch.optim.Adam(net.parameters(), lr=eta))
    mon = LawMonitor(net, laws, every=every)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        opt.step()
        mon.step()
    return mon


def _exponent(xs, ys):
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return (sum((a - mx) * (b - my) for a, b in zip(lx, ly))
            / sum((a - mx) ** 2 for a in lx))


def test_records_at_steps_zero_every_and_multiples():
    mon = _train(0.01, 10, [_neuron_law(0), _neuron_law(1)], every=3)
    assert mon.steps == [0, 3, 6, 9]
    assert [len(v) for v in mon.values] == [4, 4] and [len(d) for d in mon.drift] == [4, 4]
    assert [d[0] for d in mon.drift] == [0.0, 0.0]
    assert mon.labels == ["neuron 0 of hidden layer 1", "neuron 1 of hidden layer 1"]
    assert mon.scale == drift_scale([v[0] for v in mon.values])
    record = mon.as_dict()
    assert record["steps"] == mon.steps and record["laws"][1]["values"] == mon.values[1]
    assert record["laws"][0]["text"] == "|W1[0,:]|^2 - |W2[:,0]|^2"


def test_values_are_the_laws_at_those_steps():
    torch = pytest.importorskip("torch")
    law = _neuron_law(2)
    mon = _train(0.02, 4, [law])
    with torch.no_grad():
        assert mon.values[0][-1] == float(law(mon.module))
    # evaluated without recording anything for autograd
    assert all(p.grad is None or not p.grad.requires_grad for p in mon.module.parameters())
    assert torch.is_grad_enabled()


def test_a_conserved_law_drifts_like_the_square_of_the_step():
    laws = [_neuron_law(j) for j in range(3)]
    final = [_train(eta, 10, laws).max_drift() for eta in STEP_SIZES]
    assert all(0 < d < 1e-2 for d in final), final
    assert 1.6 < _exponent(STEP_SIZES, final) < 2.4, final


def test_a_function_that_is_not_conserved_drifts_at_first_order():
    final = [_train(eta, 10, [_Law(_norm, "|theta|^2")]).max_drift() for eta in STEP_SIZES]
    assert 0.7 < _exponent(STEP_SIZES, final) < 1.3, final
    # and the laws, under Adam (not a gradient flow), drift at first order too
    laws = [_neuron_law(j) for j in range(3)]
    adam = [_train(eta / 10, 10, laws, optimizer="adam").max_drift() for eta in STEP_SIZES]
    assert 0.7 < _exponent(STEP_SIZES, adam) < 1.3, adam


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    mon = _train(0.02, 12, [_neuron_law(j) for j in range(3)], every=2)
    path = mon.plot(tmp_path / "drift.png", title="4-3-2 ReLU net, SGD")
    assert pathlib.Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["drift.png"]  # no temporary file left
    with pytest.raises(InputError, match="'-o' must name a .png, .svg or .pdf"):
        mon.plot(tmp_path / "drift.jpg")


def test_bad_input_is_refused_by_name():
    with pytest.raises(InputError, match="Argument 'laws' must be a non-empty sequence"):
        LawMonitor({}, [])
    with pytest.raises(InputError, match="Argument 'every' must be a positive int, not 0"):
        LawMonitor({}, [lambda m: 1.0], every=0)
    with pytest.raises(InputError, match=r"Law 0 \(law 0\) must give one number"):
        LawMonitor({}, [lambda m: [1.0, 2.0]])
    with LawMonitor({}, [lambda m: 1.0]) as mon:
        mon.step()
    with pytest.raises(InputError, match="closed"):
        mon.step()
    assert mon.steps == [0, 1]


def test_a_refused_record_leaves_the_earlier_ones_whole():
    state = {"x": 1.0}
    mon = LawMonitor(state, [lambda m: 2.0, lambda m: m["x"]])
    state["x"] = math.inf
    with pytest.raises(InputError, match=r"Law 1 \(law 1\) must give a finite number, not inf "
                                         r"at step 1"):
        mon.step()
    assert mon.steps == [0] and mon.values == [[2.0], [1.0]]


def test_laws_recorded_by_a_monitor_stay_differentiable():
    """The monitor evaluates in inference mode; what the laws keep from that
    first call must still serve a call that autograd records."""
    torch = pytest.importorskip("torch")
    import exactcl
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(),
                              torch.nn.Linear(2, 1)).double()
    laws = exactcl.from_torch(net, (3,)).laws()
    LawMonitor(net, laws)
    laws[0](net).backward()
    assert net[0].weight.grad is not None


def test_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import exactcl, exactcl.torch.monitor\n"
            "m = exactcl.torch.monitor.LawMonitor({'u': 2.0}, [lambda m: m['u'] ** 2])\n"
            "m.step(); print(m.steps, m.values)\n"
            "assert sys.modules['torch'] is None\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[0, 1] [[4.0, 4.0]]"


def test_readme_and_ci_install_the_same_extras():
    readme = (ROOT / "README.md").read_text()
    command = readme.split("Install and run the tests:", 1)[1].split("```bash\n", 1)[1]
    command = command.split("```", 1)[0].strip()
    assert "'.[test,torch,lightning]'" in command  # the Lightning callback is tested in CI
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_laws_of_the_bridge_are_recorded_together_and_alike():
    torch = pytest.importorskip("torch")
    import exactcl
    nn = torch.nn
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    laws = exactcl.from_torch(net, (3,)).laws()
    picked = [laws[2], laws[0]]  # a subset, out of order
    mon = LawMonitor(net, picked)
    with torch.no_grad():
        assert [v[0] for v in mon.values] == [float(law(net)) for law in picked]
    assert mon.labels == [laws[2].label, laws[0].label]

"""A LawMonitor attached to an optimizer: every optimizer step is counted by
the optimizer's own post-step hook, the values are those a monitor stepped
by hand records, and detaching leaves the optimizer as it was."""

from __future__ import annotations

import pytest

from exactcl.errors import InputError
from exactcl.torch.monitor import Attachment, LawMonitor

torch = pytest.importorskip("torch")
nn = torch.nn


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()


def _laws():
    import exactcl
    return exactcl.from_torch(_net(), (4,)).laws()


def _data():
    g = torch.Generator().manual_seed(1)
    return (torch.randn(16, 4, generator=g, dtype=torch.float64),
            torch.randn(16, 2, generator=g, dtype=torch.float64))


def _step(net, opt, x, y):
    opt.zero_grad()
    nn.functional.mse_loss(net(x), y).backward()
    opt.step()


def _hooks(opt):
    return dict(opt._optimizer_step_post_hooks)


def test_attached_records_what_a_monitor_stepped_by_hand_records():
    laws, (x, y) = _laws(), _data()
    runs = []
    for attached in (True, False):
        net = _net()
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.5)
        mon = LawMonitor(net, laws, every=2)
        if attached:
            mon.attach(opt)
        for _ in range(7):
            _step(net, opt, x, y)
            if not attached:
                mon.step()
        runs.append(mon)
    assert runs[0].steps == runs[1].steps == [0, 2, 4, 6]
    assert runs[0].values == runs[1].values
    assert runs[0].max_drift() > 0


def test_detaching_restores_the_optimizer_and_keeps_the_records():
    net, (x, y) = _net(), _data()
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    other = opt.register_step_post_hook(lambda o, a, k: None)  # someone else's hook stays
    before = _hooks(opt)
    mon = LawMonitor(net, _laws())
    handle = mon.attach(opt)
    assert isinstance(handle, Attachment) and mon.optimizer is opt
    assert len(_hooks(opt)) == len(before) + 1
    _step(net, opt, x, y)
    handle.remove()
    assert _hooks(opt) == before and mon.optimizer is None
    handle.remove()  # twice: nothing more
    _step(net, opt, x, y)
    assert mon.steps == [0, 1]
    mon.step()  # counted by hand again once detached
    assert mon.steps == [0, 1, 2]
    # detach() does the same, and the monitor may be attached again
    mon.attach(opt)
    mon.detach()
    assert _hooks(opt) == before
    other.remove()


def test_attaching_twice_is_refused_and_steps_by_hand_while_attached_too():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    mon = LawMonitor(net, _laws())
    mon.attach(opt)
    before = _hooks(opt)
    with pytest.raises(InputError, match="Argument 'optimizer': this LawMonitor is already "
                                         "attached to this optimizer; detach it first"):
        mon.attach(opt)
    second = torch.optim.SGD(net.parameters(), lr=0.01)
    with pytest.raises(InputError, match="already attached to another optimizer"):
        mon.attach(second)
    assert _hooks(opt) == before and _hooks(second) == {}
    with pytest.raises(InputError, match="attached to an optimizer, which counts its steps"):
        mon.step()
    assert mon.steps == [0]


def test_bad_optimizer_is_refused_by_name():
    mon = LawMonitor(_net(), _laws())
    with pytest.raises(InputError, match="Argument 'optimizer' must be a "
                                         "torch.optim.Optimizer, not 'sgd'"):
        mon.attach("sgd")


def test_a_with_block_detaches_and_closes():
    net, (x, y) = _net(), _data()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    with LawMonitor(net, _laws()) as mon:
        mon.attach(opt)
        _step(net, opt, x, y)
    assert _hooks(opt) == {}
    _step(net, opt, x, y)  # not counted, and no error from the optimizer
    assert mon.steps == [0, 1]
    with pytest.raises(InputError, match="closed"):
        mon.attach(opt)


def test_an_attachment_is_a_context_manager():
    net, (x, y) = _net(), _data()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    mon = LawMonitor(net, _laws(), every=3)
    with mon.attach(opt):
        for _ in range(6):
            _step(net, opt, x, y)
    assert _hooks(opt) == {} and mon.steps == [0, 3, 6]
    assert repr(mon).startswith("LawMonitor(3 laws, 3 records to step 6")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_padded_table_of_terms_gives_what_the_matrix_of_coefficients_gives(
        monkeypatch, dtype):
    """The fast layout of the laws' terms (laws x terms, padded) against the
    matrix of coefficients, on laws of equal and unequal lengths (a ReLU
    layer's per-neuron laws, a linear layer's balancedness), values and
    gradients."""
    import exactcl
    from exactcl.torch import laws as bridge_laws
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3, bias=False),
                        nn.Linear(3, 2)).to(dtype)
    tm = exactcl.from_torch(net, (4,))
    result = tm.count()
    got = []
    # the padded table, the matrix of coefficients, the terms summed by index
    for factor, dense in ((bridge_laws.PADDED_FACTOR, bridge_laws.DENSE_ENTRIES),
                          (0, bridge_laws.DENSE_ENTRIES), (0, 0)):
        monkeypatch.setattr(bridge_laws, "PADDED_FACTOR", factor)
        monkeypatch.setattr(bridge_laws, "DENSE_ENTRIES", dense)
        laws = tm.laws(result)
        assert laws[0]._shared.padded == (factor > 0)
        values = laws[0].all(net)
        net.zero_grad()
        values.sum().backward()
        got.append((values.detach(), [p.grad.clone() for p in net.parameters()]))
    (a, ga) = got[0]
    assert a.dtype == torch.float64
    for b, gb in got[1:]:
        assert torch.allclose(a, b, rtol=1e-13, atol=1e-13)
        assert all(torch.allclose(x, y, rtol=1e-6, atol=1e-6) for x, y in zip(ga, gb))


def test_records_evaluated_in_batches_are_those_evaluated_one_by_one(monkeypatch):
    from exactcl.torch import monitor as monitor_module
    laws, (x, y) = _laws(), _data()
    runs = []
    for batch in (monitor_module.BATCH_RECORDS, 1):
        monkeypatch.setattr(monitor_module, "BATCH_RECORDS", batch)
        net = _net()
        opt = torch.optim.SGD(net.parameters(), lr=0.05)
        mon = LawMonitor(net, laws + [lambda m: m[2].bias.sum()])  # and a law of its own
        mon.attach(opt)
        for _ in range(5):
            _step(net, opt, x, y)
        assert len(mon._pending) == (5 if batch > 1 else 0)
        runs.append(mon)
    assert runs[0].steps == runs[1].steps == [0, 1, 2, 3, 4, 5] and not runs[0]._pending
    assert runs[0].values == runs[1].values


def test_a_batch_is_evaluated_when_full_or_too_large(monkeypatch):
    from exactcl.torch import monitor as monitor_module
    net, (x, y) = _net(), _data()
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    monkeypatch.setattr(monitor_module, "BATCH_RECORDS", 3)
    mon = LawMonitor(net, _laws())
    mon.attach(opt)
    for _ in range(4):
        _step(net, opt, x, y)
    assert [s for s, _, _ in mon._pending] == [4]
    monkeypatch.setattr(monitor_module, "BATCH_ENTRIES", 10)  # fewer than the parameters
    _step(net, opt, x, y)
    assert mon._pending == [] and mon._steps == [0, 1, 2, 3, 4, 5]


def test_a_record_refused_in_a_batch_names_its_step_and_keeps_the_earlier_ones():
    net, (x, y) = _net(), _data()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    mon = LawMonitor(net, _laws())
    mon.attach(opt)
    for t in range(1, 6):
        if t == 4:
            with torch.no_grad():
                net[0].weight[0, 0] = float("inf")
        _step(net, opt, x, y)
    with pytest.raises(InputError, match=r"Law 0 \(neuron 0 of hidden layer 1\) must give a "
                                         r"finite number, not (inf|nan) at step 4"):
        mon.detach()
    assert mon.optimizer is None  # detached all the same
    assert mon.steps == [0, 1, 2, 3]

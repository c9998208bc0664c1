"""Sweeps on a real Dask cluster: a scheduler and workers started here, as
separate processes on loopback, one of them killed in the middle of a case."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from exactcl.errors import InputError
from exactcl.kernel.verifier import verify
from exactcl.workflows.grid import grid_cases
from exactcl.workflows.sweep import sweep

distributed = pytest.importorskip("distributed", reason="the 'dask' extra is part of 'test'")

#: Each case takes 0.5-2 s, long enough to kill a worker while it runs one.
CASES = grid_cases("linear", widths=[[5, 5, 5, 5, 5], [5, 6, 5, 5, 5], [5, 5, 6, 5, 5],
                                     [5, 5, 5, 6, 5], [5, 6, 6, 5, 5]])
START_SECONDS = 60


def _wait_for(predicate, what: str, seconds: float = START_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded, nanny-less workers on 127.0.0.1."""
    scheduler_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_for(scheduler_file.exists, "the scheduler file")
        address = _wait_for(lambda: json.loads(scheduler_file.read_text() or "{}")
                            .get("address"), "the scheduler address")
        workers = {}
        for name in ("w1", "w2"):
            workers[name] = subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads",
                 "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1", "--name", name],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(workers[name])
        client = distributed.Client(address, timeout=30)
        client.wait_for_workers(2, timeout=START_SECONDS)
        yield address, client, workers
        client.close()
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_sweep_survives_a_killed_worker(cluster, tmp_path):
    address, client, workers = cluster
    out = tmp_path / "sweep"
    lines: list[str] = []
    box: dict = {}

    def run():
        try:
            box["result"] = sweep(CASES, out, scheduler=address, log=lines.append,
                                  progress=False)
        except BaseException as err:  # re-raised in the test's thread
            box["error"] = err

    thread = threading.Thread(target=run)
    thread.start()

    def busy_worker():
        for addr, keys in client.processing().items():
            if any(str(k).startswith("exactcl-") for k in keys):
                return addr, [str(k) for k in keys]
        return None

    victim_addr, victim_keys = _wait_for(busy_worker, "a worker running a case")
    info = client.scheduler_info()["workers"][victim_addr]
    victim = workers[info["name"]]
    assert client.run(os.getpid, workers=[victim_addr])[victim_addr] == victim.pid
    os.kill(victim.pid, signal.SIGKILL)
    assert victim.wait(10) == -signal.SIGKILL
    thread.join(300)
    assert not thread.is_alive()
    if "error" in box:
        raise box["error"]
    result = box["result"]
    print(f"\nkilled {info['name']} (pid {victim.pid}) while it held {victim_keys}; "
          f"{result.summary()}")

    # the killed worker was really running a case, and the sweep still finished every case
    assert any(k.startswith("exactcl-") for k in victim_keys)
    assert len(client.scheduler_info()["workers"]) == 1
    assert result.ok and not result.failed and not result.pending
    # ... exactly once: one outcome, one log line, one record and one certificate per case
    assert result.ran == len(CASES)
    assert sorted(line.split()[1].rstrip(":") for line in lines) == sorted(c.label
                                                                            for c in CASES)
    assert sorted(os.listdir(out / "cases")) == sorted(f"{c.id}.json" for c in CASES)
    assert sorted(os.listdir(out / "certificates")) == sorted(f"{c.id}.json" for c in CASES)
    for c in CASES:
        assert verify(out / "certificates" / f"{c.id}.json").ok


def test_dask_and_local_pool_give_identical_certificates(cluster, tmp_path):
    address, _, _ = cluster
    few = CASES[:3]
    on_dask = sweep(few, tmp_path / "dask", scheduler=address, progress=False)
    local = sweep(few, tmp_path / "pool", jobs=2, progress=False)
    assert on_dask.engine.startswith("Dask scheduler") and local.engine.startswith("local pool")
    for c in few:
        name = f"certificates/{c.id}.json"
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "pool" / name).read_bytes()


def test_unreachable_scheduler_is_an_input_error(tmp_path, monkeypatch):
    import exactcl.workflows.engines
    monkeypatch.setattr(exactcl.workflows.engines, "CONNECT_SECONDS", 1)
    with pytest.raises(InputError, match="--scheduler.*tcp://127.0.0.1:9"):
        sweep(CASES[:1], tmp_path / "x", scheduler="tcp://127.0.0.1:9", progress=False)


ISOLATED = """
import sys
sys.modules["distributed"] = None   # as if the dask extra were not installed
from exactcl.workflows.grid import Case
from exactcl.workflows.sweep import sweep
r = sweep([Case(spec="linear:2,2,2")], sys.argv[1], jobs=1, progress=False)
assert r.ok, r.summary()
assert not any(m == "dask" or m.startswith(("dask.", "distributed.")) for m in sys.modules)
try:
    sweep([Case(spec="linear:2,2,3")], sys.argv[1], engine="dask", progress=False)
except Exception as err:
    print(type(err).__name__, err)
"""


def test_local_pool_works_without_dask(tmp_path):
    out = subprocess.run([sys.executable, "-c", ISOLATED, str(tmp_path / "s")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("UnsupportedError The Dask engine needs the optional 'dask' "
                                  "extra: pip install 'exactcl[dask]'.")

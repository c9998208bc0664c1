"""Where the cases of a sweep run: in this process, a local process pool,
or a Dask cluster.

Every engine has one method, ``run(fn, tasks, timeout, tick)``: it calls
the module-level function ``fn`` on the payload of each ``(key, payload)``
task and yields ``(key, outcome)`` pairs as they finish, in any order,
each key exactly once; while it waits it calls ``tick()`` a few times a
second (to redraw a progress bar). The outcome is ``fn``'s return value, or an
:class:`Failure` when the task could not return one (it timed out, its
process died, the cluster gave up on it). Exceptions raised *inside*
``fn`` are the function's business: the sweep's case runner turns them
into failed cases itself.

Results travel back to the caller, which alone writes files: workers need
no shared file system, and a task that a cluster re-runs after losing a
worker is still recorded once.

The local pool (:class:`ProcessPool`) is plain :mod:`multiprocessing`:
one long-lived worker process per job, so the package is imported once
per worker, not per case; a case that exceeds its time (counted from
when its worker starts it) is stopped by terminating its worker, and a worker that dies (out of memory, a crash in
native code) costs only its current case. :class:`DaskEngine` needs the
optional ``dask`` extra (``pip install 'exactcl[dask]'``).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait

from ..kernel.errors import InputError, UnsupportedError

__all__ = ["DaskEngine", "Failure", "InProcess", "ProcessPool", "default_jobs",
           "require_dask"]

Task = tuple[str, object]

#: Longest wait between two checks of the workers (time-outs, progress).
POLL_SECONDS = 0.25
#: What a pool worker sends when it starts a task: time limits count from
#: there, not from the start of the worker process (interpreter, imports).
STARTED = "exactcl-task-started"
#: Seconds to wait for a Dask scheduler to answer before giving up.
CONNECT_SECONDS = 10


@dataclass(frozen=True)
class Failure:
    """A task that returned nothing: ``kind`` is ``"timeout"``, ``"crash"``
    or ``"cluster"``, ``message`` says what happened."""

    kind: str
    message: str


def default_jobs() -> int:
    """The number of cores this process may use.

    >>> default_jobs() >= 1
    True
    """
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not on Linux
        return max(os.cpu_count() or 1, 1)


class InProcess:
    """Run every task here, one after the other (``--jobs 1``)."""

    name = "one process"

    def run(self, fn: Callable, tasks: Iterable[Task], timeout: float | None = None,
            tick: Callable[[], None] | None = None) -> Iterator[tuple[str, object]]:
        for key, payload in tasks:
            yield key, fn(payload)

    def close(self) -> None:
        pass


def _worker_main(conn, fn: Callable) -> None:
    """Loop of a pool worker: receive a payload, send back ``fn(payload)``.

    The worker ignores Ctrl-C: the parent decides when it stops, so an
    interrupt never leaves a result half sent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            payload = conn.recv()
        except EOFError:
            return
        if payload is None:
            return
        conn.send(STARTED)
        conn.send(fn(payload))


class _Worker:
    def __init__(self, ctx, fn: Callable) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, fn), daemon=True)
        self.proc.start()
        child.close()
        self.key: str | None = None
        self.started: float | None = None  # when the worker said it started the task

    def give(self, key: str, payload: object) -> None:
        self.key, self.started = key, None
        self.conn.send(payload)

    def stop(self, kill: bool = False) -> None:
        if self.proc.is_alive():
            if kill:
                self.proc.kill()
            else:
                try:
                    self.conn.send(None)
                except OSError:
                    pass
        self.proc.join(1.0 if not kill else 5.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class ProcessPool:
    """``jobs`` worker processes on this machine.

    Parameters
    ----------
    jobs : int
        Number of worker processes (default: the usable cores).

    Examples
    --------
    >>> from exactcl.workflows.engines import ProcessPool
    >>> pool = ProcessPool(2)
    >>> sorted(pool.run(abs, [("a", -1), ("b", -2), ("c", 3)]))
    [('a', 1), ('b', 2), ('c', 3)]
    >>> pool.close()
    """

    def __init__(self, jobs: int | None = None) -> None:
        if jobs is None:
            jobs = default_jobs()
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise InputError(f"Argument 'jobs' must be an int >= 1, not {jobs!r}.")
        self.jobs = jobs
        self.name = f"local pool of {jobs} processes"
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._fn: Callable | None = None

    def run(self, fn: Callable, tasks: Iterable[Task], timeout: float | None = None,
            tick: Callable[[], None] | None = None) -> Iterator[tuple[str, object]]:
        if fn is not self._fn:
            self.close()
            self._fn = fn
        queue: deque[Task] = deque(tasks)
        busy: list[_Worker] = []
        try:
            while queue or busy:
                while queue and len(busy) < self.jobs:
                    worker = self._idle.pop() if self._idle else _Worker(self._ctx, fn)
                    key, payload = queue.popleft()
                    worker.give(key, payload)
                    busy.append(worker)
                wait_for = POLL_SECONDS
                running = [w.started for w in busy if w.started is not None]
                if timeout is not None and running:
                    left = min(running) + timeout - time.monotonic()
                    wait_for = max(min(wait_for, left), 0.0)
                wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], wait_for)
                for worker in list(busy):
                    outcome = self._check(worker, timeout)
                    if outcome is None:
                        continue
                    busy.remove(worker)
                    key = worker.key
                    if isinstance(outcome, Failure):
                        worker.stop(kill=True)
                    else:
                        self._idle.append(worker)
                    yield key, outcome
                if tick is not None:
                    tick()
        finally:
            for worker in busy:
                worker.stop(kill=True)

    @staticmethod
    def _check(worker: _Worker, timeout: float | None):
        """The worker's outcome if it has one now, else None."""
        while worker.conn.poll():
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                return Failure("crash", _death(worker.proc))
            if isinstance(message, str) and message == STARTED:
                worker.started = time.monotonic()
                continue
            return message
        if not worker.proc.is_alive():
            return Failure("crash", _death(worker.proc))
        if (timeout is not None and worker.started is not None
                and time.monotonic() - worker.started > timeout):
            return Failure("timeout", f"stopped after the time limit of {timeout:g} s")
        return None

    def close(self) -> None:
        """Stop the idle workers."""
        for worker in self._idle:
            worker.stop()
        self._idle.clear()


def _death(proc) -> str:
    proc.join(1.0)
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{hint}"
    return f"the worker process exited with status {code}"


def require_dask():
    """The ``distributed`` module, or :class:`UnsupportedError` naming the
    extra to install (checked before a sweep creates its folder)."""
    try:
        import distributed
    except ImportError:
        raise UnsupportedError("The Dask engine needs the optional 'dask' extra: "
                               "pip install 'exactcl[dask]'.") from None
    return distributed


class DaskEngine:
    """Run the tasks on a Dask cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``). Without it a
        local cluster is started on the loopback interface for the run,
        with ``jobs`` single-threaded worker processes.
    jobs : int, optional
        Workers of the local cluster (default: the usable cores).

    Notes
    -----
    Tasks are submitted with the higher priority for the costlier case
    (large cases first, so they do not finish last). A task whose worker
    dies is re-run by the scheduler on another worker; the result still
    comes back here once. After ``distributed.scheduler.allowed-failures``
    lost workers (Dask's setting, default 3) the scheduler gives up on the
    task, which then comes back as a ``"cluster"`` :class:`Failure`. The
    workers need exactcl installed. Time limits per task are not enforced
    on a cluster.
    """

    def __init__(self, scheduler: str | None = None, jobs: int | None = None) -> None:
        distributed = require_dask()
        self._cluster = None
        if scheduler is None:
            jobs = default_jobs() if jobs is None else jobs
            self._cluster = distributed.LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=40)
            address = self._cluster.scheduler_address
            self.name = f"local Dask cluster of {jobs} workers"
        else:
            address = scheduler
            self.name = f"Dask scheduler {scheduler}"
        try:
            self.client = distributed.Client(address, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError, ValueError) as err:
            self.close()
            raise InputError(f"Argument '--scheduler' must be the address of a running Dask "
                             f"scheduler, not {scheduler!r} ({err}).") from None

    def run(self, fn: Callable, tasks: Iterable[Task], timeout: float | None = None,
            tick: Callable[[], None] | None = None) -> Iterator[tuple[str, object]]:
        from distributed import wait as dask_wait
        tasks = list(tasks)
        token = uuid.uuid4().hex[:8]
        futures = {}
        n = len(tasks)
        for rank, (key, payload) in enumerate(tasks):
            fut = self.client.submit(fn, payload, key=f"exactcl-{key}-{token}", pure=False,
                                     priority=n - rank)
            futures[fut] = key
        try:
            while futures:
                try:
                    finished, _ = dask_wait(list(futures), timeout=POLL_SECONDS,
                                            return_when="FIRST_COMPLETED")
                except TimeoutError:
                    finished = set()
                for fut in sorted(finished, key=lambda f: futures[f]):
                    key = futures.pop(fut)
                    if fut.status == "finished":
                        yield key, fut.result()
                    else:
                        err = fut.exception()
                        yield key, Failure("cluster", f"{type(err).__name__}: {err}")
                    fut.release()
                if tick is not None:
                    tick()
        finally:
            if futures:
                self.client.cancel(list(futures))

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

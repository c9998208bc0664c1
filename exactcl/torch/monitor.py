"""The conservation laws of a model, watched along its real training.

A law of the gradient flow is exactly constant only along the flow; an
optimizer takes finite steps (and may not follow the gradient at all), so
along training a law moves. :class:`LawMonitor` measures how much: it
records every law's value at steps 0, ``every``, ``2 * every``, ... and its
relative drift since step 0. The steps are counted either by
:meth:`LawMonitor.attach`, which hooks the monitor to a
``torch.optim.Optimizer`` (``register_step_post_hook``: every
``optimizer.step()`` counts, nothing else to call), or by calling
:meth:`LawMonitor.step` after each step by hand. With PyTorch Lightning,
:class:`exactcl.torch.callbacks.LawMonitorCallback` attaches one to the
trainer's optimizer.

A law is any callable ``law(module)`` returning a number or a one-element
tensor, ideally with the attributes ``label`` (a short name, e.g.
``"neuron 0 of hidden layer 1"``) and ``text`` (the polynomial as exactcl
prints it), as ``exactcl.from_torch(...).laws(result)`` gives them. The
laws are evaluated under ``torch.inference_mode()`` (nothing is recorded for
autograd), and torch is never imported here: if it is not loaded, the laws
cannot be torch computations and they are simply called.

This is a measurement, never a decision: the floats recorded here prove
nothing, and no exact result of exactcl depends on them.

Examples
--------
Any object can stand for the module; here a dict of two parameters under
a hand-made "optimizer" that leaves them alone for three steps, then
changes v:

>>> params = {"u": 2.0, "v": 1.0}
>>> def law(m):
...     return m["u"] ** 2 - m["v"] ** 2
>>> mon = LawMonitor(params, [law], every=2)
>>> for t in range(4):
...     params["v"] += 1.0 if t == 3 else 0.0
...     mon.step()
>>> mon.steps, mon.values
([0, 2, 4], [[3.0, 3.0, 0.0]])
>>> mon.drift, mon.max_drift()
([[0.0, 0.0, 1.0]], 1.0)

Attached to an optimizer, the monitor counts its steps by itself:

>>> import torch  # doctest: +SKIP
>>> net = torch.nn.Linear(2, 1)  # doctest: +SKIP
>>> opt = torch.optim.SGD(net.parameters(), lr=0.1)  # doctest: +SKIP
>>> mon = LawMonitor(net, [lambda m: m.weight.pow(2).sum()])  # doctest: +SKIP
>>> handle = mon.attach(opt)  # doctest: +SKIP
>>> opt.step(); opt.step()  # doctest: +SKIP
>>> mon.steps  # doctest: +SKIP
[0, 1, 2]
>>> handle.remove()  # the optimizer is as it was  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..kernel.errors import InputError, bad_argument
from .laws import TorchLaw  # imports no torch

#: Records of the laws of :func:`exactcl.from_torch` evaluated together, at most
#: (a record keeps a copy of the parameters until then) ...
BATCH_RECORDS = 64
#: ... and at most this many entries of those copies in all (8 MB in float64):
#: a model of more parameters than this is evaluated at every record.
BATCH_ENTRIES = 2**20

__all__ = ["BATCH_ENTRIES", "BATCH_RECORDS", "Attachment", "LawMonitor", "check_laws", "drift_scale", "runs_figure"]


def check_laws(laws: object, every: object) -> None:
    """Refuse ``laws`` that are not a non-empty sequence of callables, or
    ``every`` that is not a positive int (what :class:`LawMonitor` takes).

    >>> check_laws([abs], 0)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'every' must be a positive int, not 0.
    """
    if isinstance(laws, (str, bytes)) or not isinstance(laws, Sequence) or not laws:
        raise bad_argument("laws", "a non-empty sequence of callables", laws)
    for i, law in enumerate(laws):
        if not callable(law):
            raise InputError(f"Law {i} of argument 'laws' must be callable, not {law!r}.")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise bad_argument("every", "a positive int", every)


def drift_scale(initial: Sequence[float]) -> float:
    """The floor of the denominator of the relative drift.

    A law's drift at step t is ``|h(theta_t) - h(theta_0)| / max(|h(theta_0)|,
    s)`` with ``s`` the mean of ``|h(theta_0)|`` over the laws watched together,
    or 1 when they all start at 0. A law that happens to start near 0 (a
    balanced neuron) is thus measured against the common size of the laws
    instead of its own tiny value, which would make any change look huge.

    Parameters
    ----------
    initial : sequence of float
        The laws' values at step 0.

    Returns
    -------
    float

    Examples
    --------
    >>> drift_scale([2.0, -4.0, 0.0])
    2.0
    >>> drift_scale([0.0, 0.0])
    1.0
    """
    mean = sum(abs(v) for v in initial) / len(initial) if initial else 0.0
    return mean if mean > 0 else 1.0


class LawMonitor:
    """Records laws and their relative drift along training.

    Parameters
    ----------
    module : object
        What the laws are evaluated on (a ``torch.nn.Module``), passed to
        each law as is.
    laws : sequence of callables
        ``law(module)`` gives a number or a one-element tensor.
    every : int, keyword-only
        Record every ``every`` steps (and at step 0), default 1.

    Attributes
    ----------
    steps : list of int
        The steps recorded: 0, every, 2 * every, ...
    values : list of list of float
        ``values[i][k]``: law i at ``steps[k]``.
    labels, texts : list of str
        Each law's ``label`` (else ``"law i"``) and ``text`` (else ``""``).
    scale : float
        The floor of the drift's denominator, :func:`drift_scale` of the
        values at step 0.

    Raises
    ------
    InputError
        When ``laws`` is empty or not callables, ``every`` is not a positive
        int, or a law does not give one finite number.

    Notes
    -----
    Step 0 is recorded when the monitor is made: make it after the
    parameters are initialised and before the first optimizer step. Steps
    are then counted by :meth:`attach` (each ``optimizer.step()``) or by
    :meth:`step`, not both. As a context manager (``with LawMonitor(...) as
    mon:``) the monitor is detached and closed when the block ends and
    refuses further steps; what it recorded stays readable.

    Recording costs one evaluation of the laws every ``every`` steps, under
    ``torch.inference_mode()``. The laws of one count of
    :func:`exactcl.from_torch` are evaluated together from the parameter
    tensors (no SymPy), and in batches: a record keeps a copy of the
    parameters (:meth:`~exactcl.torch.bridge._LawSet.snapshot`), and the
    laws are evaluated at up to :data:`BATCH_RECORDS` copies at once
    (:data:`BATCH_ENTRIES` entries in all) when the batch is full or what was
    recorded is read (``steps``, ``values``, ``drift``, ...), detached or
    closed; a law that gives no finite number is refused then, naming its
    step. ``benchmarks/bench_torch.py`` measures the cost against a
    training step.
    """

    def __init__(self, module: Any, laws: Sequence[Callable[[Any], Any]], *, every: int = 1):
        check_laws(laws, every)
        self.module = module
        self.laws = tuple(laws)
        self.every = every
        self.labels = [str(getattr(law, "label", f"law {i}")) for i, law in enumerate(laws)]
        self.texts = [str(getattr(law, "text", "")) for law in laws]
        self._steps: list[int] = []
        self._values: list[list[float]] = [[] for _ in self.laws]
        self._pending: list = []  # (step, values of the laws alone, snapshots per group)
        self._taken = 0
        self._closed = False
        self._attachment: Attachment | None = None
        # laws of one count made by exactcl.from_torch, evaluated together
        together: dict[int, list] = {}
        self._alone = []
        for i, law in enumerate(self.laws):
            if isinstance(law, TorchLaw):
                together.setdefault(id(law.group), []).append((i, law))
            else:
                self._alone.append((i, law))
        self._together = [(members[0][1], [(i, law.index) for i, law in members])
                          for members in together.values()]
        self._record()
        self.scale = drift_scale([v[0] for v in self.values])

    @property
    def steps(self) -> list[int]:
        """The steps recorded: 0, every, 2 * every, ..."""
        self._flush()
        return self._steps

    @property
    def values(self) -> list[list[float]]:
        """``values[i][k]``: law i at ``steps[k]``."""
        self._flush()
        return self._values

    def __enter__(self) -> LawMonitor:
        return self

    def __exit__(self, *exc) -> None:
        self._closed = True
        self.detach()

    def __repr__(self) -> str:
        return (f"LawMonitor({len(self.laws)} laws, {len(self.steps)} records to step "
                f"{self._taken}, max drift {self.max_drift():.3e})")

    def step(self) -> None:
        """Count one optimizer step; record the laws if it is a multiple of ``every``.

        Refused while the monitor is attached to an optimizer (which counts
        the steps itself: a step counted twice would be recorded at the
        wrong step) and after its ``with`` block ended.
        """
        if self._attachment is not None:
            raise InputError("This LawMonitor is attached to an optimizer, which counts its "
                             "steps: call step() only on a monitor that is not attached.")
        self._count()

    def _count(self) -> None:
        if self._closed:
            raise InputError("This LawMonitor was closed when its 'with' block ended; "
                             "make a new one to go on watching.")
        self._taken += 1
        if self._taken % self.every == 0:
            self._record()

    def attach(self, optimizer: Any) -> Attachment:
        """Count the steps of ``optimizer`` (each ``optimizer.step()``), through
        its ``register_step_post_hook``, instead of calling :meth:`step`.

        Parameters
        ----------
        optimizer : torch.optim.Optimizer
            The optimizer that trains the module the laws are evaluated on.

        Returns
        -------
        Attachment
            Its ``remove()`` (or :meth:`detach`) removes the hook, leaving the
            optimizer's hooks as they were before; what was recorded stays.

        Raises
        ------
        InputError
            When ``optimizer`` is not a ``torch.optim.Optimizer``, when the
            monitor is already attached (to this optimizer or another: a
            monitor counts one sequence of steps, so a second attach is
            refused, never ignored) or closed.

        Notes
        -----
        The hook runs after the optimizer's own step, so the values recorded
        at step t are those of the parameters the t-th step left. A step the
        optimizer skips without calling ``step()`` (a mixed-precision scaler
        skipping an overflow) is not counted.
        """
        torch = sys.modules.get("torch")
        if torch is None or not isinstance(optimizer, torch.optim.Optimizer):
            raise bad_argument("optimizer", "a torch.optim.Optimizer", optimizer)
        if self._closed:
            raise InputError("This LawMonitor was closed when its 'with' block ended; "
                             "make a new one to go on watching.")
        if self._attachment is not None:
            same = "this" if self._attachment.optimizer is optimizer else "another"
            raise InputError(f"Argument 'optimizer': this LawMonitor is already attached to "
                             f"{same} optimizer; detach it first (a monitor counts one "
                             f"sequence of steps).")

        def hook(opt, args, kwargs) -> None:  # the optimizer keeps the monitor while attached
            self._count()

        self._attachment = Attachment(self, optimizer, optimizer.register_step_post_hook(hook))
        return self._attachment

    def detach(self) -> None:
        """Remove the hook :meth:`attach` put on the optimizer (nothing when not
        attached), and evaluate the records not yet evaluated."""
        if self._attachment is not None:
            self._attachment.remove()
        self._flush()

    @property
    def optimizer(self) -> Any:
        """The optimizer the monitor is attached to, or None."""
        return None if self._attachment is None else self._attachment.optimizer

    def _record(self) -> None:
        torch = sys.modules.get("torch")  # never imported here: see the module's notes
        quiet = torch.inference_mode() if torch is not None else contextlib.nullcontext()
        with quiet:
            got: list = [None] * len(self.laws)
            for i, law in self._alone:
                got[i] = law(self.module)
            snaps = [first.group.snapshot(self.module) if first.group.coeffs else None
                     for first, _ in self._together]
        if self._pending and any(a is not None and a[0].device != b[0].device for a, b in
                                 zip(snaps, self._pending[0][2])):
            self._flush()  # a module moved to another device: batches stay on one
        self._pending.append((self._taken, got, snaps))
        entries = sum(snap[0].numel() for snap in snaps if snap is not None)
        if (not self._together or len(self._pending) >= BATCH_RECORDS
                or len(self._pending) * entries >= BATCH_ENTRIES):
            self._flush()

    def _flush(self) -> None:
        """Evaluate the pending records (see the class's notes) and keep them,
        in order; a record whose laws do not give finite numbers is refused
        (the records before it kept, those after it dropped)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        torch = sys.modules.get("torch")
        quiet = torch.inference_mode() if torch is not None else contextlib.nullcontext()
        with quiet:
            for g, (first, members) in enumerate(self._together):
                group = first.group
                if group.coeffs:
                    where = pending[0][2][g][1]
                    flats = torch.stack([snaps[g][0] for _, _, snaps in pending])
                    table = group.evaluate(flats, where).tolist()
                else:
                    table = [[0.0] * group.n for _ in pending]
                for (_, got, _), row in zip(pending, table):
                    for i, k in members:
                        got[i] = row[k]
        for step, got, _ in pending:
            try:  # the usual case at C speed; a failure is found and named below
                row = [float(value) for value in got]
                fine = all(map(math.isfinite, row))
            except (TypeError, ValueError, RuntimeError):
                fine = False
            if not fine:
                self._refuse(got, step)
            for column, x in zip(self._values, row):
                column.append(x)
            self._steps.append(step)

    def _refuse(self, got: list, step: int) -> None:
        """Raise the error naming the first law that did not give one finite number."""
        for i, value in enumerate(got):
            try:
                x = float(value)
            except (TypeError, ValueError, RuntimeError):
                raise InputError(f"Law {i} ({self.labels[i]}) must give one number, not "
                                 f"{_short(value)}.") from None
            if not math.isfinite(x):
                raise InputError(f"Law {i} ({self.labels[i]}) must give a finite number, "
                                 f"not {x} at step {step}.")

    @property
    def drift(self) -> list[list[float]]:
        """``drift[i][k] = |h_i(theta_t) - h_i(theta_0)| / max(|h_i(theta_0)|,
        scale)`` at ``t = steps[k]``."""
        out = []
        for vals in self.values:
            base = max(abs(vals[0]), self.scale)
            out.append([abs(v - vals[0]) / base for v in vals])
        return out

    def max_drift(self) -> float:
        """The largest relative drift of any law at any recorded step."""
        return max(max(d) for d in self.drift)

    def as_dict(self) -> dict:
        """What was recorded, as plain JSON-ready data.

        >>> mon = LawMonitor({"u": 1.0}, [lambda m: m["u"]])
        >>> mon.as_dict()["laws"]
        [{'label': 'law 0', 'text': '', 'values': [1.0], 'drift': [0.0]}]
        """
        return {"every": self.every, "scale": self.scale, "steps": list(self.steps),
                "laws": [{"label": label, "text": text, "values": list(vals), "drift": d}
                         for label, text, vals, d in zip(self.labels, self.texts,
                                                         self.values, self.drift)]}

    def figure(self, title: str | None = None):
        """Each law's drift along the steps, and the largest, as a matplotlib
        figure (needs the ``plot`` extra).

        Left, one line per law (up to :data:`exactcl.interfaces.plots.MAX_DRIFT_LINES`,
        named in the legend); right, the largest drift against the step,
        log-log, with the slopes 1 and 2 for reference.
        """
        from ..interfaces.plots import LAW_LABEL_CHARS, MAX_DRIFT_LINES, _figure
        shown = min(len(self.laws), MAX_DRIFT_LINES)
        rows = -(-(shown + (shown < len(self.laws))) // 2)
        fig = _figure(10.0, 4.4 + 0.19 * rows)
        left, right = fig.subplots(1, 2)
        steps = self.steps[1:]
        tiny = 1e-300  # a law exactly at its start is drawn at the bottom
        for k, d in enumerate(self.drift[:shown]):
            name = _clip(self.labels[k], LAW_LABEL_CHARS)
            left.semilogy(steps, [x + tiny for x in d[1:]], lw=1.1, color=f"C{k % 10}",
                          ls="-" if k < 10 else "--", label=f"$h_{{{k + 1}}}$: {name}")
        handles, labels = left.get_legend_handles_labels()
        if shown < len(self.laws):
            from matplotlib.lines import Line2D
            handles.append(Line2D([], [], lw=0))
            labels.append(f"{len(self.laws) - shown} more laws not drawn")
        left.set_title(f"each law ({shown} of {len(self.laws)} drawn)", fontsize=10)
        left.set_xlabel("optimizer step t")
        left.set_ylabel(_DRIFT_LABEL)
        left.legend(handles, labels, fontsize=8, loc="upper center",
                    bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False, handlelength=1.8,
                    columnspacing=1.2)
        _largest_panel(right, {"largest drift": self}, ["C3"])
        for ax in (left, right):
            ax.grid(alpha=0.3, which="both")
        fig.suptitle(title or "conservation laws along training", fontsize=11)
        return fig

    def plot(self, path: str | os.PathLike, title: str | None = None,
             dpi: int | None = None) -> str:
        """Draw :meth:`figure` to ``path`` (.png, .svg or .pdf), atomically and
        reproducibly (:func:`exactcl.interfaces.plots.save`); return the path."""
        from ..interfaces.plots import check_dpi, check_output, save
        check_dpi(dpi, check_output(os.fspath(path)))  # before any drawing
        return save(self.figure(title), path, dpi=dpi)


class Attachment:
    """A monitor's hook on an optimizer (:meth:`LawMonitor.attach`):
    ``remove()`` takes it off, leaving the optimizer's step hooks as they
    were; removing twice does nothing."""

    def __init__(self, monitor: LawMonitor, optimizer: Any, handle: Any) -> None:
        self.monitor, self.optimizer, self._handle = monitor, optimizer, handle

    def remove(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
            if self.monitor._attachment is self:
                self.monitor._attachment = None

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        state = "removed" if self._handle is None else "attached"
        return f"Attachment({state}, {type(self.optimizer).__name__})"


_DRIFT_LABEL = r"relative drift $|h(\theta_t) - h(\theta_0)|\ /\ \max(|h(\theta_0)|, s)$"


def _largest_panel(ax, runs: Mapping[str, LawMonitor], colours) -> None:
    first = None
    for (name, mon), colour in zip(runs.items(), colours):
        worst = [max(d[k] for d in mon.drift) for k in range(1, len(mon.steps))]
        ax.loglog(mon.steps[1:], [x + 1e-300 for x in worst], lw=1.6, color=colour,
                  label=name)
        if first is None and worst and worst[0] > 0:
            first = (mon.steps[1], worst[0], mon.steps[-1])
    if first is not None:  # reference slopes through the first run's first point
        t0, y0, t1 = first
        for slope, ls in ((1, ":"), (2, "--")):
            ax.loglog([t0, t1], [y0, y0 * (t1 / t0) ** slope], ls, color="0.5", lw=1,
                      label=f"slope {slope} (reference)")
    ax.set_title("largest drift of the laws", fontsize=10)
    ax.set_xlabel("optimizer step t")
    ax.set_ylabel(r"$\max_i$ relative drift of $h_i$")
    ax.legend(fontsize=8, loc="lower right")


def runs_figure(runs: Mapping[str, LawMonitor], title: str | None = None):
    """The largest drift of the laws along several runs, on one log-log
    panel (e.g. one run per optimizer or step size); needs the ``plot``
    extra.

    Parameters
    ----------
    runs : mapping of str to LawMonitor
        Legend entry -> monitor, drawn in that order.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(runs, Mapping) or not runs or not all(
            isinstance(m, LawMonitor) for m in runs.values()):
        raise bad_argument("runs", "a non-empty mapping of names to LawMonitors", runs)
    from matplotlib import colormaps

    from ..interfaces.plots import _figure
    fig = _figure(7.0, 4.6)
    ax = fig.subplots()
    cmap = colormaps["viridis"]
    n = len(runs)
    _largest_panel(ax, runs, [cmap(0.85 - 0.8 * k / max(n - 1, 1)) for k in range(n)])
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title or "largest drift of the laws along training", fontsize=11)
    return fig


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _short(value: object, limit: int = 60) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."

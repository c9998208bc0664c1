"""A progress bar for long runs, drawn on a terminal and silent elsewhere.

The bar is one line on standard error, redrawn in place at most a few
times a second::

    sweep [##########..........] 12/24 cases, 1 failed, 0:42 elapsed, ~0:40 left

It draws only when the stream is a terminal (so logs and pipes stay
clean) and never when ``enabled=False`` (``--quiet``). Messages printed
through :meth:`Progress.write` appear above the bar.

:class:`Progress` counts items a caller advances. Engine loops (growth,
law search, closure checks) instead report through :func:`step`, which
draws only inside a :func:`reporting` block and otherwise costs one
global lookup::

    with reporting():            # a bar when standard error is a terminal
        result = count(model)    # growth, law search, ... call step()
    print(result)                # the bar is erased when the block ends

Notes
-----
The reporter lives in a module global, not in a parameter threaded
through every function; it is not shared between threads or worker
processes (``exactcl sweep`` keeps its own :class:`Progress`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import TextIO

__all__ = ["Progress", "Reporter", "clear", "format_duration", "reporting", "step"]

#: Shortest interval between two redraws, in seconds.
REDRAW_SECONDS = 0.2
BAR_WIDTH = 20
#: Columns assumed when the width of the terminal is unknown.
DEFAULT_COLUMNS = 80


def format_duration(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` above.

    >>> format_duration(42.4), format_duration(125), format_duration(3725)
    ('0:42', '2:05', '1:02:05')
    """
    s = int(round(max(seconds, 0.0)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def bar_line(label: str, done: int, total: int, unit: str, elapsed: float,
             left: float | None = None, failed: int = 0) -> str:
    """The text of a bar: label, bar, count, failures, elapsed, estimate.

    >>> bar_line("law search", 3, 12, "blocks", 9.0, left=27.0)
    'law search [#####...............] 3/12 blocks, 0:09 elapsed, ~0:27 left'
    >>> bar_line("", 2, 4, "", 0.0)
    '[##########..........] 2/4, 0:00 elapsed'
    """
    filled = min(max(BAR_WIDTH * done // total if total else BAR_WIDTH, 0), BAR_WIDTH)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    text = f"{label} [{bar}] {done}/{total} {unit}".rstrip()
    if failed:
        text += f", {failed} failed"
    text += f", {format_duration(elapsed)} elapsed"
    if left is not None:
        text += f", ~{format_duration(left)} left"
    return text.lstrip()


class Progress:
    """Cases done, failures, time elapsed and an estimate of the time left.

    Parameters
    ----------
    total : int
        Number of items to do.
    label : str
        Word in front of the bar.
    unit : str
        Plural noun of the items ("cases", "files").
    stream : file, optional
        Where to draw (default: standard error).
    enabled : bool, optional
        ``False`` never draws; ``None`` (default) draws when ``stream`` is
        a terminal.
    initial, failed : int
        Items already done (and failed) before this run, e.g. when a sweep
        resumes; the estimate of the time left counts only the others.

    Examples
    --------
    >>> import io
    >>> p = Progress(4, "sweep", stream=io.StringIO(), enabled=True)
    >>> p.advance(); p.advance(failed=True)
    >>> p.line(elapsed=10.0)
    'sweep [##########..........] 2/4 cases, 1 failed, 0:10 elapsed, ~0:10 left'
    """

    def __init__(self, total: int, label: str = "", unit: str = "cases", *,
                 stream: TextIO | None = None, enabled: bool | None = None,
                 initial: int = 0, failed: int = 0) -> None:
        self.total = total
        self.label = label
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.done = self.initial = initial
        self.failed = failed
        self.start = time.monotonic()
        self._drawn = 0.0
        self._width = 0

    def advance(self, failed: bool = False) -> None:
        """Count one more item done (and failed, when it did)."""
        self.done += 1
        self.failed += bool(failed)
        self.draw(force=self.done == self.total)

    def line(self, elapsed: float | None = None) -> str:
        """The text of the bar."""
        if elapsed is None:
            elapsed = time.monotonic() - self.start
        ran = self.done - self.initial
        left = elapsed / ran * (self.total - self.done) if 0 < ran and self.done < self.total \
            else None
        return bar_line(self.label, self.done, self.total, self.unit, elapsed, left, self.failed)

    def draw(self, force: bool = False) -> None:
        """Redraw the bar (at most every ``REDRAW_SECONDS`` unless forced)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < REDRAW_SECONDS:
            return
        self._drawn = now
        text = self.line()
        pad = " " * max(self._width - len(text), 0)
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._width = len(text)

    def write(self, message: str, stream: TextIO | None = None) -> None:
        """Print a line above the bar (to ``stream``, default standard output)."""
        self.clear()
        print(message, file=sys.stdout if stream is None else stream, flush=True)
        self.draw(force=True)

    def clear(self) -> None:
        """Erase the bar from the terminal."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def close(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled:
            self.draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


#: The reporter of the :func:`reporting` block in progress; None: :func:`step`
#: returns at once.
_current: Reporter | None = None


class _Stage:
    __slots__ = ("label", "done", "total", "unit", "estimate", "start")

    def __init__(self, label: str, done: int, total: int, unit: str, estimate: bool,
                 start: float) -> None:
        self.label, self.done, self.total, self.unit = label, done, total, unit
        self.estimate, self.start = estimate, start

    def line(self, now: float) -> str:
        elapsed = now - self.start
        left = None
        if self.estimate and 0 < self.done < self.total:
            left = elapsed / self.done * (self.total - self.done)
        return bar_line(self.label, self.done, self.total, self.unit, elapsed, left)


class Reporter:
    """The bar of the stage the engine is in, drawn on a terminal.

    Engine code does not call it directly but through :func:`step`; a
    :func:`reporting` block makes one and erases its bar at the end. The
    bar shows the innermost stage (its label, done/total with a unit, the
    time spent in it and, when ``estimate`` was asked for, the time left),
    after the state of an outer stage if one is set (``reproduce`` runs
    many counts)::

        reproduce section_4_deep_relu 1/3 cases | growth depth 1 [########............] 5/12 rank, 0:01 elapsed

    Parameters
    ----------
    stream : file
        Where to draw.
    columns : int, optional
        Width of the terminal (default: asked from ``stream``, or
        DEFAULT_COLUMNS). Lines are kept shorter: the outer stage is
        shortened first, then the line is cut.

    Examples
    --------
    >>> import io
    >>> r = Reporter(io.StringIO(), columns=120)
    >>> r.update("reproduce demo", 1, 3, "cases", outer=True, now=0.0)
    >>> r.update("law search", 3, 12, "blocks", now=0.0)
    >>> r.line(now=9.0)
    'reproduce demo 1/3 cases | law search [#####...............] 3/12 blocks, 0:09 elapsed, ~0:27 left'
    >>> r.columns = 96
    >>> r.line(now=9.0)
    'reproduc... 1/3 cases | law search [#####...............] 3/12 blocks, 0:09 elapsed, ~0:27 left'
    """

    def __init__(self, stream: TextIO, columns: int | None = None) -> None:
        self.stream = stream
        self.columns = _columns(stream) if columns is None else columns
        self._outer: _Stage | None = None
        self._stage: _Stage | None = None
        self._drawn = float("-inf")
        self._width = 0

    def update(self, label: str, done: int, total: int, unit: str = "", estimate: bool = True,
               outer: bool = False, now: float | None = None) -> None:
        """Record the state of a stage and redraw (at most every ``REDRAW_SECONDS``).

        A new label, or a count that went back, starts a new stage (its
        clock restarts); ``outer=True`` sets the outer stage and ends the
        inner one.
        """
        if now is None:
            now = time.monotonic()
        stage = self._outer if outer else self._stage
        if stage is None or stage.label != label or done < stage.done:
            stage = _Stage(label, done, total, unit, estimate, now)
        else:
            stage.done, stage.total = done, total
        if outer:
            self._outer, self._stage = stage, None
        else:
            self._stage = stage
        if now - self._drawn >= REDRAW_SECONDS:
            self.draw(now)

    def line(self, now: float | None = None) -> str:
        """The text of the bar ("" before any stage)."""
        if now is None:
            now = time.monotonic()
        outer, inner = self._outer, self._stage
        if inner is None:
            if outer is None:
                return ""
            rest = outer.line(now)[len(outer.label):]
            return (_shorten(outer.label, self.columns - 1 - len(rest)) + rest).lstrip()
        text = inner.line(now)
        if outer is None:
            return text
        # keep the inner bar whole; shorten the outer label
        counted = f" {outer.done}/{outer.total} {outer.unit}".rstrip()
        label = _shorten(outer.label, self.columns - 1 - len(text) - len(" | ") - len(counted))
        return f"{label}{counted} | {text}" if label else text

    def draw(self, now: float | None = None) -> None:
        """Redraw the bar now."""
        self._drawn = time.monotonic() if now is None else now
        text = self.line(self._drawn)[:self.columns - 1]
        pad = " " * max(self._width - len(text), 0)
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Erase the bar, so that the next line printed starts clean.

        The next :meth:`update` draws again at once.
        """
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
        self._drawn = float("-inf")


def _shorten(label: str, room: int) -> str:
    """``label`` cut to ``room`` characters, ending in "..."; "" if room is too small."""
    if len(label) <= room:
        return label
    return label[:room - 3] + "..." if room >= 8 else ""


def _columns(stream: TextIO) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        columns = 0
    return columns if columns > 1 else DEFAULT_COLUMNS  # a fresh pseudo-terminal says 0


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


@contextlib.contextmanager
def reporting(enabled: bool | None = None, *, stream: TextIO | None = None
              ) -> Iterator[Reporter | None]:
    """Draw the progress the engine reports with :func:`step` during the block.

    Parameters
    ----------
    enabled : bool, optional
        ``None`` (default): draw when ``stream`` is a terminal; ``False``:
        never (``--quiet``; also silences an enclosing block); ``True``:
        always.
    stream : file, optional
        Where to draw (default: standard error, as it is when the block
        starts).

    Yields
    ------
    Reporter or None
        The active reporter, or None when nothing is drawn.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with reporting(stream=out):       # not a terminal: nothing drawn
    ...     step("law search", 1, 2, "blocks")
    >>> out.getvalue()
    ''
    >>> with reporting(True, stream=out) as r:
    ...     step("law search", 1, 2, "blocks")
    >>> out.getvalue().startswith("\\rlaw search [##########..........] 1/2 blocks")
    True
    >>> out.getvalue().endswith("\\r")      # erased at the end of the block
    True
    """
    global _current
    stream = sys.stderr if stream is None else stream
    if enabled is None:
        enabled = _is_terminal(stream)
    reporter = Reporter(stream) if enabled else None
    previous, _current = _current, reporter
    try:
        yield reporter
    finally:
        _current = previous
        if reporter is not None:
            reporter.clear()


def step(label: str, done: int, total: int, unit: str = "", *, estimate: bool = True,
         outer: bool = False) -> None:
    """Report that stage ``label`` has done ``done`` of ``total`` (``unit``).

    Does nothing, at the cost of one global lookup, outside a
    :func:`reporting` block; inside one, redraws the bar at most every
    ``REDRAW_SECONDS``. Pass ``estimate=False`` when done/total does not
    grow with time (a rank), so that no time left is shown; ``outer=True``
    for a stage that holds other stages (a case of ``reproduce``).

    >>> step("growth depth 1", 5, 12, "rank")   # no reporting block: nothing
    """
    reporter = _current
    if reporter is not None:
        reporter.update(label, done, total, unit, estimate, outer)


def clear() -> None:
    """Erase the bar of the active reporter, if any, before printing a line."""
    reporter = _current
    if reporter is not None:
        reporter.clear()

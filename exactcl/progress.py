"""A progress bar for long runs, drawn on a terminal and silent elsewhere.

The bar is one line on standard error, redrawn in place at most a few
times a second::

    sweep [##########..........] 12/24 cases, 1 failed, 0:42 elapsed, ~0:40 left

It draws only when the stream is a terminal (so logs and pipes stay
clean) and never when ``enabled=False`` (``--quiet``). Messages printed
through :meth:`Progress.write` appear above the bar.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress", "format_duration"]

#: Shortest interval between two redraws, in seconds.
REDRAW_SECONDS = 0.2
BAR_WIDTH = 20


def format_duration(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` above.

    >>> format_duration(42.4), format_duration(125), format_duration(3725)
    ('0:42', '2:05', '1:02:05')
    """
    s = int(round(max(seconds, 0.0)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


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
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        text = f"{self.label} [{bar}] {self.done}/{self.total} {self.unit}"
        if self.failed:
            text += f", {self.failed} failed"
        text += f", {format_duration(elapsed)} elapsed"
        ran = self.done - self.initial
        if ran > 0 and self.done < self.total:
            text += f", ~{format_duration(elapsed / ran * (self.total - self.done))} left"
        return text.lstrip()

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

"""The progress bar on stderr: stage, bytes read of the total, packets/s, time elapsed.

It shows only on a terminal, and only once an analysis has run for `DELAY_S`: a quick one
prints nothing but its report. It draws on stderr, so stdout (the report) is never touched,
and it erases itself when the analysis ends (or is interrupted).

    with progress_display(enabled=sys.stderr.isatty()) as progress:
        result = analyze(captures, progress=progress)

`enabled=False` yields `NO_PROGRESS` and costs nothing (rich is not even imported).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pcapkit.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from rich.progress import ProgressColumn, Task

#: Seconds an analysis runs before the bar appears.
DELAY_S = 1.0

_active: set[_Display] = set()
_active_lock = threading.Lock()


@contextmanager
def progress_display(enabled: bool, delay: float = DELAY_S) -> Iterator[Progress]:
    """A progress callback drawing a bar on stderr after `delay` seconds, if `enabled` and
    stderr is a terminal (or a notebook); `NO_PROGRESS` otherwise."""
    if not enabled or not _can_draw():
        yield NO_PROGRESS
        return
    display = _Display(delay)
    with _active_lock:
        _active.add(display)
    try:
        display.arm()
        yield display
    finally:
        display.close()
        with _active_lock:
            _active.discard(display)


def _can_draw() -> bool:
    """stderr is a terminal, or this is a notebook. Not rich's `is_terminal`: FORCE_COLOR in a
    CI job must not bring animations into its log."""
    if sys.stderr.isatty():
        return True
    from rich.console import Console

    return Console(stderr=True).is_jupyter


def close_displays() -> None:
    """Erase every bar now (before an interrupted run writes its last line), from any thread."""
    with _active_lock:
        displays = list(_active)
    for d in displays:
        d.close()


class _Display:
    """One rich `Progress` with one task, started by a timer thread after the delay."""

    def __init__(self, delay: float) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self._progress = Progress(*_columns(), console=Console(stderr=True), transient=True,
                                  redirect_stdout=False, redirect_stderr=False)
        self._task = self._progress.add_task("start", total=None, rate=0.0)
        self._t0 = time.monotonic()
        self._packets = 0
        self._rate = 0.0
        self._lock = threading.Lock()
        self._started = self._closed = False
        self._timer = threading.Timer(delay, self._start)
        self._timer.daemon = True

    def arm(self) -> None:
        self._timer.start()

    def __call__(self, stage: str, done_bytes: int, total_bytes: int, packets: int) -> None:
        if packets > self._packets:
            self._packets = packets
            self._rate = packets / max(time.monotonic() - self._t0, 1e-3)
        self._progress.update(self._task, description=str(stage), completed=done_bytes,
                              total=total_bytes or None, rate=self._rate)

    def _start(self) -> None:
        with self._lock:
            if not self._closed:
                self._progress.start()
                self._started = True

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._started and not self._closed:
                self._progress.stop()
            self._closed = True


def _columns() -> tuple[ProgressColumn, ...]:
    """Stage, bar, bytes done/total, packets/s, elapsed."""
    from rich.progress import BarColumn, DownloadColumn, ProgressColumn, TextColumn
    from rich.text import Text

    class PacketRateColumn(ProgressColumn):
        """Packets decoded per second, until the last packet was decoded."""

        def render(self, task: Task) -> Text:
            rate = task.fields.get("rate")
            shown = f"{rate:,.0f}" if rate else "-"
            return Text(f"{shown} pkt/s", style="progress.data.speed")

    class ElapsedColumn(ProgressColumn):
        """Time since the analysis started (rich's own stops when the bytes are all read)."""

        def render(self, task: Task) -> Text:
            seconds = int(task.elapsed or 0)
            return Text(f"{seconds // 3600}:{seconds // 60 % 60:02}:{seconds % 60:02}",
                        style="progress.elapsed")

    return (TextColumn("[bold]{task.description:<6}"), BarColumn(), DownloadColumn(),
            PacketRateColumn(), ElapsedColumn())

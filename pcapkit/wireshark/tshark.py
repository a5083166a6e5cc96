"""Wireshark's own dissector, reached through pyshark: the frames of some captures as tshark
dissects them, with pcapkit's tunnel ports decoded (`decode_as`).

pyshark runs one tshark per capture and hands back its dissection (PDML) as objects; pcapkit
uses it where tshark knows more than pcapkit decodes (HTTP, TLS, gRPC over HTTP/2) and for
tshark's expert analysis, a second opinion on pcapkit's symptoms.
"""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from pcapkit.errors import UsageError

#: `--dissector`: `auto` is tshark when it is on the PATH, dpkt otherwise (`show.choose`)
Dissector = Literal["auto", "tshark", "dpkt"]


def tshark_path() -> str:
    """The tshark to run; `UsageError` (exit 2) when there is none."""
    path = shutil.which("tshark")
    if path is None:
        raise UsageError("tshark not found: Wireshark's tshark is needed to show packets and "
                         "cross-check (Debian/Ubuntu: apt install tshark)")
    return path


def dissect(capture: str, display_filter: str, decode_as: Sequence[str]) -> Iterator[Any]:
    """tshark's dissection (pyshark packets) of the frames of `capture` that `display_filter`
    shows, with `decode_as` (`udp.port==8472,vxlan` each) applied."""
    import pyshark  # starts nothing until iterated; imported only by the commands that use it
    from pyshark.capture.capture import TSharkCrashException

    table = dict(flag.split(",", 1) for flag in decode_as)
    given = 0
    # tshark now and then exits 255 with nothing on stderr when many run at once (seen on a
    # loaded 2-core machine, not reproducible alone), and pyshark calls that a crash: run it
    # once more, skipping the packets already given. A second crash is a real one.
    for attempt in range(2):
        try:
            with _signals_kept(), _closing(pyshark.FileCapture(
                    capture, keep_packets=False, display_filter=display_filter,
                    decode_as=table or None, tshark_path=tshark_path())) as cap:
                for seen, packet in enumerate(cap):
                    if seen >= given:
                        given += 1
                        yield packet
            return
        except TSharkCrashException as crash:
            # Exit 2 is tshark's "the file is cut short or damaged", after it has dissected
            # every whole record before the damage: the frames pcapkit read too (it warned).
            if _TSHARK_FILE_ERROR in str(crash):
                return
            if attempt:
                raise


#: how pyshark's crash message gives tshark's exit status 2 (a file cut short or damaged)
_TSHARK_FILE_ERROR = "(retcode: 2)"


@contextmanager
def _closing(cap: Any) -> Iterator[Any]:
    """The capture, closed on the way out. When its tshark exited with an error, pyshark's
    close raises before forgetting the process, and its `__del__` closes it again whenever the
    capture is collected: inside whichever of pyshark's event loops is running then ("This
    event loop is already running"). The process is forgotten once closed, whichever way."""
    try:
        yield cap
    finally:
        try:
            cap.close()
        finally:
            cap._running_processes.clear()


@contextmanager
def _signals_kept() -> Iterator[None]:
    """pyshark attaches asyncio's SafeChildWatcher to its event loop, in the main thread: a
    SIGCHLD handler, and the loop's socket as the process's signal wakeup fd, both left in place
    when the capture is closed. They are put back as they were: the `pcapkit` command's Ctrl-C
    watchdog listens on that fd (`pcapkit.cli.interrupt`), and in a notebook or test run, once
    the loop's socket is closed, every child process that ends makes Python print "Exception
    ignored when trying to write to the signal wakeup fd"."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers and the wakeup fd belong to the main thread: none is set
        return
    handler = signal.getsignal(signal.SIGCHLD)
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    try:
        yield
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL if handler is None else handler)
        # The command's own pipe never warns when full (`interrupt.watch_interrupts`).
        signal.set_wakeup_fd(wakeup, warn_on_full_buffer=False)


def layers(packet: Any, name: str) -> list[Any]:
    """Every `name` layer of a pyshark packet, outermost first (a tunnel's inner `ip` last)."""
    return list(packet.get_multiple_layers(name))


def field(layer: Any, name: str) -> str | None:
    """A field of a pyshark layer as text, or None when tshark did not show it."""
    return str(layer.get_field_value(name)) if name in layer.field_names else None

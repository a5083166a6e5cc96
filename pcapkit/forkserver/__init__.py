"""The fork server of the local worker pool (`pcapkit.engine.executor.Pool`): the process its
workers are forked from, with numba loaded and its compiler's target set up once (`preload`).

A worker started afresh spent ~0.85 s of CPU before its first chunk: importing numba (~0.35 s),
then, as the decoding kernel first loaded from numba's cache, numba setting up its typing and
code-generation context (~0.45 s: hundreds of modules, every registry), and polars and pcapkit
(~0.3 s). A worker forked from the server pays for polars, pcapkit and the kernel's own machine
code only (~0.3 s), and the server pays for numba once for all of them.

This package imports nothing heavy: a forked worker's first step (`start_worker`) runs from
here before it imports polars.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.util
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from multiprocessing.context import BaseContext

#: what `multiprocessing`'s fork server is told to import before it forks a worker
PRELOAD = ["pcapkit.forkserver.preload"]


def context() -> BaseContext:
    """Where a pool's workers come from: forked from the server (never from the pool's own
    process: a fork would copy polars' thread pools without their threads), or started afresh
    where there is no fork server (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    forkserver = multiprocessing.get_context("forkserver")
    # One server per process, for every pool after: the preload counts until it starts.
    forkserver.set_forkserver_preload(PRELOAD)
    return forkserver


def opened() -> None:
    """A pool that takes its workers from the server (`context`) has started."""
    global _pools
    with _lock:
        _pools += 1


def closed() -> None:
    """A pool that took its workers from the server has ended them (each worker's end reaches
    its pool through the server, which must outlive them): the last one ends the server too. It
    holds ~140 MB resident (numba's LLVM), which the pool's process would otherwise carry
    beside its own largest moment, after the pool (20M DNS-heavy packets on both cores: 1,525 MB
    so, over the 1.5 GB the engine keeps to). The next pool starts another. Python has no
    public way to end it (multiprocessing's own tests call `_stop`): without one, the server
    stays until this process ends."""
    global _pools
    with _lock:
        _pools -= 1
        server = getattr(multiprocessing.forkserver, "_forkserver", None)
        stop = getattr(server, "_stop", None)
        if _pools == 0 and stop is not None:
            # Ended outright first: asked to stop (its end of a pipe closed), it exits as
            # Python does, tearing numba's LLVM down, and `_stop` waited for it (~0.15 s at the
            # end of every streamed run). It holds nothing to save: its workers have ended.
            pid = getattr(server, "_forkserver_pid", None)
            # Each on its own: a server ended already (a Ctrl-C's `end_children`) is still
            # stopped, so that the next pool starts another.
            if pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                stop()


_lock = threading.Lock()
_pools = 0  #: pools started and not yet ended


def start() -> None:
    """Start the server now, without waiting for its preload, rather than as the first pool
    starts its first worker: the console script does, ahead of its own imports (~0.4 s), when
    its command line reads as a streamed run (`pcapkit.streaming.likely`), and each pool as it
    opens (one server for them all while it runs)."""
    if context().get_start_method() == "forkserver":
        _short_socket_folder()
        with _this_path(), _sigint_blocked():
            multiprocessing.forkserver.ensure_running()


#: the longest temporary directory under which the server's socket path fits a Unix socket's
#: 107 bytes: multiprocessing adds `/pymp-XXXXXXXX/listener-XXXXXXXX` (32)
SOCKET_BASE_MAX = 107 - 32


def _short_socket_folder() -> None:
    """Make multiprocessing's folder for the server's socket in `/tmp` when the temporary
    directory (`TMPDIR`) is too long a path for a socket beneath it, as Python 3.12 does: the
    server could not start ("AF_UNIX path too long"), and every streamed run failed."""
    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    if config.get("tempdir") is not None or len(tempfile.gettempdir()) <= SOCKET_BASE_MAX:
        return
    try:
        folder = tempfile.mkdtemp(prefix="pymp-", dir="/tmp")
    except OSError:  # no /tmp to write to: multiprocessing's own folder, and its error
        return
    config["tempdir"] = folder  # where `multiprocessing.util.get_temp_dir` keeps it
    multiprocessing.util.Finalize(None, shutil.rmtree, args=(folder, True), exitpriority=-100)


@contextlib.contextmanager
def _this_path() -> Iterator[None]:
    """The environment a server starts with while it starts: this process's import path, and
    nothing put before it. Python's server is `python -c ...`, which puts the directory it
    starts in first, and 3.11's ignores the path it is sent: it imported its preload (pcapkit's
    package, numba, numpy) from that directory first, and its workers, which take this
    process's path as they start, kept the modules it had imported: run from a checkout of
    another pcapkit version, the workers ran that version's code."""
    saved = {name: os.environ.get(name) for name in ("PYTHONPATH", "PYTHONSAFEPATH")}
    os.environ["PYTHONPATH"] = os.pathsep.join(
        os.path.abspath(entry) if entry else os.getcwd() for entry in map(str, sys.path))
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread while it starts the server, which inherits the mask and
    passes it to every worker it forks. A worker ignored SIGINT only from its first step
    (`start_worker`), ~0.3 s after its fork: a Ctrl-C sent to the whole terminal process
    group in between raised `KeyboardInterrupt` in it, and it printed a traceback after the
    command's one line. The server itself started with the default handler, too, as it loaded
    numba. Blocked rather than ignored: a Ctrl-C here meanwhile stays pending, and is taken as
    the mask comes back."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start_worker(env: dict[str, str]) -> None:
    """A worker's first step, before it imports polars: the environment polars reads as it
    loads (the server's is the one it started with, for every pool after it), and Ctrl-C left
    to the parent, which ends the workers (`pcapkit.cli.interrupt`)."""
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

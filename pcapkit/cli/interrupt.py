"""Ctrl-C: exit 130 with one line, whatever the analysis was doing, and leave no process behind.

`KeyboardInterrupt` cannot do this. Python raises it only between bytecodes of the main thread,
so a long numba kernel or polars query finishes first; and it can land inside a library's
callback, which may swallow it or turn it into another error (polars reports "Exception ignored"
and raises a `TypeError`: exit 1, two tracebacks). So in the command, `watch_interrupts()` makes
SIGINT raise nothing: the signal itself (`signal.set_wakeup_fd`) wakes a watchdog thread, which
erases the progress bar, writes the one line, mutes stdout and stderr, ends the child
processes, removes the folders the command registered (`remove_on_interrupt`: a streamed
analysis's spill directory) and leaves with `os._exit(130)`. Exactly one side speaks last: the
watchdog, or the main thread when it finished first (`ending`). Library use (`run()`
in-process, the Python API) keeps Python's `KeyboardInterrupt`.

Children (a `ProcessPoolExecutor`'s or `multiprocessing` pool's workers, a fork server,
whatever they started in turn) are found through /proc as the descendants of this process,
sent SIGTERM, then SIGKILL after `TERM_WAIT_S`, and looked for again until none is left: pools
replace workers that die. Forked children ignore SIGINT, so a Ctrl-C sent to the whole
terminal process group leaves the parent to end them, and no worker prints a traceback of its
own. Workers started by `spawn` or `forkserver` are fresh interpreters: their pool should make
them ignore SIGINT too (`initializer=signal.signal, initargs=(signal.SIGINT, signal.SIG_IGN)`),
and pcapkit's fork server hands the processes it forks SIGINT blocked from their first
instruction (`pcapkit.forkserver`), before any initializer runs.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing import resource_tracker
from pathlib import Path

#: Seconds children have to exit after SIGTERM before they get SIGKILL.
TERM_WAIT_S = 1.0
#: Seconds, after that, that SIGKILL has to take effect before the command gives up on them.
KILL_WAIT_S = 1.0

_claim_lock = threading.Lock()
_claimed_by: int | None = None  #: the thread that reports the interrupt, or ends normally
_watching = False
_ending_children = False
_folders: list[str] = []  #: removed on an interrupt, once the children are ended


def watch_interrupts(report: Callable[[], None], status: int = 130) -> None:
    """From the main thread of a command-line process (never a library): on SIGINT, make sure
    the process exits with `status` soon, after `report()` and with its children ended."""
    global _watching
    if threading.current_thread() is not threading.main_thread():
        return  # signals reach the main thread only: nothing to watch from here
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    signal.signal(signal.SIGINT, _noted)
    os.register_at_fork(after_in_child=_in_forked_child)
    _watching = True
    threading.Thread(target=_watchdog, args=(read_fd, report, status), daemon=True,
                     name="pcapkit-interrupt-watchdog").start()


def remove_on_interrupt(folder: str) -> None:
    """Remove `folder` (and what it holds) if the command is interrupted: `os._exit` runs no
    `finally` of the main thread's."""
    _folders.append(folder)


def _noted(signum: int, frame: object) -> None:
    """SIGINT in the main thread: nothing to do there (the watchdog has been woken)."""


def watching() -> bool:
    """Whether this process watches for interrupts (it is the `pcapkit` command)."""
    return _watching


def claim() -> bool:
    """True for the thread that reports the interrupt; False when the watchdog already does
    (it is about to end the process). Always True when nothing is being watched."""
    if not _watching:
        return True
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C changes nothing
    return _take()


def ending() -> None:
    """The command is done (its status is known): a Ctrl-C now changes nothing. If one came
    too late for the main thread, the watchdog has claimed it: wait for it to exit."""
    if _watching and not claim():
        wait_for_exit()


def _take() -> bool:
    global _claimed_by
    with _claim_lock:
        if _claimed_by is None:
            _claimed_by = threading.get_ident()
        return _claimed_by == threading.get_ident()


def wait_for_exit() -> None:
    """Block while the watchdog, which claimed the interrupt, ends the process."""
    threading.Event().wait()


def _watchdog(read_fd: int, report: Callable[[], None], status: int) -> None:
    while True:
        select.select([read_fd], [], [])
        if signal.SIGINT in os.read(read_fd, 512):
            break
    if not _take():
        return  # the main thread has finished: its status stands
    try:
        report()
        sys.stderr.flush()
        # The main thread runs on meanwhile: whatever it says now (a worker pool found broken,
        # the end of a report) is not said.
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
        end_children()
        for folder in _folders:  # no worker writes there any more
            shutil.rmtree(folder, ignore_errors=True)
        remove_socket_folder()
    finally:
        os._exit(status)


def _in_forked_child() -> None:
    """A forked worker leaves Ctrl-C to its parent, and does not inherit the watchdog. One
    forked while the children are being ended (a pool replacing a worker that died) leaves at
    once."""
    global _watching
    if _ending_children:
        os._exit(0)
    _watching = False
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # forked from a thread other than the main one: nothing was inherited
        pass


def end_children(*, tracker_too: bool = True) -> None:
    """End every descendant process: SIGTERM, then SIGKILL for those still there after
    `TERM_WAIT_S`. The descendants are looked for again and again until none is left (or
    `KILL_WAIT_S` more have passed), since a pool replaces the workers it sees die. Without
    `tracker_too`, multiprocessing's resource tracker (`_tracker`) is left to end by itself:
    after a run whose pools were closed, it has nothing to clean up or report."""
    global _ending_children
    _ending_children = True
    me, termed = os.getpid(), set[int]()
    tracker = None if tracker_too else _tracker()
    start = time.monotonic()
    while time.monotonic() - start < TERM_WAIT_S + KILL_WAIT_S:
        pids = descendants(me)
        pids |= {p.pid for p in multiprocessing.active_children() if p.pid is not None}
        pids = {p for p in pids if _alive(p) and p != tracker}
        if not pids:
            return
        late = time.monotonic() - start > TERM_WAIT_S
        _signal_all(pids if late else pids - termed, signal.SIGKILL if late else signal.SIGTERM)
        termed |= pids
        time.sleep(0.02)


def remove_socket_folder() -> None:
    """Remove the folder multiprocessing made for its fork server's socket (`/tmp/pymp-*`),
    as its exit hook would: a process that leaves by `os._exit` skips the hook, and each
    streamed run left an empty folder in the system's temporary directory. Once this process's
    children have ended (`end_children`): a fork server still running would be left without
    its socket."""
    # where `multiprocessing.util.get_temp_dir` keeps it; none made, none to remove
    folder = getattr(multiprocessing.current_process(), "_config", {}).get("tempdir")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def _tracker() -> int | None:
    """The pid of multiprocessing's resource tracker, the process a `spawn` pool starts to
    unlink the semaphores its queues leave behind. It ignores SIGINT and SIGTERM by design,
    and ends by itself when this process's exit closes its pipe: waiting for it to take a
    SIGTERM cost `TERM_WAIT_S` at the end of every run with workers. (Interrupted, a pool is
    not closed, and the tracker would warn of its semaphores on the terminal: it is ended.)"""
    return getattr(resource_tracker._resource_tracker, "_pid", None)


def processes() -> Iterator[tuple[int, list[str]]]:
    """Each process's pid and the fields of its /proc/PID/stat after its name (state, parent,
    process group, session...); nothing where there is no /proc. A process that ends while
    /proc is read is left out. (pathlib's glob of `[0-9]*/stat` asks whether each file exists,
    and for a process that is ending that fails with ESRCH, which pathlib does not expect: the
    command's last step, which ends its children, once exited with a traceback so.)"""
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        yield int(name), fields


def descendants(pid: int) -> set[int]:
    """The processes below `pid` (children, their children...), read from /proc; empty where
    there is no /proc."""
    children: dict[int, list[int]] = {}
    for child, fields in processes():
        children.setdefault(int(fields[1]), []).append(child)
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _signal_all(pids: set[int], sig: signal.Signals) -> None:
    for p in pids:
        with contextlib.suppress(OSError):  # already gone
            os.kill(p, sig)


def _alive(pid: int) -> bool:
    """Still running: not gone, not a zombie (a zombie child of ours is reaped here)."""
    if _reap(pid):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return state not in ("Z", "X")


def _reap(pid: int) -> bool:
    """Collect `pid` if it is an exited child of ours; True when it was."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (a grandchild), or already collected
        return False
    return done == pid

"""Where the engine's jobs run: in this process, in a pool of local processes, or on a Dask
cluster. Each keeps at most a few jobs in flight per worker (a job can carry a chunk's bytes),
and yields results in job order."""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from itertools import islice
from typing import Any, Protocol, TypeVar, cast

from pcapkit import forkserver
from pcapkit.errors import UsageError, WorkerLost
from pcapkit.streaming import cores

J = TypeVar("J")
R = TypeVar("R")
F = TypeVar("F")

#: jobs in flight per worker: enough to keep each busy while results are gathered
IN_FLIGHT = 2


class Executor(Protocol):
    workers: int
    #: whether the workers run on this machine: they open the files this process has open
    local: bool

    def map(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[R]: ...

    def start(self, fn: Callable[[], object]) -> None:
        """Run `fn` once on each worker, now, without waiting: their start-up."""

    def close(self) -> None:
        """End the workers; closed again, nothing."""


def executor(workers: int | None, scheduler: str | None) -> Executor:
    """`scheduler` (`tcp://HOST:PORT`, or `local:N` for a Dask LocalCluster of N processes)
    when given, else `workers` local processes (all cores when None; 1: this process)."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    n = cores() if workers is None else workers
    if n < 1:
        raise UsageError(f"--workers {n}: give at least 1")
    return Inline() if n == 1 else Pool(n)


class Inline:
    """Every job in this process, one after the other."""

    workers = 1
    local = True

    def map(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[R]:
        return map(fn, jobs)

    def start(self, fn: Callable[[], object]) -> None:
        pass

    def close(self) -> None:
        pass


def _windowed(submit: Callable[[J], F], jobs: Iterable[J], window: int,
              first_done: Callable[[set[F]], set[F]]) -> Iterator[F]:
    """Futures of `jobs`, in job order, with at most `window` of them running at once: another
    is submitted as soon as any finishes (`first_done`: those of a set that have, once one has),
    not when the next in order does. Else a long job kept the jobs behind it from starting: at
    the head of the detect stage, the client shard holding a busy resolver's transactions left
    the other worker idle once it had done the window's other jobs."""
    it = iter(jobs)
    queued: deque[F] = deque()  # submitted and not yet yielded, in job order
    running: set[F] = set()

    def top_up() -> None:
        for job in islice(it, window - len(running)):
            future = submit(job)
            queued.append(future)
            running.add(future)

    top_up()
    while queued:
        head = queued.popleft()
        while head in running:
            running -= first_done(running)
            top_up()
        yield head


def _libc(name: str, *args: int) -> Callable[[], object]:
    """glibc's function `name` called with `args`, where the C library has it (else nothing to
    call)."""
    try:
        call = getattr(ctypes.CDLL(None), name)
        return cast(Callable[[], object], functools.partial(call, *args))
    except (OSError, AttributeError):  # no C library by that name; musl, macOS: no such call
        return lambda: None


_release = _libc("malloc_trim", 0)

#: glibc's `M_MMAP_THRESHOLD` and `M_TRIM_THRESHOLD`
_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD = -3, -1

#: Each block of at least 128 KB (numpy's arrays of a stage's rows) mapped on its own and
#: unmapped when freed, as glibc does until a process frees one: it then raises the threshold to
#: that block's size (up to 32 MB), and later arrays come from its heap, which keeps their pages
#: when they are freed. A stage's temporaries of hundreds of MB then piled up in the heap (20M
#: DNS-heavy packets on Dask local:2: the main process 930 -> 875 MB while it numbers the
#: connections, the detect stage 1,520 -> 1,423 MB; no slower). Called in this process by the
#: engine and on each worker before a job; glibc keeps one setting per process, so it stays set
#: once a run is done (a notebook's process included).
fixed_heap = _libc("mallopt", _M_MMAP_THRESHOLD, 128 << 10)

#: A pool worker's blocks under 4 MB (a shard's column of half a million rows, and less) come from
#: its heap, whose pages the job's later arrays reuse, and stay there when freed at its top below
#: 64 MB (`M_TRIM_THRESHOLD`: 128 KB once the mmap threshold is set, which gave each shard-sized
#: temporary freed at the top back, and the next faulted it in again). Mapped on its own, every
#: temporary was a fresh mapping whose every page the kernel faulted in and zeroed: 5M DNS-heavy
#: packets, the workers' flow stage 1.2M page faults, 0.45M so; in all, CPU time -12 %, peak RSS
#: +4 %. The heap is trimmed once the worker has waited `IDLE_TRIM_S` for its next job (`_job`), so
#: none of it outlives a stage. This process keeps `fixed_heap` once the chunks are out
#: (`walking_heap`: from then on it keeps what it gathers), and so do Dask workers: long-lived,
#: maybe running several jobs at once, and each in a thread of its own (glibc's per-thread arenas);
#: with it, 20M DNS-heavy packets on local:2 peaked at 1,508 MB (1,470-1,489 MB without), over the
#: issue's 1.5 GB.
_pool_heap_mmap = _libc("mallopt", _M_MMAP_THRESHOLD, 4 << 20)
_pool_heap_trim = _libc("mallopt", _M_TRIM_THRESHOLD, 64 << 20)
#: glibc's default: a heap's free top beyond 128 KB given back
_fixed_heap_trim = _libc("mallopt", _M_TRIM_THRESHOLD, 128 << 10)


def pool_heap() -> None:
    _pool_heap_mmap()
    _pool_heap_trim()


@contextmanager
def walking_heap() -> Iterator[None]:
    """This process's C heap as a pool worker's (`pool_heap`) while it walks the captures and
    hands their chunks out, then `fixed_heap` again, its free pages given back. Each chunk's
    records (~4 MB of arrays, put together from the walk's windows) and its pickled job were
    blocks mapped on their own, every page of each faulted in afresh: over bulk 5M packets this
    process faulted in ~220k pages, ~66k so (the run's CPU -0.25 s, median of four pairs)."""
    pool_heap()
    try:
        yield
    finally:
        fixed_heap()
        _fixed_heap_trim()
        _release()


#: how long a pool worker waits for its next job before it gives its heap's free pages back
IDLE_TRIM_S = 0.05
_idle_trim: threading.Timer | None = None


def _job(fn: Callable[[J], R], job: J, pool: bool = False) -> R:
    """`fn(job)` on a worker (of a `Pool` when `pool`, else of a Dask cluster), which then gives
    the C heap's free pages back to the system: numpy frees its arrays into glibc's heap, which
    keeps them, so a worker idle while another ends the stage held its last job's (20M
    DNS-heavy packets: 140 MB of heap after a job, 90 MB trimmed).

    A pool worker does so only once it has waited `IDLE_TRIM_S` for another job: within a
    stage its jobs come back to back, and each trimmed heap was faulted in again, page by page,
    by the next (bulk 5M packets: 640k page faults, 370k so; system CPU 1.9 -> 1.25 s)."""
    global _idle_trim
    if _idle_trim is not None:
        _idle_trim.cancel()
        _idle_trim = None
    (pool_heap if pool else fixed_heap)()
    try:
        return fn(job)
    finally:
        if pool:
            _idle_trim = threading.Timer(IDLE_TRIM_S, _release)
            _idle_trim.daemon = True
            _idle_trim.start()
        else:
            _release()


#: what to try when a local worker was killed outright
FEWER_WORKERS = ("give the analysis more memory, or fewer workers (--workers 1 holds one job "
                 "at a time)")
#: the same for a Dask cluster's: its workers are not this command's to count
MORE_MEMORY = "give the cluster's workers more memory"


def lost(fn: Callable[..., object], status: int | None, detail: str = "",
         remedy: str = FEWER_WORKERS) -> str:
    """`WorkerLost`'s line: which job a worker died under, how (`status`: its exit status, a
    signal's as its negative), and `remedy` when it was killed outright, as the kernel's
    out-of-memory killer kills (a single connection of ~10M packets holds ~1.5 GB in the job
    that settles it)."""
    how = "died"
    if status is not None and status < 0:
        try:
            how = f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            how = f"was killed by signal {-status}"
    elif status:
        how = f"exited with status {status}"
    line = f"a worker process {how} while it ran a {fn.__name__} job"
    if detail:
        line += f" ({detail})"
    if status in (None, -signal.SIGKILL):
        line += f": most often the kernel's out-of-memory killer ends a process so; {remedy}"
    return line


def worker_env(workers: int) -> dict[str, str]:
    """What a worker process's environment needs: polars sizes its thread pool to every core
    when it is imported, so that `workers` processes would each run that many threads on the
    same cores, and spend more time handing work between threads, spinning and yielding, than
    doing it (bulk 5M packets on 2 workers: 16 s of CPU with a pool of 2 threads each, 9.6 s
    with 1). numpy's OpenBLAS starts a thread per core when it is imported, each spinning ~0.1 s
    of CPU before it sleeps, beside the other workers' start-up: pcapkit does no linear
    algebra, so a worker's has none. A setting the user made is kept."""
    env = {"POLARS_MAX_THREADS": str(max(1, cores() // workers)), "OPENBLAS_NUM_THREADS": "1"}
    return {name: value for name, value in env.items() if name not in os.environ}


class Pool:
    """Local worker processes, forked from `pcapkit.forkserver`."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.local = True
        # The fork server (numpy with it) starts with this process's environment, and each
        # worker sets it again as it starts (`start_worker`): the variables stay set here until
        # `close`.
        self._env = worker_env(workers)
        os.environ.update(self._env)
        forkserver.start()
        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=forkserver.context(),
            initializer=forkserver.start_worker, initargs=(self._env,))
        forkserver.opened()
        self._open = True

    def map(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[R]:
        futures: Iterator[Future[R]] = _windowed(
            lambda j: self._pool.submit(_job, fn, j, True), jobs, IN_FLIGHT * self.workers,
            lambda running: wait(running, return_when=FIRST_COMPLETED).done)
        try:
            for f in futures:
                yield f.result()
        except BrokenProcessPool:
            raise WorkerLost(lost(fn, self._death())) from None

    def _death(self) -> int | None:
        """The exit status of the worker whose death broke the pool (a signal's as its
        negative, as `multiprocessing` has it), or None when none is known. The pool ends the
        others with SIGTERM as it breaks: theirs is not the cause.

        The status is read once the pool's manager thread has joined its workers. A forked
        worker's status comes once down a pipe from the fork server: read from two threads at
        once, the loser read the pipe's end and took it for a status of 255 (popen_forkserver's
        `except EOFError`), and that was sometimes the status this thread saw."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=True, cancel_futures=True)
        ended = [p.exitcode for p in processes]
        causes = [code for code in ended if code not in (None, 0, -signal.SIGTERM)]
        return causes[0] if causes else None

    def start(self, fn: Callable[[], object]) -> None:
        for _ in range(self.workers):
            self._pool.submit(fn)

    def close(self) -> None:
        # No waiting on jobs still queued (an interrupted run): end the workers outright.
        # `ProcessPoolExecutor` has no public way to until Python 3.14's `terminate_workers`.
        # Closed before, it has no processes (None).
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            if p.is_alive():
                p.terminate()
        for p in processes:
            p.join()
        if self._open:  # closed again: nothing
            self._open = False
            forkserver.closed()
        for name in self._env:
            os.environ.pop(name, None)


class DaskExecutor:
    """A Dask distributed cluster: an existing scheduler, or a LocalCluster started here."""

    def __init__(self, scheduler: str) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise UsageError("--scheduler needs Dask: pip install 'pcapkit[dask]'") from None
        self._cluster: Any = None
        self.local = scheduler.startswith("local:")
        if self.local:
            try:
                n = int(scheduler.removeprefix("local:"))
            except ValueError:
                raise UsageError(f"--scheduler {scheduler}: local:N needs a number") from None
            if n < 1:
                raise UsageError(f"--scheduler {scheduler}: give at least 1 worker")
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         dashboard_address=None, env=worker_env(n))
            self._client = Client(self._cluster)
        else:
            try:
                self._client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as e:  # ValueError: not an address
                raise UsageError(f"--scheduler {scheduler}: cannot connect ({e})") from None
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))

    def map(self, fn: Callable[[J], R], jobs: Iterable[J]) -> Iterator[R]:
        from distributed import KilledWorker
        from distributed import wait as wait_for

        futures = _windowed(lambda j: self._client.submit(_job, fn, j, pure=False), jobs,
                            IN_FLIGHT * self.workers,
                            lambda running: set(wait_for(list(running),
                                                         return_when="FIRST_COMPLETED").done))
        try:
            for f in futures:
                yield f.result()
        except KilledWorker as e:  # its workers died under the job as often as it allows
            raise WorkerLost(lost(fn, None, (
                f"on {e.allowed_failures + 1} Dask workers in turn, the last "
                f"{e.last_worker.address}: their logs say why"), MORE_MEMORY)) from None

    def start(self, fn: Callable[[], object]) -> None:
        # A cluster's workers are long-lived: they paid their start-up before this run.
        pass

    def close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

"""The local worker pool: each worker's polars thread pool shares the cores with the others; a
long job does not hold up the jobs behind it; a worker's death is told in one line that names
its job and how it died (on Dask too); and the C heap of the processes that run the
engine gives freed arrays back (a pool worker's after each job, having reused its pages within
it)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from pcapkit import forkserver
from pcapkit.engine.executor import DaskExecutor, Pool
from pcapkit.errors import WorkerLost
from pcapkit.streaming import cores
from tests.blas import blas_threads

ROOT = Path(__file__).resolve().parents[2]


def _threads(_: int) -> tuple[int, int]:
    return os.getpid(), pl.thread_pool_size()


@pytest.mark.skipif("POLARS_MAX_THREADS" in os.environ, reason="the user's own pool size is kept")
def test_workers_share_the_cores() -> None:
    pool = Pool(2)
    try:
        seen = dict(pool.map(_threads, range(8)))
    finally:
        pool.close()
    assert os.getpid() not in seen
    assert set(seen.values()) == {max(1, cores() // 2)}
    assert "POLARS_MAX_THREADS" not in os.environ  # set for the pool's lifetime only


@pytest.mark.skipif(blas_threads() is None, reason="numpy has no bundled OpenBLAS")
def test_workers_start_no_blas_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy's OpenBLAS starts no threads of its own in a worker (each spun ~0.1 s of CPU as
    the workers started), where the user set nothing (a Dask nanny earlier in this process may
    have set it here)."""
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    pool = Pool(2)
    try:
        seen = set(pool.map(blas_threads, range(4)))
    finally:
        pool.close()
    assert seen == {1}
    assert "OPENBLAS_NUM_THREADS" not in os.environ  # set for the pool's lifetime only


def _origin(_: int) -> tuple[int, int, bool]:
    """A worker's pid, its parent's, and whether it came with numba loaded."""
    return os.getpid(), os.getppid(), "pcapkit.forkserver.preload" in sys.modules


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(),
                    reason="no fork server on this platform: workers start afresh")
def test_workers_are_forked_from_a_server_with_numba_loaded() -> None:
    """A pool's workers come from one fork server (not this process, whose polars threads a
    fork would not copy), which loaded numba for them all and no polars, and which ends with
    the pool (~140 MB resident); each worker sizes its polars pool as its own pool asks."""
    for workers in (2, 3):
        pool = Pool(workers)
        try:
            seen = set(pool.map(_origin, range(4 * workers)))
            sizes = set(pool.map(_threads, range(4 * workers)))
            parents = {parent for _, parent, _ in seen}
            assert len({pid for pid, _, _ in seen}) == workers and len(parents) == 1
            server = parents.pop()
            assert server != os.getpid() and all(preloaded for _, _, preloaded in seen)
            assert _libraries(server) == {"llvmlite"}
        finally:
            pool.close()
        assert not Path(f"/proc/{server}").exists()
        if "POLARS_MAX_THREADS" not in os.environ:
            assert {size for _, size in sizes} == {max(1, cores() // workers)}


def _sigint_masked(found: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    """A process's first step, before anything of a pool's: whether SIGINT reaches it
    (neither blocked nor ignored), read from the masks the kernel keeps for it."""
    with open("/proc/self/status") as f:
        masks = dict(line.split(":\t") for line in f if line.startswith(("SigBlk", "SigIgn")))
    bit = 1 << (signal.SIGINT - 1)
    found.put(any(int(mask, 16) & bit for mask in masks.values()))


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(),
                    reason="no fork server on this platform: workers start afresh")
def test_a_process_forked_from_the_server_takes_no_ctrl_c_from_its_start() -> None:
    """A Ctrl-C sent to the terminal's whole process group while a worker started (between its
    fork and its first step, `start_worker`) raised `KeyboardInterrupt` in it, and it printed a
    traceback after the command's one line: the server hands every process it forks SIGINT
    blocked. This process keeps its own mask."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, set())
    pool = Pool(2)
    try:
        found = forkserver.context().SimpleQueue()
        process = forkserver.context().Process(target=_sigint_masked, args=(found,))
        process.start()
        process.join(30)
        assert found.get() is True
        assert signal.pthread_sigmask(signal.SIG_BLOCK, set()) == before
    finally:
        pool.close()


def _imported(_: int) -> str | None:
    """Where a worker's pcapkit comes from."""
    import pcapkit

    return pcapkit.__file__


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(),
                    reason="no fork server on this platform: workers start afresh")
def test_workers_import_what_this_process_imports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool opened in a directory that holds another pcapkit (a checkout of another version)
    has workers that run this process's: Python's fork server (`python -c`) put the directory
    it started in first on its path as it imported its preload, pcapkit's package with it, and
    the workers forked from it kept that package. The environment the server started with is
    this process's again once it has."""
    import pcapkit

    for package in (tmp_path / "pcapkit", tmp_path / "pcapkit" / "forkserver"):
        package.mkdir()
        (package / "__init__.py").write_text("")
    (tmp_path / "pcapkit" / "forkserver" / "preload.py").write_text("")
    monkeypatch.chdir(tmp_path)
    before = {name: os.environ.get(name) for name in ("PYTHONPATH", "PYTHONSAFEPATH")}
    pool = Pool(2)
    try:
        seen = set(pool.map(_imported, range(4)))
    finally:
        pool.close()
    assert seen == {pcapkit.__file__}
    assert {name: os.environ.get(name) for name in before} == before


def _libraries(pid: int) -> set[str]:
    """Which of numba's and polars' compiled libraries process `pid` has loaded (the fork
    server runs nothing we could ask: read from the files it maps)."""
    with open(f"/proc/{pid}/maps") as f:
        mapped = f.read()
    return {name for name in ("llvmlite", "polars_runtime") if name in mapped}


def _nap(seconds: float) -> tuple[float, float]:
    """When the job started and ended (the system's monotonic clock: one for every process)."""
    start = time.monotonic()
    time.sleep(seconds)
    return start, time.monotonic()


def test_a_long_job_does_not_hold_up_the_jobs_behind_it() -> None:
    """Two workers, four jobs in flight: while the first job runs 4 s, the other worker runs the
    nine short ones behind it, not just the three in flight beside it; results in job order."""
    pool = Pool(2)
    try:
        spans = list(pool.map(_nap, [4.0] + [0.1] * 9))
    finally:
        pool.close()
    durations = [end - start for start, end in spans]
    assert durations[0] >= 4.0 and all(0.1 <= d < 4.0 for d in durations[1:])
    assert max(end for _, end in spans[1:]) < spans[0][1]


def _dies_by(number: int) -> int:
    """A job whose worker sends itself the signal `number` (none for 0), as the kernel's
    out-of-memory killer sends SIGKILL to a process it picks."""
    if number:
        os.kill(os.getpid(), number)
        time.sleep(10)  # not reached: the signal ends the process first
    return number


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGUSR1])
def test_a_worker_s_death_names_its_job_and_the_signal(sig: signal.Signals) -> None:
    """The pool breaks (Python's BrokenProcessPool says only that a process "terminated
    abruptly"): the error says which job, by which signal, and, for SIGKILL alone, what to try."""
    pool = Pool(2)
    try:
        with pytest.raises(WorkerLost) as lost:
            list(pool.map(_dies_by, [0, 0, sig, 0, 0, 0]))
    finally:
        pool.close()
    text = str(lost.value)
    assert text.startswith(f"a worker process was killed by {sig.name} while it ran a _dies_by "
                           "job"), text
    assert ("out-of-memory killer" in text) == (sig == signal.SIGKILL), text


def test_every_death_is_told_by_its_signal() -> None:
    """A forked worker's status comes once down a pipe from the fork server. Read by this
    thread while the pool's manager thread joined the workers, the loser of the two read the
    pipe's end, which Python's popen_forkserver takes for status 255: one killed pool in ~15
    was told as "exited with status 255". Each death here is read as the signal it was."""
    told = []
    for _ in range(16):
        pool = Pool(2)
        try:
            with pytest.raises(WorkerLost) as lost:
                list(pool.map(_dies_by, [0, signal.SIGKILL, 0, 0]))
        finally:
            pool.close()
        told.append(str(lost.value).split(" while ")[0])
    assert set(told) == {"a worker process was killed by SIGKILL"}, told


def _exits_with(status: int) -> int:
    """A job whose worker leaves with exit status `status` (none for 0), as a C library that
    calls `exit` does."""
    if status:
        os._exit(status)
    return status


def test_a_worker_that_exits_names_its_status() -> None:
    pool = Pool(2)
    try:
        with pytest.raises(WorkerLost) as lost:
            list(pool.map(_exits_with, [0, 3, 0, 0]))
    finally:
        pool.close()
    assert str(lost.value) == "a worker process exited with status 3 while it ran a _exits_with job"


def test_a_dask_worker_s_death_names_its_job() -> None:
    """A real LocalCluster whose scheduler gives a job up at its first worker's death: Dask's
    KilledWorker becomes the same one line, with the worker's address."""
    dask = pytest.importorskip("dask", reason="pip install 'pcapkit[dask]'")
    pytest.importorskip("distributed", reason="pip install 'pcapkit[dask]'")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        pool = DaskExecutor("local:1")
        try:
            with pytest.raises(WorkerLost) as lost:
                list(pool.map(_dies_by, [int(signal.SIGKILL)]))
        finally:
            pool.close()
    text = str(lost.value)
    assert text.startswith("a worker process died while it ran a _dies_by job (on 1 Dask "
                           "workers in turn, the last tcp://127.0.0.1:"), text
    assert "out-of-memory killer" in text


_HEAP_SCRIPT = """
import sys
import numpy as np
from pcapkit.engine.executor import fixed_heap

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

if sys.argv[1] == "fixed":
    fixed_heap()
# A large block freed: glibc raises its mmap threshold to its size from then on.
np.ones(16 << 17).sum()
base = rss()
# A stage's temporaries (2 MB each), each followed by a block still alive after it, as a stage
# leaves its results behind: the heap cannot give the freed blocks back from its top. The live
# blocks are 64 KB, larger than the holes imports leave in the heap (8 KB ones went into those,
# and the temporaries lay together at the top).
arrays, kept = [], []
for _ in range(50):
    arrays.append(np.ones(1 << 18))
    kept.append(np.ones(1 << 13))
del arrays
print(rss() - base)
"""


def _kept_after_free(mode: str) -> int:
    # glibc's defaults: no MALLOC_* variable (a Dask nanny in this process sets some)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", _HEAP_SCRIPT, mode], capture_output=True,
                         text=True, check=True, env=env | {"PYTHONPATH": str(ROOT)})
    return int(out.stdout)


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc (Linux)")
def test_freed_temporaries_go_back_to_the_system() -> None:
    # The same temporaries in a process of glibc's defaults, then in one the engine set up.
    kept_by_default = _kept_after_free("default")
    if kept_by_default < 50 << 20:
        pytest.skip(f"this C library gave freed blocks back already ({kept_by_default} bytes "
                    "kept): nothing for fixed_heap to do")
    assert _kept_after_free("fixed") < 10 << 20


_JOB_HEAP_SCRIPT = """
import ctypes
import resource
import sys
import time
import numpy as np
from pcapkit.engine import executor

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def stage(_):
    # A shard's temporaries one after the other (2 MB each, each freed before the next), each
    # followed by a small block still alive after it, as a stage leaves its results behind.
    kept = []
    before = faults()
    for _ in range(50):
        np.ones(1 << 18).sum()
        kept.append(np.ones(1 << 13))
    faulted = faults() - before
    # Then 50 of them alive at once, and freed: holes the heap cannot give back from its top.
    arrays = []
    for _ in range(50):
        arrays.append(np.ones(1 << 18))
        kept.append(np.ones(1 << 13))
    del arrays
    return faulted, kept

def one_temporary(_):
    before = faults()
    np.ones(1 << 18).sum()
    return faults() - before

base = rss()
again = -1
if sys.argv[1] == "job":
    faulted, kept = executor._job(stage, None, pool=True)
    # the next job at once: the heap is still there; then the worker waits, and trims it
    again = executor._job(one_temporary, None, pool=True)
    time.sleep(executor.IDLE_TRIM_S * 10)
elif sys.argv[1] == "walk":
    executor.fixed_heap()
    with executor.walking_heap():
        faulted, kept = stage(None)
else:
    executor.fixed_heap()
    faulted, kept = stage(None)

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

def mapped_for_a_block():
    # bytes glibc maps on their own for a live 3 MB array (-1: no mallinfo2, glibc < 2.33)
    mallinfo2 = getattr(ctypes.CDLL(None), "mallinfo2", None)
    if mallinfo2 is None:
        return -1
    mallinfo2.restype = MallInfo2
    before = mallinfo2().hblkhd
    block = np.ones(3 << 17)
    return mallinfo2().hblkhd - before

print(faulted, rss() - base, mapped_for_a_block(), again)
"""


def _job_heap(mode: str) -> tuple[int, int, int, int]:
    """Page faults of a job's 2 MB temporaries, the heap it left resident, the bytes mapped on
    their own for a 3 MB block once it is over (-1: not known), and (`job`) the page faults of
    one more 2 MB temporary in the next job, started at once (else -1)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", _JOB_HEAP_SCRIPT, mode], capture_output=True,
                         text=True, check=True, env=env | {"PYTHONPATH": str(ROOT)})
    faulted, kept, after, again = out.stdout.split()
    return int(faulted), int(kept), int(after), int(again)


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("mode", ["job", "walk"])
def test_temporaries_reuse_the_heap_and_go_back_after(mode: str) -> None:
    """A pool worker's job (`_job`), and the engine's own process while it hands the chunks out
    (`walking_heap`). Each mapped on its own (this process's setting), 50 temporaries of 512
    pages fault in 25,600 pages; from the heap, the first one's pages serve them all, and the
    100 MB freed are not left resident after. A worker's next job, started at once, takes its
    temporary from the heap still there (512 pages faulted in again when the heap was trimmed
    after every job); the heap is given back once the worker has waited. The worker keeps its
    heap settings for its next job, while the engine maps blocks from 128 KB on their own again:
    from then on it keeps what it gathers."""
    mapped, _, _, _ = _job_heap("fixed")
    if mapped < 20_000:
        pytest.skip(f"this C library reused freed blocks already ({mapped} page faults): "
                    "nothing for pool_heap to do")
    faulted, kept, mapped_after, again = _job_heap(mode)
    assert faulted < 2_000
    assert kept < 10 << 20
    if mode == "job":
        assert 0 <= again < 256
    if mapped_after < 0:
        pytest.skip("this C library has no mallinfo2: where a block lies is not known")
    assert (mapped_after >= 3 << 20) == (mode == "walk")

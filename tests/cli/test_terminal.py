"""People waiting at a terminal: the progress bar, and Ctrl-C.

Real processes only: `pcapkit` runs with its stderr on a pseudo-terminal (or a pipe), on a
capture big enough to take more than a second; SIGINT is a real signal, sent to the process or,
as a terminal's Ctrl-C does, to its whole process group; leftover processes are looked for in
/proc by session.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import pytest

from bench.copies import make, scan
from pcapkit.cli import interrupt
from pcapkit.streaming import STREAM_FROM_BYTES
from tests.cli.spawn import PCAPKIT, cli_env
from tests.conftest import REPO, SAMPLES

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

#: a DNS-heavy capture: many small packets, so many per second of analysis
SEED = SAMPLES / "nxdomain_storm" / "pod-client-7c9f8b6d5-h2m4k.pcap"
#: the big capture (the seed's records over and over, ~10 MB) is given this many times
TIMES = 5
BAR = re.compile(rb"(read|decode|flows|detect).*\d+(\.\d)?/\d+(\.\d)? MB.* pkt/s.*\d:\d\d:\d\d")
INTERRUPTED = "pcapkit: interrupted\n"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Arguments for an analysis that runs for a few seconds (more on a busy machine): 500
    distinct copies of a capture (bench/copies.py), not the same packets 500 times over, which
    are copies of one another (one timestamp) and analysed as such, in no time."""
    path = tmp_path_factory.mktemp("big") / "big.pcap"
    make(SEED, path, 500 * scan(SEED).packets)
    return [str(path)] * TIMES


class Run:
    """`pcapkit ARGS` started in its own session, stdout a pipe, stderr a pty or a pipe; both
    read as they come."""

    def __init__(self, args: list[str], home: Path, tty: bool, cmd: list[str] | None = None):
        self.stdout, self.stderr = bytearray(), bytearray()
        env = cli_env(home, TERM="xterm-256color")
        err: int
        if tty:
            err_read, err = os.openpty()
            fcntl.ioctl(err, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        else:
            err_read, err = os.pipe()
        self.proc = subprocess.Popen(cmd or [PCAPKIT, *args], stdout=subprocess.PIPE,
                                     stderr=err, env=env, cwd=home, start_new_session=True)
        os.close(err)
        assert self.proc.stdout is not None
        self._pumps = [threading.Thread(target=self._pump, args=(fd, buf), daemon=True)
                       for fd, buf in ((self.proc.stdout.fileno(), self.stdout),
                                       (err_read, self.stderr))]
        for t in self._pumps:
            t.start()

    @staticmethod
    def _pump(fd: int, buf: bytearray) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the pty's last writer is gone
                break
            if not chunk:
                break
            buf += chunk

    def wait_for(self, pattern: re.Pattern[bytes], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not pattern.search(self.stderr):
            assert self.proc.poll() is None, f"ended before {pattern.pattern!r}: {self.stderr!r}"
            assert time.monotonic() < deadline, self.stderr
            time.sleep(0.05)

    def finish(self, timeout: float = 120) -> int:
        status = self.proc.wait(timeout)
        for t in self._pumps:
            t.join(10)
        return status

    def session(self) -> list[str]:
        """Processes still in the run's session (it led it: session id = its pid)."""
        return [f"{pid} ({fields[0]})" for pid, fields in interrupt.processes()
                if int(fields[3]) == self.proc.pid]

    def no_process_left(self) -> None:
        deadline = time.monotonic() + 5
        while self.session():
            assert time.monotonic() < deadline, f"left behind: {self.session()}"
            time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_processes_read_from_proc_leave_out_those_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child is found below this process; a pid listed in /proc whose files are gone by the
    time they are read (a process that ended meanwhile) is left out, not an error."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in interrupt.descendants(os.getpid())
        listed = os.listdir("/proc")
        monkeypatch.setattr(os, "listdir", lambda path: [*listed, "999999999"])
        pids = {pid for pid, _ in interrupt.processes()}
        assert child.pid in pids and 999_999_999 not in pids
    finally:
        child.kill()
        child.wait()


def test_a_run_on_workers_ends_clean(big: list[str], tmp_path: Path) -> None:
    """Its workers end, and multiprocessing's resource tracker, left to end by itself (not
    waited for), ends with nothing left to report."""
    run = Run(["analyze", big[0], "--workers", "2", "--chunk-records", "20000", "--format",
               "json", "-o", str(tmp_path / "out.json")], tmp_path, tty=False)
    assert run.finish() == 0, run.stderr.decode()[-3000:]
    assert run.stderr == b""
    run.no_process_left()
    assert json.loads((tmp_path / "out.json").read_text())["summary"]["packets"] > 0


def test_progress_bar_on_a_terminal_only(big: list[str], tmp_path: Path) -> None:
    args = ["analyze", *big, "--format", "json"]
    on_tty = Run(args, tmp_path, tty=True)
    piped = Run(args, tmp_path, tty=False)
    assert on_tty.finish() == 0, on_tty.stderr[-3000:]
    assert piped.finish() == 0, piped.stderr.decode()
    assert BAR.search(on_tty.stderr), on_tty.stderr[-2000:]
    assert piped.stderr == b""
    # The bar draws on stderr only, and erases itself: the report is byte for byte the same.
    assert on_tty.stdout == piped.stdout
    assert b'"pcapkit_version"' in on_tty.stdout


def test_the_api_draws_the_bar_when_asked(big: list[str], tmp_path: Path) -> None:
    code = ("import sys, pcapkit; r = pcapkit.analyze(sys.argv[1:], progress={}); "
            "print(r.packets.height)")
    asked = Run([], tmp_path, tty=True, cmd=[sys.executable, "-c", code.format(True), *big])
    default = Run([], tmp_path, tty=True, cmd=[sys.executable, "-c", code.format(False), *big])
    assert asked.finish() == 0 and default.finish() == 0, asked.stderr + default.stderr
    assert BAR.search(asked.stderr), asked.stderr[-2000:]
    assert default.stderr == b""
    assert asked.stdout == default.stdout


def test_quiet_silences_the_bar(big: list[str], tmp_path: Path) -> None:
    run = Run(["analyze", *big, "--quiet", "--format", "json"], tmp_path, tty=True)
    started = time.monotonic()
    assert run.finish() == 0, run.stderr.decode()[-3000:]
    assert time.monotonic() - started > 1.5  # long enough that the bar would have shown
    assert run.stderr == b""


def test_ctrl_c_exits_130_with_one_line(big: list[str], tmp_path: Path) -> None:
    run = Run(["analyze", *big, *big], tmp_path, tty=False)  # interrupted long before its end
    time.sleep(1.5)
    assert run.proc.poll() is None, "the analysis ended before it could be interrupted"
    run.proc.send_signal(signal.SIGINT)
    assert run.finish(30) == 130, run.stderr.decode()[-3000:]
    assert run.stderr.decode() == INTERRUPTED
    assert run.stdout == b""
    run.no_process_left()


def test_ctrl_c_while_the_cli_is_imported(big: list[str], tmp_path: Path) -> None:
    """Ctrl-C as soon as the console script has started the fork server, while it imports the
    CLI (~0.4 s, seconds on a loaded machine) and before the command watches for interrupts:
    the same one line and exit 130, not a traceback of the import, and the server ended. (The
    capture named as many times as reads as a streamed run, which starts the server ahead.)"""
    times = -(-STREAM_FROM_BYTES // os.path.getsize(big[0]))
    run = Run(["analyze", *[big[0]] * times], tmp_path, tty=False)
    deadline = time.monotonic() + 30
    while not _children(run.proc.pid):  # the fork server: started ahead of the CLI's imports
        assert run.proc.poll() is None and time.monotonic() < deadline, run.stderr
        time.sleep(0.002)
    run.proc.send_signal(signal.SIGINT)
    assert run.finish(30) == 130, run.stderr.decode()[-3000:]
    assert run.stderr.decode() == INTERRUPTED
    run.no_process_left()


def test_ctrl_c_on_a_terminal_erases_the_bar(big: list[str], tmp_path: Path) -> None:
    run = Run(["analyze", *big, *big], tmp_path, tty=True)
    run.wait_for(BAR)
    os.killpg(run.proc.pid, signal.SIGINT)  # as the terminal sends it: to the whole group
    assert run.finish(30) == 130, run.stderr.decode()[-3000:]
    assert b"Traceback" not in run.stderr
    # The bar's line is erased (cursor up, erase line), then the one line.
    assert run.stderr.endswith(b"\x1b[2K" + INTERRUPTED.encode().replace(b"\n", b"\r\n"))
    run.no_process_left()


#: `pcapkit analyze` with worker processes, as a parallel engine has them: the pool is
#: started once the command watches for interrupts (as the engine's is, inside `analyze`), and
#: its workers are busy when Ctrl-C comes.
WITH_WORKERS = """
import signal, sys, threading, time
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pcapkit.cli import app, interrupt

def start_pool():
    while not interrupt.watching():
        time.sleep(0.01)
    ctx = mp.get_context("fork")
    if sys.argv[1] == "executor":
        pool = ProcessPoolExecutor(2, mp_context=ctx)
        for _ in range(4):
            pool.submit(time.sleep, 600)
    elif sys.argv[1] == "spawned":  # fresh interpreters: they must ignore Ctrl-C themselves
        pool = ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"),
                                   initializer=signal.signal,
                                   initargs=(signal.SIGINT, signal.SIG_IGN))
        list(pool.map(abs, [1, 2]))  # both started
        for _ in range(4):
            pool.submit(time.sleep, 600)
    else:
        pool = ctx.Pool(2)
        pool.map_async(time.sleep, [600] * 4)
    KEEP.append(pool)
    print("workers up", file=sys.stderr, flush=True)

KEEP = []
threading.Thread(target=start_pool, daemon=True).start()
sys.argv = ["pcapkit", *sys.argv[2:]]
app.main()
"""


@pytest.mark.parametrize("pool", ["executor", "pool", "spawned"])
@pytest.mark.parametrize("group", [False, True], ids=["kill-pid", "ctrl-c-group"])
def test_ctrl_c_ends_worker_processes(big: list[str], tmp_path: Path, pool: str,
                                      group: bool) -> None:
    run = Run([], tmp_path, tty=False,
              cmd=[sys.executable, "-c", WITH_WORKERS, pool, "analyze", *big, *big])
    run.wait_for(re.compile(b"workers up\n"))
    assert len(run.session()) >= 3  # pcapkit and its two workers
    time.sleep(0.3)
    if group:
        os.killpg(run.proc.pid, signal.SIGINT)
    else:
        run.proc.send_signal(signal.SIGINT)
    assert run.finish(30) == 130, run.stderr.decode()[-3000:]
    assert run.stderr.decode() == "workers up\n" + INTERRUPTED
    run.no_process_left()


@pytest.mark.parametrize("group", [False, True], ids=["kill-pid", "ctrl-c-group"])
def test_ctrl_c_ends_the_streaming_engines_workers(big: list[str], tmp_path: Path,
                                                   group: bool) -> None:
    """pcapkit's own engine: a streamed analysis on two worker processes, interrupted while
    they decode; its spill directory goes too."""
    spill = tmp_path / "spill"
    spill.mkdir()
    args = ["analyze", *big, *big, "--workers", "2", "--chunk-records", "2000",
            "--spill-dir", str(spill)]
    run = Run(args, tmp_path, tty=True)
    run.wait_for(re.compile(rb"decode.*pkt/s"))
    assert len(run.session()) >= 3  # pcapkit and its two workers
    if group:
        os.killpg(run.proc.pid, signal.SIGINT)
    else:
        run.proc.send_signal(signal.SIGINT)
    assert run.finish(30) == 130, run.stderr.decode()[-3000:]
    assert b"Traceback" not in run.stderr
    assert run.stderr.endswith(INTERRUPTED.encode().replace(b"\n", b"\r\n"))
    run.no_process_left()
    assert list(spill.iterdir()) == []


def test_a_worker_killed_mid_run_is_one_line_and_exit_1(big: list[str], tmp_path: Path) -> None:
    """A worker of a streamed analysis killed with SIGKILL, as the kernel's out-of-memory
    killer kills: the run ends with the contract's exit 1 and one line naming the job and the
    signal, no traceback, no process left, no spill."""
    spill = tmp_path / "spill"
    spill.mkdir()
    args = ["analyze", *big, *big, "--workers", "2", "--chunk-records", "2000",
            "--spill-dir", str(spill), "--format", "json"]
    run = Run(args, tmp_path, tty=False)
    deadline = time.monotonic() + 60
    while not (workers := _workers(run.proc.pid)):  # the fork server's children
        assert run.proc.poll() is None and time.monotonic() < deadline, run.stderr
        time.sleep(0.05)
    time.sleep(0.5)  # decoding
    os.kill(workers[0], signal.SIGKILL)
    assert run.finish(60) == 1, run.stderr.decode()[-3000:]
    line = run.stderr.decode()
    assert re.fullmatch(r"pcapkit: a worker process was killed by SIGKILL while it ran a \w+ "
                        r"job: most often the kernel's out-of-memory killer [^\n]*--workers 1"
                        r"[^\n]*\n", line), line
    assert run.stdout == b""
    run.no_process_left()
    assert list(spill.iterdir()) == []


def _children(pid: int) -> list[int]:
    parent = {p: int(fields[1]) for p, fields in interrupt.processes()}
    return [p for p, up in parent.items() if up == pid]


def _workers(pid: int) -> list[int]:
    """The grandchildren of process `pid`: a streamed run's pool workers, forked by its fork
    server."""
    parent = {p: int(fields[1]) for p, fields in interrupt.processes()}
    return [p for p, up in parent.items() if parent.get(up) == pid]


@pytest.mark.parametrize("interrupted", [False, True], ids=["finished", "ctrl-c"])
def test_a_streamed_run_leaves_no_folder_behind(big: list[str], tmp_path: Path,
                                                interrupted: bool,
                                                request: pytest.FixtureRequest) -> None:
    """The fork server's socket folder (multiprocessing's `pymp-*`, in the temporary
    directory) goes with the run, which leaves by `os._exit`, finished or interrupted. (The
    temporary directory a short path: under a long one the folder is made in /tmp.)"""
    temp = Path(tempfile.mkdtemp(dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(temp, ignore_errors=True))
    args = ["analyze", *big[:2], "--workers", "2", "--chunk-records", "2000", "--quiet"]
    proc = subprocess.Popen([PCAPKIT, *args], env=cli_env(tmp_path, TMPDIR=str(temp)),
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    if interrupted:
        time.sleep(1.5)  # the pool and its fork server started (`pymp-*` made)
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (130 if interrupted else 0), err.decode()[-2000:]
    assert list(temp.iterdir()) == []


def test_a_streamed_run_under_a_long_temporary_directory(big: list[str], tmp_path: Path
                                                         ) -> None:
    """A `TMPDIR` too long a path for the fork server's socket beneath it: the run goes on
    (it failed with "AF_UNIX path too long")."""
    temp = tmp_path / ("t" * 80)
    temp.mkdir()
    proc = subprocess.run(
        [PCAPKIT, "analyze", *big[:2], "--workers", "2", "--chunk-records", "2000", "--quiet"],
        env=cli_env(tmp_path, TMPDIR=str(temp)), cwd=tmp_path, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]


def test_the_subprocesses_run_this_checkout() -> None:
    code = "import pcapkit, sys; sys.stdout.write(pcapkit.__file__)"
    out = subprocess.run([sys.executable, "-c", code], env=cli_env(REPO), cwd="/",
                         capture_output=True, text=True, check=True).stdout
    assert Path(out).parent.parent == REPO


#: The main thread stuck in compiled code (as in a numba decode kernel, or a polars query),
#: where Python cannot raise KeyboardInterrupt until it returns: the watchdog ends the process.
STUCK = """
import sys
import tempfile
import numba
from pcapkit.cli import interrupt
from pcapkit.streaming import STREAM_FROM_BYTES

@numba.njit(nogil=True)
def spin(n):
    x = 1
    for i in range(n):
        x = (x * 1103515245 + 12345 + i) % 2147483647
    return x

spin(10)  # compiled before the clock starts
interrupt.watch_interrupts(lambda: sys.stderr.write("pcapkit: interrupted\\n"), 130)
print("spinning", file=sys.stderr, flush=True)
print(spin(10**12))  # minutes of work
"""


def test_ctrl_c_in_compiled_code_still_exits_at_once(tmp_path: Path) -> None:
    run = Run([], tmp_path, tty=False, cmd=[sys.executable, "-c", STUCK])
    run.wait_for(re.compile(b"spinning\n"))
    time.sleep(0.3)
    run.proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    assert run.finish(30) == 130, run.stderr.decode()[-3000:]
    assert time.monotonic() - sent < 10  # the watchdog's grace, not the minutes of the loop
    assert run.stderr.decode() == "spinning\n" + INTERRUPTED
    assert run.stdout == b""

"""One lab run's namespaces and processes, and their teardown.

Every namespace is named `pklab-<run id>-<name>`, so two runs never collide and a crashed run's
leftovers can be found and removed by prefix. Teardown runs on normal exit, on exceptions and on
SIGINT/SIGTERM (the handlers turn the signal into an exception so `finally` blocks run).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

PREFIX = "pklab-"
NETNS_ETC = Path("/etc/netns")  # `ip netns exec` bind-mounts /etc/netns/NAME/* over /etc/*
REPO = Path(__file__).resolve().parents[2]


class LabError(RuntimeError):
    """A command the lab needs failed; the message carries its output."""


def run(args: Sequence[str], *, check: bool = True, input: str | None = None) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, input=input, cwd=REPO)
    if check and done.returncode != 0:
        raise LabError(f"{' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


class Lab:
    """Namespaces and processes of one run; `with Lab() as lab:` tears them all down on exit."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id or secrets.token_hex(3)
        self.prefix = f"{PREFIX}{self.run_id}-"
        self.processes: list[subprocess.Popen[str]] = []

    def ns(self, name: str) -> str:
        return self.prefix + name

    def add_ns(self, name: str) -> str:
        full = self.ns(name)
        run(["ip", "netns", "add", full])
        self.sh(name, "ip", "link", "set", "lo", "up")
        return full

    def sh(self, name: str, *args: str, check: bool = True, input: str | None = None) -> str:
        """Run a command inside namespace `name`."""
        return run(["ip", "netns", "exec", self.ns(name), *args], check=check, input=input)

    def spawn(
        self, name: str, *args: str, ready: str | None = None, stdout: int | None = None
    ) -> subprocess.Popen[str]:
        """Start a process in namespace `name`; with `ready`, wait until it prints that on stderr.

        Python modules of the lab run from the repository root, so `-m samples.lab...` imports.
        """
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(name), *args],
            cwd=REPO,
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(proc)
        if ready is not None:
            assert proc.stderr is not None
            seen = []
            for line in proc.stderr:
                seen.append(line)
                if ready in line:
                    break
            else:
                raise LabError(f"{' '.join(args)} exited before ready: {''.join(seen)}")
        return proc

    def python(self, name: str, module: str, *args: str) -> subprocess.Popen[str]:
        """Start one of the lab's Python modules in a namespace, waiting for its `ready` line."""
        return self.spawn(name, sys.executable, "-m", f"samples.lab.{module}", *args, ready="ready")

    def write_etc(self, name: str, files: dict[str, str]) -> None:
        """Files that `ip netns exec` shows in place of /etc/<file> inside namespace `name`."""
        folder = NETNS_ETC / self.ns(name)
        folder.mkdir(parents=True, exist_ok=True)
        for file, text in files.items():
            (folder / file).write_text(text)

    def __enter__(self) -> Lab:
        self._previous = {
            s: signal.signal(s, _raise_interrupt) for s in (signal.SIGINT, signal.SIGTERM)
        }
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            for proc in self.processes:
                stop(proc)
            cleanup(self.prefix)
        finally:
            for s, handler in self._previous.items():
                signal.signal(s, handler)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> None:
    """Signal one process we started and wait for it; kill it if it lingers."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def namespaces(prefix: str = PREFIX) -> list[str]:
    listing = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in listing.splitlines() if line.startswith(prefix)]


def cleanup(prefix: str) -> None:
    """Remove every namespace of `prefix` (with the processes the lab left in it) and its
    /etc/netns folder.

    Deleting a namespace deletes its interfaces and their veth peers; the root namespace never held
    any of them.
    """
    for ns in namespaces(prefix):
        for pid in run(["ip", "netns", "pids", ns], check=False).split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        run(["ip", "netns", "del", ns], check=False)
    for folder in _etc_folders(prefix):
        shutil.rmtree(folder, ignore_errors=True)


def _etc_folders(prefix: str) -> Iterator[Path]:
    return NETNS_ETC.glob(f"{prefix}*") if NETNS_ETC.is_dir() else iter(())


def leftovers(prefix: str) -> list[str]:
    """What a run with `prefix` left behind: namespaces, /etc/netns folders, root interfaces."""
    run_id = prefix.removeprefix(PREFIX).rstrip("-")
    links = [line for line in run(["ip", "-o", "link"]).splitlines() if run_id and run_id in line]
    return namespaces(prefix) + [str(p) for p in _etc_folders(prefix)] + links

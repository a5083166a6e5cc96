"""The exceptions pcapkit raises. The whole tree:

    PcapkitError              anything the user can fix: the CLI prints one line, exits 2
    ├── CaptureError          a capture file that cannot be read at all (not a capture,
    │                         unreadable header, no such file)
    ├── SnapshotError         a Kubernetes snapshot that cannot be read
    ├── StoreError            a directory that is not a pcapkit store, or one that cannot be
    │                         written there (`pcapkit convert`, `pcapkit.load`)
    └── UsageError            arguments that do not fit together
    WorkerLost                a worker process died under a job (killed, most often by the
                              kernel's out-of-memory killer, or crashed): the CLI prints one
                              line and exits 1, the contract's internal error

Malformed *packets* are never exceptions: they are rows whose `status` says how far decoding
got. A capture cut short is not an exception either: it is read up to its last whole record
and a warning is attached to the capture.
"""

from __future__ import annotations

from pathlib import Path


class PcapkitError(Exception):
    """Base of every error a user can act on; `str()` is the one line the CLI prints."""


class CaptureError(PcapkitError):
    """A capture file that cannot be read at all."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class SnapshotError(PcapkitError):
    """A Kubernetes snapshot that cannot be read."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class StoreError(PcapkitError):
    """A directory that is not a readable pcapkit store, or where one cannot be written."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UsageError(PcapkitError):
    """Arguments that do not fit together."""


class WorkerLost(Exception):
    """A worker process of the engine died under a job. Nothing in the input says so: the
    machine, or pcapkit, could not carry the job. `str()` is the one line the CLI prints."""

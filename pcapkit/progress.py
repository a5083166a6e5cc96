"""How an analysis reports its progress: one callback, called as work gets done.

    >>> def show(stage, done_bytes, total_bytes, packets):
    ...     print(f"{stage}: {done_bytes}/{total_bytes} bytes, {packets} packets")
    >>> pcapkit.analyze(["pod.pcap"], progress=show)

The protocol, for whoever calls it (the pipeline) and whoever implements it (the CLI's bar, a
notebook widget, a log line):

- `stage` is a `Stage` (a `str`): the stage working now.
- `done_bytes` of `total_bytes`: capture bytes read and decoded so far, of the capture files'
  sizes on disk (a gzip file counts its compressed size). `done_bytes` never decreases and ends
  equal to `total_bytes`; the stages after decode report `done_bytes == total_bytes`.
- `packets`: packets decoded so far, across all captures; it never decreases.

Calls come at stage boundaries and, for long stages, as chunks complete; from any one thread
at a time, never concurrently. A callback must be quick and must not raise.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Stage(StrEnum):
    """The pipeline stage a progress call reports on."""

    READ = "read"  #: finding the records of a capture file
    DECODE = "decode"  #: decoding packets (link layer to application)
    KUBE = "kube"  #: loading Kubernetes snapshots
    FLOWS = "flows"  #: following connections and DNS transactions
    DETECT = "detect"  #: running the symptom detectors
    STORE = "store"  #: writing the packet table of a store (`pcapkit convert`)


class Progress(Protocol):
    """A progress callback (see the module docstring for the protocol)."""

    def __call__(self, stage: str, done_bytes: int, total_bytes: int, packets: int) -> None: ...


def _no_progress(stage: str, done_bytes: int, total_bytes: int, packets: int) -> None:
    """Report nothing."""


#: The callback that ignores every call: the default.
NO_PROGRESS: Progress = _no_progress

"""Stage 1, read: a capture file (pcap, pcapng, either gzip-compressed) into `Capture` records."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

from pcapkit.errors import CaptureError
from pcapkit.read.pcap import Span, is_pcap, scan_pcap
from pcapkit.read.pcapng import is_pcapng, scan_pcapng
from pcapkit.read.records import Capture, Direction, Interface, Records
from pcapkit.read.source import Source, open_source

__all__ = ["Capture", "Direction", "Interface", "Records", "Span", "read_capture", "rescan",
           "scan_capture"]


def read_capture(path: str | Path) -> Capture:
    """Read one capture file; raises `CaptureError` when it is not a capture at all."""
    capture, windows = scan_capture(path)
    return dataclasses.replace(capture, records=Records.concat(list(windows)))


def scan_capture(path: str | Path, spans: Sequence[Span] | None = None
                 ) -> tuple[Capture, Iterator[Records]]:
    """One capture file's metadata (`records` empty) and its records, a window of the file's
    bytes at a time. The capture's `warnings` (and a pcapng's interfaces and comments) are
    complete once the records are. With `spans` (where records read before lie), a pcap file's
    records of those spans only; a pcapng's all the same."""
    src = open_source(path)
    if is_pcap(src.data) or is_pcapng(src.data):
        return _scan(src, spans)
    what = "gzip-compressed data that is not" if src.compressed else "not"
    if len(src.data) < 4:
        if src.compressed and src.warnings:
            raise CaptureError(path, src.warnings[0].split(";")[0])
        raise CaptureError(path, "file too short to be a capture")
    raise CaptureError(path, f"{what} a pcap or pcapng capture (magic {bytes(src.data[:4]).hex()})")


def rescan(capture: Capture, spans: Sequence[Span] | None = None
           ) -> tuple[Capture, Iterator[Records]]:
    """`scan_capture` of a capture scanned before, from the bytes it holds: a compressed one is
    not decompressed again (1.3 GB of capture: ~3 s)."""
    return _scan(Source(capture.path, capture.buffer, capture.compressed, [], capture.spool), spans)


def _scan(src: Source, spans: Sequence[Span] | None) -> tuple[Capture, Iterator[Records]]:
    return scan_pcap(src, spans) if is_pcap(src.data) else scan_pcapng(src)

"""Stage 1, read: a capture file (pcap, pcapng, either gzip-compressed) into `Capture` records."""

from __future__ import annotations

from pathlib import Path

from pcapkit.errors import CaptureError
from pcapkit.read.pcap import is_pcap, read_pcap
from pcapkit.read.pcapng import is_pcapng, read_pcapng
from pcapkit.read.records import Capture, Direction, Interface, Records
from pcapkit.read.source import open_source

__all__ = ["Capture", "Direction", "Interface", "Records", "read_capture"]


def read_capture(path: str | Path) -> Capture:
    """Read one capture file; raises `CaptureError` when it is not a capture at all."""
    src = open_source(path)
    if is_pcap(src.data):
        return read_pcap(src)
    if is_pcapng(src.data):
        return read_pcapng(src)
    what = "gzip-compressed data that is not" if src.compressed else "not"
    if len(src.data) < 4:
        if src.compressed and src.warnings:
            raise CaptureError(path, src.warnings[0].split(";")[0])
        raise CaptureError(path, "file too short to be a capture")
    raise CaptureError(path, f"{what} a pcap or pcapng capture (magic {bytes(src.data[:4]).hex()})")

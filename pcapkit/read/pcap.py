"""Classic libpcap files: a 24-byte file header, then records of a 16-byte header and data.

The magic number gives the byte order and the timestamp unit: 0xa1b2c3d4 microseconds,
0xa1b23c4d nanoseconds, each in either byte order. 0xa1b2cd34 is Alexey Kuznetzov's
"modified" format, whose record headers carry 8 more bytes (ifindex, protocol, packet type).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pcapkit.errors import CaptureError
from pcapkit.read.ranges import FILE_HEADER_LEN, Layout, records_of
from pcapkit.read.records import Capture, Interface, Records
from pcapkit.read.source import Source, bytes_path, mapped_file, release
from pcapkit.read.walk import WalkEnd, find_records_windowed

#: magic as read little-endian → (big endian file, nanosecond timestamps, record header length)
MAGICS: dict[int, tuple[bool, bool, int]] = {
    0xA1B2C3D4: (False, False, 16),
    0xD4C3B2A1: (True, False, 16),
    0xA1B23C4D: (False, True, 16),
    0x4D3CB2A1: (True, True, 16),
    0xA1B2CD34: (False, False, 24),
    0x34CDB2A1: (True, False, 24),
}
#: libpcap refuses records larger than this (unless the snaplen is larger still).
MAX_CAPLEN = 262144
#: bits 0-15 of the header's link-type field are the link type (libpcap's `LT_LINKTYPE`); bits
#: 16-25 are reserved and the rest is FCS information, all ignored here as libpcap does.
LINKTYPE_MASK = 0x0000FFFF


@dataclass(frozen=True)
class Span:
    """Records of a capture read before, to be read again: `records` of them from frame
    number `frame`, whose data starts at byte `start`, to the one whose data ends at byte
    `end`."""

    frame: int
    records: int
    start: int
    end: int

    def holds(self, frames: npt.NDArray[np.uint32]) -> bool:
        """Whether any of the sorted frame numbers `frames` is one of the span's."""
        at = int(np.searchsorted(frames, self.frame))
        return at < len(frames) and int(frames[at]) < self.frame + self.records


def is_pcap(data: bytes | memoryview) -> bool:
    return len(data) >= 4 and int.from_bytes(data[:4], "little") in MAGICS


def layout(capture: Capture) -> Layout:
    """How the record headers of `capture` (a pcap file, scanned) read."""
    big, nano, header_len = MAGICS[int.from_bytes(capture.buffer[:4], "little")]
    max_caplen = max(capture.interfaces[0].snaplen, MAX_CAPLEN)
    return Layout(big, nano, header_len, max_caplen, 0).first_sec_of(capture.buffer)


def scan_pcap(src: Source, spans: Sequence[Span] | None = None
              ) -> tuple[Capture, Iterator[Records]]:
    """A pcap file's metadata (its `records` empty) and its records, a window of the file at
    a time: the walk touches every page of the file, and each window's pages are let go once
    its record headers are read, so that a capture of many GB is never all resident. The
    capture's `warnings` are complete once the windows are. With `spans`, only their
    records, each span's walked again from its first record."""
    data = src.data
    big = MAGICS[int.from_bytes(data[:4], "little")][0]
    if len(data) < FILE_HEADER_LEN:
        raise CaptureError(src.path, "pcap file header cut short")
    order = ">" if big else "<"
    _major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(
        order + "HHiIII", data, 4
    )
    iface = Interface(index=0, link_type=network & LINKTYPE_MASK, snaplen=snaplen)
    capture = Capture(
        path=src.path, format="pcap", compressed=src.compressed, buffer=data,
        interfaces=[iface], records=Records.empty(), warnings=list(src.warnings),
        big_endian=big, spool=src.spool,
    )
    shape = layout(capture)
    if spans is None:
        return capture, _windows(capture, shape)
    return capture, (records for span in spans for records in _windows(capture, shape, span))


def _windows(capture: Capture, shape: Layout, span: Span | None = None) -> Iterator[Records]:
    """The records of the whole file, or of `span` (with no warnings: its records were read
    whole before)."""
    data, big, header_len = capture.buffer, capture.big_endian, shape.header_len
    buf = np.frombuffer(data, np.uint8)
    n, why, start = 0, WalkEnd.CLEAN, FILE_HEADER_LEN
    if span is not None:
        n, start, buf = span.frame - 1, span.start - header_len, buf[:span.end]
    pos = released = start
    # A compressed capture's buffer maps its decompressed copy (`open_source`), not its file.
    path = bytes_path(capture.path, capture.compressed, capture.spool)
    with nullcontext(None) if path is None else mapped_file(path, data) as file:
        for offsets, words, pos, end in find_records_windowed(buf, start, big, header_len, 8,
                                                              shape.max_caplen, file=file):
            why = end
            yield records_of(offsets, words, n, shape)
            n += len(offsets)
            release(data, pos, released)
            released = pos
    if span is None:
        capture.warnings.extend(damage(why, pos, n, shape))


def damage(why: WalkEnd, pos: int, n: int, shape: Layout) -> list[str]:
    """The warning of a walk of a pcap file that ended (`why`) at byte `pos` after `n` whole
    records, if it ended before the file did."""
    if why == WalkEnd.SHORT_HEADER or why == WalkEnd.SHORT_DATA:
        return [f"capture cut short at byte {pos}: the record there (frame {n + 1}) is "
                f"incomplete; read the {n} whole records before it"]
    if why == WalkEnd.TOO_LONG:
        return [f"frame {n + 1} at byte {pos} declares a captured length above "
                f"{shape.max_caplen} bytes; read the {n} records before it"]
    return []

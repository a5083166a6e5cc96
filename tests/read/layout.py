"""Where records and blocks start in an intact capture, found by a walk of its own (the
oracle the damage tests compare the reader with)."""

from __future__ import annotations

import struct

from tests.conftest import SAMPLES

#: a pcapng recorded by dumpcap on three interfaces
PCAPNG = SAMPLES / "healthy" / "node-worker-1-multi.pcapng"
PCAP_HEADER, RECORD_HEADER = 24, 16
EPB = 6


def pcap_records(data: bytes) -> list[int]:
    """Where each record header of an intact little-endian pcap starts."""
    starts, pos = [], PCAP_HEADER
    while pos < len(data):
        starts.append(pos)
        (caplen,) = struct.unpack_from("<I", data, pos + 8)
        pos += RECORD_HEADER + caplen
    return starts


def pcapng_blocks(data: bytes) -> list[tuple[int, int]]:
    """(offset, type) of each block of an intact little-endian pcapng."""
    blocks, pos = [], 0
    while pos < len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        blocks.append((pos, btype))
        pos += blen
    return blocks

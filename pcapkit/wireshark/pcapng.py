"""A pcapng writer for extracted packets: one section, an interface block per interface of the
original captures (its own link type, `if_name`, nanosecond timestamps), and enhanced packet
blocks that keep each packet's captured bytes, its length on the wire and a comment.

Not dpkt's `pcapng.Writer` (dpkt 1.9.8): its `EnhancedPacketBlock.__bytes__` overwrites the
packet's length on the wire with the captured length, so a packet tcpdump's snaplen cut
(`-s 96`, common on busy nodes) would claim to be whole, and Wireshark would show a cut TCP
segment as a short one and analyse its sequence numbers wrongly. The blocks it takes are a
few lines of `struct` (the pcapng specification, draft-ietf-opsawg-pcapng, sections 4.1-4.3),
written little-endian as most capture hosts do.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

SHB, IDB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END, OPT_COMMENT = 0, 1
SHB_USERAPPL = 4
IF_NAME, IF_DESCRIPTION, IF_TSRESOL = 2, 3, 9
#: if_tsresol 9: timestamps count nanoseconds, as pcapkit keeps them
NANOSECONDS = 9


@dataclass(frozen=True)
class Interface:
    link_type: int  #: LINKTYPE_*
    name: str | None = None  #: if_name, as the original capture named it
    description: str | None = None  #: if_description
    snaplen: int = 0  #: 0: no limit


@dataclass(frozen=True)
class Packet:
    interface: int  #: index into the interfaces written
    ts_ns: int  #: nanoseconds since the Unix epoch
    data: bytes  #: the captured bytes
    origlen: int  #: the packet's length on the wire
    comment: str | None = None


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _options(options: Iterable[tuple[int, bytes]]) -> bytes:
    body = b"".join(struct.pack("<HH", code, len(value)) + _pad(value)
                    for code, value in options)
    return body + struct.pack("<HH", OPT_END, 0) if body else b""


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


def _text(code: int, value: str | None) -> list[tuple[int, bytes]]:
    return [(code, value.encode("utf-8"))] if value else []


def write_pcapng(out: BinaryIO, interfaces: list[Interface], packets: Iterable[Packet],
                 application: str | None = None) -> int:
    """Write a pcapng file of `interfaces` and `packets` to `out`; returns the packets written."""
    out.write(_block(SHB, struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
                     + _options(_text(SHB_USERAPPL, application))))
    for iface in interfaces:
        opts = [*_text(IF_NAME, iface.name), *_text(IF_DESCRIPTION, iface.description),
                (IF_TSRESOL, bytes([NANOSECONDS]))]
        out.write(_block(IDB, struct.pack("<HHI", iface.link_type, 0, iface.snaplen)
                         + _options(opts)))
    n = 0
    for p in packets:
        head = struct.pack("<IIIII", p.interface, p.ts_ns >> 32, p.ts_ns & 0xFFFFFFFF,
                           len(p.data), p.origlen)
        out.write(_block(EPB, head + _pad(p.data) + _options(_text(OPT_COMMENT, p.comment))))
        n += 1
    return n

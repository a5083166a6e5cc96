"""pcapng files: a sequence of blocks, each section opened by a Section Header Block.

Read here: SHB (either byte order, several sections), IDB (link type, snaplen, `if_name`,
`if_description`, `if_tsresol`, `if_tsoffset`), EPB (with `epb_flags` direction and comments),
SPB, and the obsolete Packet Block. Every other block is skipped by its length (with a warning
when its type is in no registry: a corrupt type field). Interfaces are numbered across the whole
file so that the interface ids of later sections do not collide.

Damage ends the reading where it starts, keeping every record before it: a block cut short, or
whose length is invalid or disagrees with its trailing copy, adds a warning naming its byte
offset (in the decompressed data, for a gzip file) and the number of records read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from pcapkit.errors import CaptureError
from pcapkit.read.records import Capture, Direction, Interface, Records
from pcapkit.read.source import Source

SHB, IDB, PB, SPB, EPB = 0x0A0D0D0A, 0x00000001, 0x00000002, 0x00000003, 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_END, OPT_COMMENT = 0, 1
IF_NAME, IF_DESCRIPTION, IF_TSRESOL, IF_TSOFFSET = 2, 3, 9, 14
EPB_FLAGS = 2
#: Wireshark's limit on one block; a larger declared length is corruption, not data.
MAX_BLOCK_LEN = 16 * 1024 * 1024
#: Block types the pcapng registry assigns (ranges): IDB..DSB, Hone, Sysdig, custom blocks.
KNOWN = ((0x00000001, 0x0000000A), (0x00000101, 0x00000102), (0x00000201, 0x0000021F),
         (0x00000BAD, 0x00000BAD), (0x40000BAD, 0x40000BAD))
#: Types with the top bit set are reserved for local use.
LOCAL_USE = 0x80000000


def is_pcapng(data: bytes | memoryview) -> bool:
    return len(data) >= 4 and int.from_bytes(data[:4], "little") == SHB


@dataclass
class _Iface:
    link_type: int
    snaplen: int
    name: str | None = None
    description: str | None = None
    tsresol: int = 6  #: the raw if_tsresol byte; default 10^-6
    tsoffset: int = 0  #: seconds


class _Builder:
    """Collects records while the blocks are walked."""

    def __init__(self) -> None:
        self.iface: list[int] = []
        self.ts: list[int] = []
        self.offset: list[int] = []
        self.caplen: list[int] = []
        self.origlen: list[int] = []
        self.direction: list[int] = []

    def add(self, iface: int, ts: int, offset: int, caplen: int, origlen: int, d: int) -> None:
        self.iface.append(iface)
        self.ts.append(ts)
        self.offset.append(offset)
        self.caplen.append(caplen)
        self.origlen.append(origlen)
        self.direction.append(d)


def _options(data: memoryview, pos: int, end: int, order: str) -> list[tuple[int, bytes]]:
    """The (code, value) options from `pos` to `end`; stops quietly at a malformed one."""
    out: list[tuple[int, bytes]] = []
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", data, pos)
        if code == OPT_END:
            break
        if pos + 4 + length > end:
            break
        out.append((code, bytes(data[pos + 4 : pos + 4 + length])))
        pos += 4 + ((length + 3) & ~3)
    return out


def _text(value: bytes) -> str:
    return value.rstrip(b"\0").decode("utf-8", "replace")


def read_pcapng(src: Source) -> Capture:
    """Parse a pcapng file from its bytes."""
    data = memoryview(src.data)
    size = len(data)
    warnings = list(src.warnings)
    comments: list[str] = []
    ifaces: list[_Iface] = []
    section_base = 0  #: index of the current section's interface 0 among all interfaces
    order = "<"
    recs = _Builder()
    pos = 0
    first = True
    while pos < size:
        if pos + 12 > size:
            warnings.append(_cut(pos, len(recs.ts)))
            break
        raw_type = int.from_bytes(data[pos : pos + 4], "little")
        if raw_type == SHB:
            magic = data[pos + 8 : pos + 12].tobytes()
            if int.from_bytes(magic, "little") == BYTE_ORDER_MAGIC:
                order = "<"
            elif int.from_bytes(magic, "big") == BYTE_ORDER_MAGIC:
                order = ">"
            else:
                if first:
                    raise CaptureError(src.path, "pcapng section header has no byte-order magic")
                warnings.append(_corrupt(pos, "section header without byte-order magic",
                                         len(recs.ts)))
                break
            section_base = len(ifaces)
        btype, blen = struct.unpack_from(order + "II", data, pos)
        if blen < 12 or blen % 4 or blen > MAX_BLOCK_LEN:
            if first:
                raise CaptureError(src.path, f"pcapng block length {blen} is invalid")
            warnings.append(_corrupt(pos, f"invalid block length {blen}", len(recs.ts)))
            break
        if pos + blen > size:
            warnings.append(_cut(pos, len(recs.ts)))
            break
        (trailer,) = struct.unpack_from(order + "I", data, pos + blen - 4)
        if trailer != blen:  # where the next block starts is unknown: stop, as wiretap does
            if first:
                raise CaptureError(src.path, f"pcapng section header lengths {blen} and "
                                             f"{trailer} disagree")
            warnings.append(_corrupt(pos, f"block lengths {blen} and {trailer} disagree",
                                     len(recs.ts)))
            break
        body, end = pos + 8, pos + blen - 4
        first = False
        if not _known(btype):
            warnings.append(f"block at byte {pos} has unknown type 0x{btype:08x}; skipped")
        elif btype == SHB:
            comments += [_text(v) for c, v in _options(data, body + 16, end, order)
                         if c == OPT_COMMENT]
        elif btype == IDB and end - body >= 8:
            link_type, _res, snaplen = struct.unpack_from(order + "HHI", data, body)
            iface = _Iface(link_type, snaplen)
            for code, value in _options(data, body + 8, end, order):
                if code == IF_NAME:
                    iface.name = _text(value)
                elif code == IF_DESCRIPTION:
                    iface.description = _text(value)
                elif code == IF_TSRESOL and value:
                    iface.tsresol = value[0]
                elif code == IF_TSOFFSET and len(value) >= 8:
                    iface.tsoffset = struct.unpack_from(order + "q", value)[0]
            ifaces.append(iface)
        elif btype in (EPB, PB):
            if btype == EPB and end - body >= 20:
                if_id, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(
                    order + "IIIII", data, body)
            elif btype == PB and end - body >= 20:
                if_id, _drops, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(
                    order + "HHIIII", data, body)
            else:
                warnings.append(f"packet block at byte {pos} too short; skipped")
                pos += blen
                continue
            start = body + 20
            gid = section_base + if_id
            if gid >= len(ifaces) or start + caplen > end:
                warnings.append(f"packet block at byte {pos} names an unknown interface or "
                                f"overruns its block; skipped")
                pos += blen
                continue
            direction = Direction.UNKNOWN
            for code, value in _options(data, start + ((caplen + 3) & ~3), end, order):
                if code == EPB_FLAGS and len(value) >= 4 and btype == EPB:
                    direction = struct.unpack_from(order + "I", value)[0] & 0x3
                    direction = direction if direction in (1, 2) else Direction.UNKNOWN
                elif code == OPT_COMMENT:
                    comments.append(f"frame {len(recs.ts) + 1}: {_text(value)}")
            recs.add(gid, (ts_hi << 32) | ts_lo, start, caplen, origlen, direction)
        elif btype == SPB and end - body >= 4:
            gid = section_base
            if gid >= len(ifaces):
                warnings.append(f"simple packet block at byte {pos} before any interface; skipped")
            else:
                (origlen,) = struct.unpack_from(order + "I", data, body)
                caplen = min(origlen, end - body - 4)
                if ifaces[gid].snaplen:
                    caplen = min(caplen, ifaces[gid].snaplen)
                # SPBs carry no timestamp: Wireshark shows them at the epoch.
                recs.add(gid, -1, body + 4, caplen, origlen, Direction.UNKNOWN)
        pos += blen
    interfaces = [Interface(index=i, link_type=f.link_type, name=f.name, snaplen=f.snaplen,
                            description=f.description) for i, f in enumerate(ifaces)]
    return Capture(
        path=src.path, format="pcapng", compressed=src.compressed, buffer=src.data,
        interfaces=interfaces, records=_records(recs, ifaces), warnings=warnings,
        comments=comments, big_endian=order == ">",
    )


def _known(btype: int) -> bool:
    """A block type of the pcapng registry, or one reserved for local use; any other is a
    corrupt type field (the block is still skipped by its length, which its trailer confirms)."""
    return btype == SHB or btype & LOCAL_USE != 0 or any(lo <= btype <= hi for lo, hi in KNOWN)


def _cut(pos: int, n: int) -> str:
    return (f"capture cut short at byte {pos}: the block there is incomplete; read the {n} "
            f"whole records before it")


def _corrupt(pos: int, what: str, n: int) -> str:
    return f"corrupt block at byte {pos} ({what}); read the {n} records before it"


def _records(recs: _Builder, ifaces: list[_Iface]) -> Records:
    n = len(recs.ts)
    iface = np.array(recs.iface, np.uint16)
    ts_raw = np.array(recs.ts, np.int64)
    no_ts = ts_raw < 0
    # The raw 64-bit count was packed from two u32 words; reinterpret to unsigned for the math.
    ts_u = np.array([t if t >= 0 else 0 for t in recs.ts], np.uint64)
    ts_ns = np.zeros(n, np.int64)
    for i, f in enumerate(ifaces):
        sel = iface == i
        if sel.any():
            ts_ns[sel] = _to_ns(ts_u[sel], f.tsresol) + f.tsoffset * 1_000_000_000
    ts_ns[no_ts] = 0
    return Records(
        frame=np.arange(1, n + 1, dtype=np.uint32),
        ts_ns=ts_ns,
        iface=iface,
        offset=np.array(recs.offset, np.int64),
        caplen=np.array(recs.caplen, np.uint32),
        origlen=np.array(recs.origlen, np.uint32),
        direction=np.array(recs.direction, np.uint8),
    )


def _to_ns(ts: np.ndarray, tsresol: int) -> np.ndarray:
    """Timestamps in units of 10^-n or 2^-n seconds (if_tsresol) to nanoseconds."""
    exp = tsresol & 0x7F
    if tsresol & 0x80:  # binary fraction: split into seconds and fraction to stay in 64 bits
        exp = min(exp, 63)
        secs = ts >> np.uint64(exp)
        frac = ts & np.uint64((1 << exp) - 1)
        frac_ns = (frac.astype(np.float64) * 1e9 / float(1 << exp)).astype(np.int64)
        return secs.astype(np.int64) * 1_000_000_000 + frac_ns
    if exp <= 9:
        scaled: np.ndarray = ts.astype(np.int64) * (10 ** (9 - exp))
        return scaled
    return (ts // np.uint64(10 ** min(exp - 9, 19))).astype(np.int64)

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from pcapkit.errors import CaptureError
from pcapkit.read.records import Capture, Direction, Interface, Records
from pcapkit.read.source import Source, release

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
EPB_MIN_LEN = 32  #: type, length, interface, two timestamp words, two lengths, trailing length


class RunEnd(IntEnum):
    """Why `pcapkit.read.packet_blocks.walk_packet_blocks` stopped."""

    STOP = 0  #: at or past `stop`
    OTHER = 1  #: at a block for the general walk
    FULL = 2  #: the output arrays are full


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


class _Rows:
    """Records found in a window of the file, a row each (`packet_blocks.walk_packet_blocks`'
    columns), in an array sized from the bytes walked (never from a length the file declares)
    and doubled when full."""

    def __init__(self) -> None:
        self.array = np.empty((4096, 6), np.int64)
        self.n = 0

    def add(self, iface: int, ts: int, offset: int, caplen: int, origlen: int, d: int) -> None:
        if self.n == len(self.array):
            self.grow()
        self.array[self.n] = (iface, ts if ts < 1 << 63 else -1, offset, caplen, origlen, d)
        self.n += 1

    def grow(self) -> None:
        self.array = np.concatenate([self.array, np.empty_like(self.array)])


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


#: bytes of the file walked at a time: each window's records are handed on, and its pages let go
WINDOW_BYTES = 64 << 20
#: from this size on, runs of Enhanced Packet Blocks are walked by compiled code
COMPILED_FROM_BYTES = 4 << 20


def scan_pcapng(src: Source) -> tuple[Capture, Windows]:
    """A pcapng file's metadata and its records, a window of the file at a time (as
    `pcapkit.read.pcap.scan_pcap`): the capture's interfaces, comments and warnings grow as the
    windows are walked, and are complete once they are. A first block that is no section header
    raises `CaptureError` now."""
    capture = Capture(
        path=src.path, format="pcapng", compressed=src.compressed, buffer=src.data,
        interfaces=[], records=Records.empty(), warnings=list(src.warnings), spool=src.spool,
    )
    walk = _Walk(src, capture)
    rows = _Rows()
    walk.block(rows)  # the section header: its byte order, or the error
    capture.big_endian = walk.order == ">"
    return capture, Windows(walk, rows)


@dataclass(frozen=True)
class Head:
    """What a worker needs to read the packet blocks of a pcapng's section from the middle
    (`pcapkit.read.pcapng_ranges`): the section's byte order, and the time base of each of
    its interfaces (all of the file's so far)."""

    big_endian: bool
    clocks: tuple[tuple[int, int], ...]  #: per interface: `if_tsresol`, `if_tsoffset`


class Windows(Iterator[Records]):
    """`scan_pcapng`'s records, a window of the file at a time. The walk can stop at the first
    packet block (`head`) for workers to read the packet blocks from there themselves, and go
    on from where they could not (`rest`)."""

    def __init__(self, walk: _Walk, rows: _Rows) -> None:
        self.walk, self.rows = walk, rows
        self.windows = _windows(walk, rows)

    def __next__(self) -> Records:
        return next(self.windows)

    def head(self) -> tuple[Head, int] | None:
        """Walks the blocks before the first packet block (interfaces, comments), and gives
        the section's `Head` and where that block begins: if it is an Enhanced Packet Block
        of the file's first section. None (the walk stopped wherever it is) otherwise."""
        walk = self.walk
        while not walk.done and walk.section_base == 0 and self._before_packets():
            walk.block(self.rows)
        if walk.done or walk.section_base or not self._at(EPB):
            return None
        clocks = tuple((f.tsresol, f.tsoffset) for f in walk.ifaces)
        return Head(walk.order == ">", clocks), walk.pos

    def rest(self, pos: int, before: int) -> Iterator[Records]:
        """The records from byte `pos` (where a block begins) to the end of the file, the
        `before` records before it read elsewhere: walked here, as a whole read walks them."""
        self.walk.pos, self.walk.found, self.walk.done = pos, before, pos >= self.walk.size
        return _windows(self.walk, self.rows)

    def _before_packets(self) -> bool:
        return not any(self._at(t) for t in (EPB, PB, SPB))

    def _at(self, btype: int) -> bool:
        walk = self.walk
        return walk.pos + 4 <= walk.size and struct.unpack_from(
            walk.order + "I", walk.data, walk.pos)[0] == btype


def _windows(walk: _Walk, rows: _Rows) -> Iterator[Records]:
    fast = None
    if walk.size >= COMPILED_FROM_BYTES:
        from pcapkit.read.packet_blocks import walk_packet_blocks

        fast = walk_packet_blocks
    buf = np.frombuffer(walk.data, np.uint8)
    released = 0
    while not walk.done:
        stop = min(walk.size, walk.pos + WINDOW_BYTES)
        while walk.pos < stop and not walk.done:
            if fast is not None:
                rows.n, walk.pos, why = fast(buf, walk.pos, stop, walk.order == ">",
                                             walk.section_base, len(walk.ifaces), rows.array,
                                             rows.n)
                if why == RunEnd.FULL:
                    rows.grow()
                    continue
                if why == RunEnd.STOP:
                    walk.done = walk.pos >= walk.size
                    break
            walk.block(rows)
        if rows.n:
            yield walk.records(rows)
        release(walk.capture.buffer, walk.pos, released)
        released = walk.pos


class _Walk:
    """Where a walk of a pcapng's blocks is, and what it has read of the file so far."""

    def __init__(self, src: Source, capture: Capture) -> None:
        self.capture = capture
        self.data = memoryview(src.data)
        self.size = len(self.data)
        self.ifaces: list[_Iface] = []
        self.section_base = 0  #: index of the current section's interface 0 among all interfaces
        self.order = "<"
        self.pos = 0
        self.first = True
        self.found = 0  #: records handed on in earlier windows
        self.done = self.size == 0

    def records(self, rows: _Rows) -> Records:
        """The records of `rows` (which are then cleared), numbered after those before."""
        found = rows.array[:rows.n]
        records = to_records(found, [(f.tsresol, f.tsoffset) for f in self.ifaces],
                             self.found)
        self.found += rows.n
        rows.n = 0
        return records

    def block(self, rows: _Rows) -> None:
        """Read the block at `pos` (its records into `rows`) and move past it; the walk is
        `done` at the end of the file or at damage, with a warning saying where."""
        data, pos, size, order = self.data, self.pos, self.size, self.order
        count = self.found + rows.n
        if pos + 12 > size:
            return self._end(_cut(pos, count))
        raw_type = int.from_bytes(data[pos : pos + 4], "little")
        if raw_type == SHB:
            magic = data[pos + 8 : pos + 12].tobytes()
            if int.from_bytes(magic, "little") == BYTE_ORDER_MAGIC:
                order = "<"
            elif int.from_bytes(magic, "big") == BYTE_ORDER_MAGIC:
                order = ">"
            else:
                if self.first:
                    raise CaptureError(self.capture.path,
                                       "pcapng section header has no byte-order magic")
                return self._end(_corrupt(pos, "section header without byte-order magic",
                                          count))
            self.order = order
            self.section_base = len(self.ifaces)
        btype, blen = struct.unpack_from(order + "II", data, pos)
        if blen < 12 or blen % 4 or blen > MAX_BLOCK_LEN:
            if self.first:
                raise CaptureError(self.capture.path, f"pcapng block length {blen} is invalid")
            return self._end(_corrupt(pos, f"invalid block length {blen}", count))
        if pos + blen > size:
            return self._end(_cut(pos, count))
        (trailer,) = struct.unpack_from(order + "I", data, pos + blen - 4)
        if trailer != blen:  # where the next block starts is unknown: stop, as wiretap does
            if self.first:
                raise CaptureError(self.capture.path, f"pcapng section header lengths {blen} "
                                                      f"and {trailer} disagree")
            return self._end(_corrupt(pos, f"block lengths {blen} and {trailer} disagree",
                                      count))
        self.first = False
        self.pos = pos + blen
        self.done = self.pos >= size
        self._read(btype, pos, pos + 8, pos + blen - 4, rows)

    def _end(self, warning: str) -> None:
        self.capture.warnings.append(warning)
        self.done = True

    def _read(self, btype: int, pos: int, body: int, end: int, rows: _Rows) -> None:
        """What block `btype` (at `pos`, its body from `body` to `end`) holds."""
        data, order, ifaces = self.data, self.order, self.ifaces
        warnings, comments = self.capture.warnings, self.capture.comments
        if not known_type(btype):
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
            self.capture.interfaces.append(Interface(
                index=len(ifaces), link_type=iface.link_type, name=iface.name,
                snaplen=iface.snaplen, description=iface.description))
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
                return
            start = body + 20
            gid = self.section_base + if_id
            if gid >= len(ifaces) or start + caplen > end:
                warnings.append(f"packet block at byte {pos} names an unknown interface or "
                                f"overruns its block; skipped")
                return
            direction = Direction.UNKNOWN
            for code, value in _options(data, start + ((caplen + 3) & ~3), end, order):
                if code == EPB_FLAGS and len(value) >= 4 and btype == EPB:
                    direction = struct.unpack_from(order + "I", value)[0] & 0x3
                    direction = direction if direction in (1, 2) else Direction.UNKNOWN
                elif code == OPT_COMMENT:
                    comments.append(f"frame {self.found + rows.n + 1}: {_text(value)}")
            rows.add(gid, (ts_hi << 32) | ts_lo, start, caplen, origlen, direction)
        elif btype == SPB and end - body >= 4:
            gid = self.section_base
            if gid >= len(ifaces):
                warnings.append(f"simple packet block at byte {pos} before any interface; skipped")
            else:
                (origlen,) = struct.unpack_from(order + "I", data, body)
                caplen = min(origlen, end - body - 4)
                if ifaces[gid].snaplen:
                    caplen = min(caplen, ifaces[gid].snaplen)
                # SPBs carry no timestamp: Wireshark shows them at the epoch.
                rows.add(gid, -1, body + 4, caplen, origlen, Direction.UNKNOWN)


def known_type(btype: int) -> bool:
    """A block type of the pcapng registry, or one reserved for local use; any other is a
    corrupt type field (the block is still skipped by its length, which its trailer confirms)."""
    return btype == SHB or btype & LOCAL_USE != 0 or any(lo <= btype <= hi for lo, hi in KNOWN)


def _cut(pos: int, n: int) -> str:
    return (f"capture cut short at byte {pos}: the block there is incomplete; read the {n} "
            f"whole records before it")


def _corrupt(pos: int, what: str, n: int) -> str:
    return f"corrupt block at byte {pos} ({what}); read the {n} records before it"


def to_records(rows: npt.NDArray[np.int64], clocks: Sequence[tuple[int, int]], before: int
               ) -> Records:
    """Packet blocks' rows (`_Rows`') as records numbered from frame `before` + 1; `clocks`:
    the `if_tsresol` and `if_tsoffset` of each interface."""
    n = len(rows)
    iface = rows[:, 0].astype(np.uint16)
    ts_raw = rows[:, 1]
    no_ts = ts_raw < 0
    # The raw 64-bit count was packed from two u32 words; reinterpret to unsigned for the math.
    ts_u = np.where(no_ts, 0, ts_raw).astype(np.uint64)
    ts_ns = np.zeros(n, np.int64)
    for i in np.unique(iface).tolist():
        sel = iface == i
        tsresol, tsoffset = clocks[i]
        ts_ns[sel] = _to_ns(ts_u[sel], tsresol) + tsoffset * 1_000_000_000
    ts_ns[no_ts] = 0
    return Records(
        frame=np.arange(before + 1, before + n + 1, dtype=np.uint32),
        ts_ns=ts_ns,
        iface=iface,
        offset=rows[:, 2].copy(),  # `rows` is a view of the buffer the next window reuses
        caplen=rows[:, 3].astype(np.uint32),
        origlen=rows[:, 4].astype(np.uint32),
        direction=rows[:, 5].astype(np.uint8),
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

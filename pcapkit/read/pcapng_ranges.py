"""A pcapng file's records found from the middle of it: a worker walks its own byte range, as
it does a pcap file's (`pcapkit.read.ranges`).

A range's first record is the first offset from which `CHAIN` Enhanced Packet Blocks follow
one another, each length repeated at its block's end. Blocks begin at multiples of four bytes
from the start of the file, so only those offsets are tried. The worker reads the packet
blocks of its section from there (`pcapkit.read.packet_blocks`), and skips the blocks that
hold no packet and change nothing of how the others read (interface statistics, name
resolution, decryption secrets, custom blocks: most often at the end of a file). It stops at
the first block that begins past its range, or at any other block (a new section or interface,
a packet comment, a simple or obsolete packet block, damage): the engine walks the file on
from there as a whole read walks it (`pcapkit.read.pcapng.Windows.rest`), with its warnings.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pcapkit.read.pcapng import (
    EPB,
    EPB_MIN_LEN,
    IDB,
    MAX_BLOCK_LEN,
    PB,
    SHB,
    SPB,
    Head,
    RunEnd,
    known_type,
    to_records,
)
from pcapkit.read.ranges import CHAIN, Ends, Walked, first_chained
from pcapkit.read.walk import WalkEnd

#: the blocks a worker cannot read past on its own (else it skips a block by its length)
_FOR_THE_WALK = (SHB, IDB, PB, SPB, EPB)


@dataclass(frozen=True)
class BlockLayout:
    """How the packet blocks of a pcapng's first section read, past its header blocks."""

    head: Head
    #: the bytes one block may take, at most
    longest: int = MAX_BLOCK_LEN
    #: the bytes of an Enhanced Packet Block before its packet
    header_len: int = 28

    @property
    def word(self) -> str:
        return ">u4" if self.head.big_endian else "<u4"


def walk_blocks(buf: npt.NDArray[np.uint8], base: int, stop: int, exact: bool,
                layout: BlockLayout) -> Walked:
    """The records whose blocks begin in [0, `stop`) of `buf`, byte `base` of the file being
    its first: walked from its first byte when `exact` (a block begins there), else from the
    first packet block found (`first_block`). `buf` holds the last of them whole, or ends where
    the file does. The walk ends `REACHED` at a block past the range; `BLOCK` at one for the
    engine's walk."""
    start = 0 if exact else first_block(buf, base, stop, layout)
    if start is None or start >= stop:
        return Walked(to_records(np.empty((0, 6), np.int64), (), 0),
                      Ends(None if start is None else base + start,
                           base + (stop if start is None else start), WalkEnd.REACHED))
    rows, pos, why = _walk(buf, start, stop, layout)
    return Walked(to_records(rows, layout.head.clocks, 0),
                  Ends(base + start, base + pos, WalkEnd.REACHED if pos >= stop else why))


def _walk(buf: npt.NDArray[np.uint8], pos: int, stop: int, layout: BlockLayout
          ) -> tuple[npt.NDArray[np.int64], int, WalkEnd]:
    """`walk_packet_blocks` from `pos` to `stop`, past the blocks it leaves that a worker can
    skip: the rows found (in an array sized from the bytes to walk, doubled when full), the
    position reached, and why it stopped."""
    head, n, walk_packet_blocks = layout.head, 0, _compiled()
    rows = np.empty((max(16, (stop - pos) // (EPB_MIN_LEN + 64) + 1), 6), np.int64)
    while True:
        n, pos, run = walk_packet_blocks(buf, pos, stop, head.big_endian, 0, len(head.clocks),
                                         rows, n)
        if run == RunEnd.FULL:
            rows = np.concatenate([rows, np.empty_like(rows)])
            continue
        if run == RunEnd.STOP:
            return rows[:n], pos, WalkEnd.REACHED
        length = _skipped(buf, pos, layout)
        if length is None:
            return rows[:n], pos, WalkEnd.BLOCK
        pos += length


def _skipped(buf: npt.NDArray[np.uint8], pos: int, layout: BlockLayout) -> int | None:
    """The length of the block at `pos` if a worker skips it: `_whole`, and holding no
    packet, section or interface."""
    length = _whole(buf, pos, layout)
    if length is None or int(buf[pos:pos + 4].view(layout.word)[0]) in _FOR_THE_WALK:
        return None
    return length


def _whole(buf: npt.NDArray[np.uint8], pos: int, layout: BlockLayout) -> int | None:
    """The length of the block at `pos` if it is whole, its length repeated at its end, of a
    type the registry knows."""
    if pos + 12 > buf.shape[0]:
        return None
    btype, length = (int(w) for w in buf[pos:pos + 8].view(layout.word))
    if (not known_type(btype) or length < 12 or length % 4 or length > MAX_BLOCK_LEN
            or pos + length > buf.shape[0]):
        return None
    trailer = int(buf[pos + length - 4:pos + length].view(layout.word)[0])
    return length if trailer == length else None


def sampled_blocks(data: bytes | memoryview, first: int, size: int, layout: BlockLayout
                   ) -> tuple[int, int]:
    """The bytes the blocks from `first` take, as far as `size` bytes on, and how many of them
    are Enhanced Packet Blocks: how large the packets are (walked in Python: a MB of blocks in
    a few ms, where the compiled walk is 0.3 s of importing numba)."""
    order = ">" if layout.head.big_endian else "<"
    pos, end, count = first, min(len(data), first + size), 0
    while pos + 8 <= end:
        btype, length = struct.unpack_from(order + "II", data, pos)
        if length < 12 or length % 4:
            break
        count += btype == EPB
        pos += length
    return pos - first, count


def first_block(buf: npt.NDArray[np.uint8], base: int, stop: int, layout: BlockLayout
                ) -> int | None:
    """The first offset in [0, `stop`) of `buf` (byte `base` of the file) where `CHAIN`
    Enhanced Packet Blocks begin in a row (or fewer, then the end of `buf`); None when there
    is none."""
    return first_chained((-base) % 4, min(stop, layout.longest), [
        (lambda a, b: _candidates(buf, a, b, layout), lambda at: _chains(buf, at, layout))])


def _candidates(buf: npt.NDArray[np.uint8], pos: int, end: int, layout: BlockLayout
                ) -> npt.NDArray[np.int64]:
    """The offsets in [`pos`, `end`) (`pos` a block's alignment) whose bytes read as the start
    of an Enhanced Packet Block whose length is repeated at its end, in order."""
    usable = (min(buf.shape[0], end + 8) - pos) // 4
    if usable < 2:
        return np.zeros(0, np.int64)
    words = buf[pos:pos + 4 * usable].view(layout.word)
    length = words[1:].astype(np.int64)
    index = np.flatnonzero((words[:-1] == EPB) & (length >= EPB_MIN_LEN) & (length % 4 == 0)
                           & (length <= MAX_BLOCK_LEN))
    at = pos + 4 * index
    length = length[index]
    whole = (at < end) & (at + length <= buf.shape[0])
    at, length = at[whole], length[whole]
    trailer = buf[(at + length - 4)[:, None] + np.arange(4)].view(layout.word)[:, 0]
    found: npt.NDArray[np.int64] = at[trailer == length]
    return found


def _chains(buf: npt.NDArray[np.uint8], at: int, layout: BlockLayout) -> bool:
    """Whether `CHAIN` Enhanced Packet Blocks follow one another from `at` (or fewer, then the
    end of `buf` or a whole block of another kind: statistics at the end of a file)."""
    rows = np.empty((CHAIN, 6), np.int64)
    n, pos, run = _compiled()(buf, at, buf.shape[0], layout.head.big_endian, 0,
                              len(layout.head.clocks), rows, 0)
    return n == CHAIN or (n > 0 and (run == RunEnd.STOP or _whole(buf, pos, layout) is not None))


def _compiled() -> Callable[..., tuple[int, int, int]]:
    """`walk_packet_blocks`, imported when a range is walked: its module imports numba (0.3 s
    of start-up that a small capture read whole does not need)."""
    from pcapkit.read.packet_blocks import walk_packet_blocks

    return walk_packet_blocks

"""Finding where each record starts in a capture: a walk along length fields.

The walk is inherently sequential (each record's length says where the next begins), so it is
the one loop numpy cannot vectorise. One plain function serves both sizes: small captures run
it as Python (no JIT start-up cost, which matters for a 600-packet incident capture), large ones
run the very same source compiled by numba.

A memory-mapped file is walked from a copy: its bytes are read a piece at a time into one
buffer, which stays in the CPU's caches while the walk reads it. Walked where it is mapped,
each record's header is a cache miss that the next one waits on (its length says where the
next begins), and each page a fault. On one core alone, bulk TCP (5M packets, 5.2 GB) took
1.2 s so and 0.4 s from the copy; DNS-heavy (20M packets, 2.5 GB) 0.75-2.2 s and 0.3 s.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from pcapkit.read.prefetch import prefetch, teach_numba

#: 32-bit fields of a record header read by the walk (pcap: seconds, fraction of a second,
#: captured length, length on the wire); a header is at least this long.
HEADER_WORDS = 4
#: The bytes a process walks in Python before it compiles the walk: numba's start-up (~0.37 s
#: here) is a Python walk of ~125k records (~2.9 µs each), 16 MB of the smallest packets a
#: capture holds in number (DNS: ~125 bytes a record), 118 MB of bulk TCP's.
JIT_THRESHOLD_BYTES = 16 << 20


class WalkEnd(IntEnum):
    """Why a walk stopped."""

    CLEAN = 0  #: exactly at the end of the data
    SHORT_HEADER = 1  #: fewer bytes left than a record header
    TOO_LONG = 2  #: a record declares a captured length above the maximum
    SHORT_DATA = 3  #: the last record's data runs past the end of the file
    FULL = 4  #: the output array is full; call again with a larger one
    REACHED = 5  #: at a record that begins at or past the position to stop at
    #: at a pcapng block a range's worker leaves to the walk of the whole file
    #: (`pcapkit.read.pcapng_ranges`)
    BLOCK = 6


def walk_records(
    buf: npt.NDArray[np.uint8],
    pos: int,
    stop: int,
    big_endian: bool,
    header_len: int,
    caplen_at: int,
    max_caplen: int,
    out: npt.NDArray[np.int64],
    words: npt.NDArray[np.uint32],
) -> tuple[int, int, int]:
    """Fill `out` with the offsets of record headers from `pos` on, and each row of `words`
    with the first `words.shape[1]` 32-bit fields of its header (read here, while the header
    is in the cache: gathered afterwards, each is a cache miss again).

    Each record is `header_len` bytes of header, whose 32-bit field at `caplen_at` gives the
    length of the data that follows. The walk ends at the first record that begins at `stop`
    or past it. Returns (records found, position reached, `WalkEnd`).
    """
    n = 0
    end = buf.shape[0]
    while True:
        if pos == end:
            return n, pos, 0
        if pos >= stop:
            return n, pos, 5
        if pos + header_len > end:
            return n, pos, 1
        if n == out.shape[0]:
            return n, pos, 4
        for k in range(words.shape[1]):
            c = pos + 4 * k
            # int() first: a uint8 shifted left would wrap in numpy's Python scalars.
            b0, b1, b2, b3 = int(buf[c]), int(buf[c + 1]), int(buf[c + 2]), int(buf[c + 3])
            if big_endian:
                words[n, k] = (b0 << 24) | (b1 << 16) | (b2 << 8) | b3
            else:
                words[n, k] = b0 | (b1 << 8) | (b2 << 16) | (b3 << 24)
        caplen = int(words[n, caplen_at // 4])
        if caplen > max_caplen:
            return n, pos, 2
        if pos + header_len + caplen > end:
            return n, pos, 3
        out[n] = pos
        n += 1
        step = header_len + caplen
        # Records of a size come in runs (a bulk transfer's full segments, each seen on several
        # interfaces): the headers of the records after the next are asked for where they
        # would be were they the size of this one, ahead of the walk's reading them (it waited
        # on each: 5M bulk TCP packets over VXLAN, 0.55 -> 0.30 s). A wrong guess costs a cache
        # line read for nothing (20M DNS-heavy packets of every size: 0.37 -> 0.38 s; asked
        # only past a size, they took 0.42 s, the test mispredicted).
        for k in range(2, 5):
            prefetch(buf, pos + k * step)
        pos += step


_compiled: Callable[..., Any] | None = None
#: bytes this process has been given Python walks for (`walker`)
_python_bytes = 0


def walker(size: int) -> Callable[..., tuple[int, int, int]]:
    """`walk_records` for `size` bytes more to walk: compiled once it is, or once the bytes
    this process walks in Python would reach `JIT_THRESHOLD_BYTES`. By the bytes of a walk,
    not of the buffer walked: the records of an evidence frame, read again at the end of a
    streamed run (4096 records from the middle of a file of GBs), loaded numba into the main
    process for them (~0.4 s at the end of a 5M-packet run); by the bytes of every walk: a
    rescan of many such spans is soon compiled."""
    global _compiled, _python_bytes
    if _compiled is None and _python_bytes + size < JIT_THRESHOLD_BYTES:
        _python_bytes += size
        return walk_records
    if _compiled is None:
        import numba  # imported lazily: 0.3 s of start-up that small captures do not need

        teach_numba()
        _compiled = numba.njit(cache=True, nogil=True)(walk_records)
    return _compiled


#: `walk_records`' arguments from `big_endian` to `max_caplen`: how to read a record header
Layout = tuple[bool, int, int, int]
#: bytes walked at a time by `find_records_windowed`
WINDOW_BYTES = 64 << 20
#: bytes of a file read at a time for the walk: within a core's own (L2) cache, which the
#: workers decoding beside the walk do not evict (8 MB pieces, in the shared last-level cache,
#: cost this process 0.06-0.76 s more CPU over bulk 5M's decode stage, median 0.3 s, in each
#: of 7 pairs)
PIECE_BYTES = 1 << 20


def find_records_windowed(
    buf: npt.NDArray[np.uint8],
    start: int,
    big_endian: bool,
    header_len: int,
    caplen_at: int,
    max_caplen: int,
    window: int = WINDOW_BYTES,
    file: io.FileIO | None = None,
    piece: int = PIECE_BYTES,
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], int, WalkEnd]]:
    """`find_records`, a window of the buffer at a time: (offsets found, their header words,
    position reached, why it stopped) after each window, so that the caller can use the
    records and let go of the pages behind them before the next. The last tuple's `why` is the
    walk's end. With `file`, the file `buf` maps (`mapped_file`), the walk reads `piece` bytes
    at a time from it (`_read_records`) rather than touch the mapped pages."""
    walk = walker(buf.shape[0] - start)
    copy = None if file is None else np.empty(min(piece, buf.shape[0]), np.uint8)
    pos = start
    while True:
        limit = min(buf.shape[0], pos + window)
        if file is None or copy is None:
            offsets, words, reached, why = find_records(buf[:limit], pos, big_endian,
                                                        header_len, caplen_at, max_caplen, walk)
        else:
            offsets, words, reached, why = _read_records(
                file, copy, buf[:limit], pos, (big_endian, header_len, caplen_at, max_caplen),
                walk)
        more = limit < buf.shape[0] and why in (WalkEnd.SHORT_HEADER, WalkEnd.SHORT_DATA,
                                                WalkEnd.CLEAN)
        yield offsets, words, reached, WalkEnd.FULL if more else why
        if not more:
            return
        if reached == pos:  # one record longer than the window
            window *= 2
        pos = reached


def find_records(
    buf: npt.NDArray[np.uint8],
    start: int,
    big_endian: bool,
    header_len: int,
    caplen_at: int,
    max_caplen: int,
    walk: Callable[..., tuple[int, int, int]] | None = None,
    stop: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], int, WalkEnd]:
    """Offsets of all whole records from `start` (those that begin before `stop`, if given),
    the first `HEADER_WORDS` 32-bit fields of each one's header (rows), the position reached,
    and why it stopped. `walk`: the `walker` to use (by default, the one for the size of
    `buf`)."""
    end = buf.shape[0] if stop is None else min(stop, buf.shape[0])
    found = _Found(end - start, header_len)
    pos, why = found.walk(walk or walker(end - start), buf, start, 0,
                          (big_endian, header_len, caplen_at, max_caplen), stop)
    return found.out[:found.n], found.fields[:found.n], pos, why


def _read_records(file: io.FileIO, copy: npt.NDArray[np.uint8], buf: npt.NDArray[np.uint8],
                  start: int, layout: Layout, walk: Callable[..., tuple[int, int, int]],
                  ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], int, WalkEnd]:
    """`find_records` of `buf` (a mapping of `file`) from `start`, walking copies of its bytes
    read into `copy`, a piece at a time: the same records, the same end. A record longer than
    `copy` is walked where it is mapped, with the rest of `buf`: the copy never grows from a
    length the file declares."""
    end = buf.shape[0]
    found = _Found(end - start, layout[1])
    pos = start
    while True:
        file.seek(pos)
        got = file.readinto(copy[:min(copy.shape[0], end - pos)].data) or 0
        reached, why = found.walk(walk, copy[:got], 0, pos, layout)
        last = pos + got == end  # the piece ended where `buf` does: its end is the walk's
        pos += reached
        if last or why == WalkEnd.TOO_LONG:
            break
        if reached == 0 or got < copy.shape[0]:  # a record longer than a piece; a file shrunk
            pos, why = found.walk(walk, buf, pos, 0, layout)
            break
    return found.out[:found.n], found.fields[:found.n], pos, why


class _Found:
    """The records a walk has found: their offsets and header words, in arrays sized from the
    bytes to walk (never from a length the file declares), doubled when full."""

    def __init__(self, size: int, header_len: int) -> None:
        guess = max(16, size // (header_len + 64) + 1)
        self.out = np.empty(guess, np.int64)
        self.fields = np.empty((guess, HEADER_WORDS), np.uint32)
        self.n = 0

    def walk(self, walk: Callable[..., tuple[int, int, int]], buf: npt.NDArray[np.uint8],
             pos: int, base: int, layout: Layout, stop: int | None = None
             ) -> tuple[int, WalkEnd]:
        """Walk `buf` from `pos` (byte `base` of the file is its first) up to `stop` (the end
        of `buf` if None), adding the records found; the position reached in `buf`, and why
        the walk stopped."""
        until = buf.shape[0] if stop is None else stop
        while True:
            n, pos, why = walk(buf, pos, until, *layout, self.out[self.n:], self.fields[self.n:])
            self.out[self.n:self.n + n] += base
            self.n += n
            if why != WalkEnd.FULL:
                return pos, WalkEnd(why)
            self.out = np.concatenate([self.out, np.empty_like(self.out)])
            self.fields = np.concatenate([self.fields, np.empty_like(self.fields)])

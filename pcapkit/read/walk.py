"""Finding where each record starts in a capture: a walk along length fields.

The walk is inherently sequential (each record's length says where the next begins), so it is
the one loop numpy cannot vectorise. One plain function serves both sizes: small captures run
it as Python (no JIT start-up cost, which matters for a 600-packet incident capture), large ones
run the very same source compiled by numba.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

#: 32-bit fields of a record header read by the walk (pcap: seconds, fraction of a second,
#: captured length, length on the wire); a header is at least this long.
HEADER_WORDS = 4
#: Above this many bytes the walk is compiled; below it Python is faster than the JIT start-up.
JIT_THRESHOLD_BYTES = 4 << 20


class WalkEnd(IntEnum):
    """Why a walk stopped."""

    CLEAN = 0  #: exactly at the end of the data
    SHORT_HEADER = 1  #: fewer bytes left than a record header
    TOO_LONG = 2  #: a record declares a captured length above the maximum
    SHORT_DATA = 3  #: the last record's data runs past the end of the file
    FULL = 4  #: the output array is full; call again with a larger one


def walk_records(
    buf: npt.NDArray[np.uint8],
    pos: int,
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
    length of the data that follows. Returns (records found, position reached, `WalkEnd`).
    """
    n = 0
    end = buf.shape[0]
    while True:
        if pos == end:
            return n, pos, 0
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
        pos += header_len + caplen


_compiled: Callable[..., Any] | None = None


def _walker(size: int) -> Callable[..., tuple[int, int, int]]:
    global _compiled
    if size < JIT_THRESHOLD_BYTES:
        return walk_records
    if _compiled is None:
        import numba  # imported lazily: 0.3 s of start-up that small captures do not need

        _compiled = numba.njit(cache=True, nogil=True)(walk_records)
    return _compiled


#: bytes walked at a time by `find_records_windowed`
WINDOW_BYTES = 64 << 20


def find_records_windowed(
    buf: npt.NDArray[np.uint8],
    start: int,
    big_endian: bool,
    header_len: int,
    caplen_at: int,
    max_caplen: int,
    window: int = WINDOW_BYTES,
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], int, WalkEnd]]:
    """`find_records`, a window of the buffer at a time: (offsets found, their header words,
    position reached, why it stopped) after each window, so that the caller can use the
    records and let go of the pages behind them before the next. The last tuple's `why` is the
    walk's end."""
    pos = start
    while True:
        limit = min(buf.shape[0], pos + window)
        offsets, words, reached, why = find_records(buf[:limit], pos, big_endian, header_len,
                                                    caplen_at, max_caplen)
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
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], int, WalkEnd]:
    """Offsets of all whole records from `start`, the first `HEADER_WORDS` 32-bit fields of
    each one's header (rows), the position reached, and why it stopped."""
    walk = _walker(buf.shape[0])
    # Sized from the file's real length, never from a length the file declares.
    offsets: list[npt.NDArray[np.int64]] = []
    words: list[npt.NDArray[np.uint32]] = []
    pos = start
    guess = max(16, (buf.shape[0] - start) // (header_len + 64) + 1)
    while True:
        out, fields = np.empty(guess, np.int64), np.empty((guess, HEADER_WORDS), np.uint32)
        n, pos, why = walk(buf, pos, big_endian, header_len, caplen_at, max_caplen, out, fields)
        offsets.append(out[:n])
        words.append(fields[:n])
        if why != WalkEnd.FULL:
            break
        guess *= 2
    return np.concatenate(offsets), np.concatenate(words), pos, WalkEnd(why)

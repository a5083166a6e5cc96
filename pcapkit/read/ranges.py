"""A pcap file's records found from the middle of it: a worker walks its own byte range.

The walk along length fields is sequential (`pcapkit.read.walk`): read by one process, a 5 GB
capture's walk was ~2 s of that process's CPU time, copying every byte once, while the workers
decoded. Instead each worker finds the first record of its range itself: the first offset from
which `CHAIN` records in a row read as plausible record headers (a timestamp near the file's
first records', a sub-second part under a second, a captured length within the limit). The worker
walks its records from there, up to the first that begins past its range, and says where it
began and where it stopped.

A guess can be wrong (a packet's bytes can look like a chain of headers): the engine holds
each range's beginning to the end its predecessor reached, and walks a range again from there
when they differ (`pcapkit.engine.chained`). The records are those of the file's one walk from
its start, whatever the guesses.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pcapkit.read.records import Records
from pcapkit.read.walk import HEADER_WORDS, JIT_THRESHOLD_BYTES, WalkEnd, find_records, walker

#: records in a row that must read as plausible headers where a range's walk begins
CHAIN = 4
#: how far a plausible record's timestamp may lie from the file's first, in seconds: a
#: capture of more than this is walked again where its clock moved on (correct, slower)
SLACK_SECONDS = 30 * 86400
#: the earliest time a record reads as plausible at when it is near no `Layout.near_sec`:
#: 2000-01-01 (a packet's bytes seldom read as a time, a time's fraction and a length at once)
SINCE_SEC = 946_684_800
#: the longest packet on the wire a record at any time may say it was: Linux's BIG TCP
#: aggregates reach 512 KB
MAX_ORIGLEN = 1 << 20
#: bytes scanned at once for a plausible header: most ranges find theirs in the first
#: record (a few KB), and a window of a MB scanned whole cost ~20 ms
FIRST_WINDOW = 4096
#: at the start of a pcap record header: seconds, fraction, captured length, length on the wire
_WORDS = HEADER_WORDS
#: the pcap file header's length
FILE_HEADER_LEN = 24


@dataclass(frozen=True)
class Layout:
    """How a pcap file's record headers read (from its file header and first record)."""

    big_endian: bool
    nano: bool  #: the fraction of a second is in nanoseconds (else microseconds)
    header_len: int  #: 16, or 24 in the "modified" format
    max_caplen: int  #: the longest record the walk accepts
    #: a timestamp the records lie near: the median of the first MB's (a first record's clock
    #: can be off alone), else the first record's
    near_sec: int
    #: records read as plausible at any time since `SINCE_SEC` instead, a chain's within
    #: `SLACK_SECONDS` of one another: where no record is near `near_sec` (a clock set
    #: mid-capture)
    anywhen: bool = False

    @property
    def word(self) -> str:
        return ">u4" if self.big_endian else "<u4"

    @property
    def longest(self) -> int:
        """The bytes one record may take, at most."""
        return self.header_len + self.max_caplen

    def plausible(self, words: npt.NDArray[np.uint32]) -> npt.NDArray[np.bool_]:
        """Which rows of header words (`_WORDS` columns) read as a record's header."""
        sec, frac, caplen, origlen = (words[:, k].astype(np.int64) for k in range(4))
        # Any time at all, its length on the wire too: no longer than a packet (a GRO one) and
        # no shorter than what was captured of it
        when = ((sec >= SINCE_SEC) & (origlen >= caplen) & (origlen <= MAX_ORIGLEN)
                if self.anywhen else np.abs(sec - self.near_sec) <= SLACK_SECONDS)
        return (when & (frac < (1_000_000_000 if self.nano else 1_000_000))
                & (caplen <= self.max_caplen))

    def chained(self, words: npt.NDArray[np.uint32]) -> bool:
        """Whether rows of header words in a row read as records that follow one another."""
        sec = words[:, 0].astype(np.int64)
        return bool(self.plausible(words).all()) and (
            not self.anywhen or int(sec.max() - sec.min()) <= SLACK_SECONDS)

    def first_sec_of(self, data: bytes | memoryview) -> Layout:
        """This layout, its `near_sec` read from the first record of `data` (the file)."""
        if len(data) < FILE_HEADER_LEN + 4:
            return self
        sec = struct.unpack_from(">I" if self.big_endian else "<I", data, FILE_HEADER_LEN)[0]
        return Layout(self.big_endian, self.nano, self.header_len, self.max_caplen, sec)


def first_record(buf: npt.NDArray[np.uint8], pos: int, stop: int, layout: Layout) -> int | None:
    """The first offset in [`pos`, `stop`) of `buf` where `CHAIN` plausible records begin in a
    row (or fewer, reaching the end of `buf`); None when there is none."""
    return first_chained(pos, min(stop, pos + layout.longest), [
        (functools.partial(_candidates, buf, layout=shape),
         functools.partial(_chains, buf, layout=shape))
        for shape in (layout, dataclasses.replace(layout, anywhen=True))])


def first_chained(pos: int, stop: int, tries: Sequence[tuple[
        Callable[[int, int], npt.NDArray[np.int64]], Callable[[int], bool]]]) -> int | None:
    """The first offset in [`pos`, `stop`) from which a chain of records follows, looked for a
    window at a time, each four times the last: in each window, the first of a try's
    candidates (`tries`: candidates in a span, whether a chain follows one) from which its
    chain follows, the tries in turn; None when there is none. The callers look no further
    than one record's longest from where they begin: a record begins there, if any does in
    the range (a range whose records read as none was scanned whole, 128 MB at four
    alignments twice over, and then decoded again all the same)."""
    window = FIRST_WINDOW
    while pos < stop:
        end = min(stop, pos + window)
        for candidates, chains in tries:
            for at in candidates(pos, end):
                if chains(int(at)):
                    return int(at)
        pos, window = end, window * 4
    return None


def _candidates(buf: npt.NDArray[np.uint8], pos: int, end: int, layout: Layout
                ) -> npt.NDArray[np.int64]:
    """The offsets in [`pos`, `end`) whose bytes read as one plausible header, in order: a
    header's words, at each of the four alignments at once."""
    span = buf[pos:min(buf.shape[0], end + 4 * _WORDS)]
    found = []
    for shift in range(4):
        usable = (span.shape[0] - shift) // 4
        if usable < _WORDS:
            continue
        words = span[shift:shift + 4 * usable].view(layout.word)
        rows = np.lib.stride_tricks.sliding_window_view(words, _WORDS)
        at = pos + shift + 4 * np.flatnonzero(layout.plausible(rows))
        found.append(at[at < end])
    return np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64)


def _chains(buf: npt.NDArray[np.uint8], at: int, layout: Layout) -> bool:
    """Whether `CHAIN` plausible records follow one another from `at` (or fewer, then the end
    of `buf`, unless they read so at any time: `Layout.anywhen`)."""
    words = np.empty((CHAIN, _WORDS), np.uint32)
    n, _, why = _walker()(buf, at, buf.shape[0], layout.big_endian, layout.header_len, 8,
                          layout.max_caplen, np.empty(CHAIN, np.int64), words)
    # fewer than `CHAIN` where the file ends: not at any time (a length in a packet's bytes
    # that runs past the range's end would do)
    enough = n == CHAIN or (n > 0 and why != WalkEnd.TOO_LONG and not layout.anywhen)
    return enough and layout.chained(words[:n])


@dataclass(frozen=True)
class Ends:
    """Where a range's walk began and stopped (offsets in the file), and why it stopped:
    `WalkEnd.REACHED` at the first record past the range."""

    first: int | None  #: where its first record begins; None: none begins in the range
    reached: int
    why: WalkEnd


@dataclass(frozen=True)
class Walked:
    """A range's walk: its records (offsets from the range's first byte, frames from 1), and
    its `Ends`."""

    records: Records
    ends: Ends


def walk_range(buf: npt.NDArray[np.uint8], base: int, stop: int, exact: bool,
               layout: Layout) -> Walked:
    """The records that begin in [0, `stop`) of `buf`, byte `base` of the file being its first:
    walked from its first byte when `exact` (a record begins there), else from the first
    record found (`first_record`). `buf` holds the last of them whole (a record's longest past
    `stop`), or ends where the file does."""
    start = 0 if exact else first_record(buf, 0, stop, layout)
    if start is None or start >= stop:
        return Walked(Records.empty(), Ends(None if start is None else base + start,
                                            base + (stop if start is None else start),
                                            WalkEnd.REACHED))
    offsets, words, pos, why = find_records(buf, start, layout.big_endian, layout.header_len,
                                            8, layout.max_caplen, _walker(), stop)
    if pos >= stop:  # the next record begins past the range (or the file ends there)
        why = WalkEnd.REACHED
    return Walked(records_of(offsets, words, 0, layout), Ends(base + start, base + pos, why))


def _walker() -> Callable[..., tuple[int, int, int]]:
    """The compiled walk, however small the range: a range is one of many that the process
    walks (400 ranges of 125 KB walked as Python: 1.3 s of a 13 s run), and its kernel is
    loaded once per process."""
    return walker(JIT_THRESHOLD_BYTES)


def records_of(offsets: npt.NDArray[np.int64], words: npt.NDArray[np.uint32], before: int,
               layout: Layout) -> Records:
    """`Records` of record headers found at `offsets` (their `words`), numbered on from frame
    `before`."""
    ts_sec, ts_frac, caplen, origlen = words.T
    count = len(offsets)
    return Records(
        frame=np.arange(before + 1, before + count + 1, dtype=np.uint32),
        ts_ns=ts_sec.astype(np.int64) * 1_000_000_000
        + ts_frac.astype(np.int64) * (1 if layout.nano else 1000),
        iface=np.zeros(count, np.uint16),
        offset=offsets + layout.header_len,
        caplen=np.ascontiguousarray(caplen),
        origlen=np.ascontiguousarray(origlen),
        direction=np.zeros(count, np.uint8),
    )

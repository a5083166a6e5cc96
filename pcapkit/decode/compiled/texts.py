"""The distinct texts of a chunk: addresses and DNS names, each kept once, found by hash.

The kernel interns the raw bytes of an address (4 or 16) or the escaped text of a DNS name and
writes the entry's number in the row; Python then formats each distinct entry once (`inet_ntop`
or ASCII), and a text column is a gather of those few strings. Captures repeat a few pod and
node addresses and a few names millions of times, so this is one Python call per distinct value
instead of one per row, and no sort.

The tables are arrays of a fixed size: when one is full the kernel sets `FULL` and stops at the
row it was decoding; `grow` makes room and that row is decoded again.
"""

from __future__ import annotations

import socket
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.decode.compiled.jit import Int, inlined, kernel

KIND_V4, KIND_V6, KIND_NAME = 0, 1, 2
#: `Texts.meta` slots
ENTRIES, POOL_USED, ANSWERS, FULL = range(4)
#: bits of `meta[FULL]`: which table ran out of room. The answer count is restored to the row's
#: start before growing, so a row needing more answers than were left would not show as full.
TEXTS_FULL, ANSWERS_FULL = 1, 2
#: longest name text the kernel writes (a longer one defers its row)
MAX_TEXT = 4096
#: `Texts.answers` rows: an answer's name (entry), type, TTL, data (entry, -1: null)
ANS_NAME, ANS_TYPE, ANS_TTL, ANS_DATA = range(4)

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)


class Texts(NamedTuple):
    """Interned texts and the flat list of DNS answers of a chunk."""

    slots: npt.NDArray[np.int32]  #: open-addressing hash table of entry numbers, -1: empty
    hashes: npt.NDArray[np.uint64]
    kinds: npt.NDArray[np.uint8]
    offs: npt.NDArray[np.int64]  #: where each entry's bytes are in `pool`
    lens: npt.NDArray[np.int64]
    pool: npt.NDArray[np.uint8]
    answers: npt.NDArray[np.int64]  #: 4 × capacity, see ANS_*
    meta: npt.NDArray[np.int64]  #: ENTRIES, POOL_USED, ANSWERS, FULL
    scratch: npt.NDArray[np.uint8]  #: where the kernel writes a name before interning it

    @classmethod
    def allocate(cls, entries: int = 16, pool: int = 2 * MAX_TEXT, answers: int = 16) -> Texts:
        return cls(np.full(2 * entries, -1, np.int32), np.zeros(entries, np.uint64),
                   np.zeros(entries, np.uint8), np.zeros(entries, np.int64),
                   np.zeros(entries, np.int64), np.zeros(pool, np.uint8),
                   np.zeros((4, answers), np.int64), np.zeros(4, np.int64),
                   np.zeros(MAX_TEXT, np.uint8))

    def grow(self) -> Texts:
        """Room for what did not fit: whichever table is full is doubled."""
        used, capacity = self.meta[ENTRIES], len(self.hashes)
        entries = 2 * capacity if used == capacity else capacity
        pool = len(self.pool) * (2 if len(self.pool) - self.meta[POOL_USED] < MAX_TEXT else 1)
        answers = self.answers.shape[1] * (2 if self.meta[FULL] & ANSWERS_FULL else 1)
        bigger = Texts.allocate(entries, pool, answers)
        arrays: tuple[np.ndarray[Any, Any], ...] = tuple(self)
        fresh: tuple[np.ndarray[Any, Any], ...] = tuple(bigger)
        for old, new in zip(arrays[1:], fresh[1:], strict=True):
            new[(slice(None),) * (old.ndim - 1) + (slice(0, old.shape[-1]),)] = old
        bigger.meta[FULL] = 0
        _rehash(bigger.slots, bigger.hashes, bigger.meta[ENTRIES])
        return bigger

    def series(self) -> pl.Series:
        """Entry `i`'s text at position `i`."""
        pool = self.pool.tobytes()
        out: list[str] = []
        families = {KIND_V4: socket.AF_INET, KIND_V6: socket.AF_INET6}
        for kind, off, size in zip(*(a[: self.meta[ENTRIES]].tolist() for a in
                                     (self.kinds, self.offs, self.lens)), strict=True):
            raw = pool[off : off + size]
            out.append(raw.decode("ascii") if kind == KIND_NAME
                       else socket.inet_ntop(families[kind], raw))
        return pl.Series(out, dtype=pl.String)


@kernel
def _rehash(slots: npt.NDArray[np.int32], hashes: npt.NDArray[np.uint64], entries: Int) -> None:
    mask = np.uint64(len(slots) - 1)
    for e in range(entries):
        s = np.int64(hashes[e] & mask)
        while slots[s] >= 0:
            s = (s + 1) & (len(slots) - 1)
        slots[s] = e


@inlined
def intern(t: Texts, kind: Int, src: npt.NDArray[np.uint8], start: Int, length: Int) -> Int:
    """The entry number of `length` bytes of `src` from `start`, added if new; -1 when full."""
    h = (FNV_OFFSET ^ np.uint64(kind)) * FNV_PRIME
    for k in range(length):
        h = (h ^ np.uint64(src[start + k])) * FNV_PRIME
    last = len(t.slots) - 1
    s = np.int64(h & np.uint64(last))
    while True:
        e = t.slots[s]
        if e < 0:
            break
        if t.hashes[e] == h and t.kinds[e] == kind and t.lens[e] == length:
            off = t.offs[e]
            same = True
            for k in range(length):
                if t.pool[off + k] != src[start + k]:
                    same = False
                    break
            if same:
                return np.int64(e)
        s = (s + 1) & last
    n: Int = t.meta[ENTRIES]
    used = t.meta[POOL_USED]
    if n == len(t.hashes) or used + length > len(t.pool):
        t.meta[FULL] |= TEXTS_FULL
        return -1
    for k in range(length):
        t.pool[used + k] = src[start + k]
    t.slots[s] = n
    t.hashes[n], t.kinds[n], t.offs[n], t.lens[n] = h, kind, used, length
    t.meta[ENTRIES], t.meta[POOL_USED] = n + 1, used + length
    return n


@inlined
def add_answer(t: Texts, name: Int, rtype: Int, ttl: Int, data: Int) -> None:
    """Append one DNS answer to the flat list (sets FULL when there is no room)."""
    a = t.meta[ANSWERS]
    if a == t.answers.shape[1]:
        t.meta[FULL] |= ANSWERS_FULL
        return
    t.answers[ANS_NAME, a], t.answers[ANS_TYPE, a] = name, rtype
    t.answers[ANS_TTL, a], t.answers[ANS_DATA, a] = ttl, data
    t.meta[ANSWERS] = a + 1

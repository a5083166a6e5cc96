"""Row orders by many integer columns, as numpy arrays.

The flow stage sorts every TCP segment by a key of up to ten integer columns (connection,
sender, sequence, acknowledgement, flags, length, IP id, capture, frame) and compares each row
with the one before it. The columns are packed into as few 64-bit words as their values need
(a port takes 16 bits, a view number a few), high columns in high bits, so that comparing the
words compares the columns in order; a stable sort of those few words alone is several times
faster than a sort of the frame by its columns, which also carries every other column (strings
included) along. Ties stay in row order, so the row index need not be a sort key.

Nulls compare equal to each other, as polars' `eq_missing` has them, and sort last or first as
polars' `sort(nulls_last=...)` puts them: each null becomes one value past the column's largest
(or before its smallest).

`previous_rows` finds each row's predecessor with the same key. A large input is one compiled
pass over a hash table, not a sort: most callers' rows already come in the order asked for
within each key (a connection's segments in capture order), and the pass checks that as it
goes, sorting only when it finds them out of order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.flows.compiled import JIT_THRESHOLD_ROWS, run

#: rows' key words (`packed`): one row of the array per word, one column per row of the frame
Words = npt.NDArray[np.uint64]
#: rows whose columns `packed` shifts into their words at once
SLICE_ROWS = 1 << 20


def packed(rows: pl.DataFrame, keys: Sequence[str], nulls_last: bool = True,
           ordered: bool = True) -> Words:
    """The columns `keys` of `rows` (integers, booleans, enums or text: `codes`) as 64-bit
    words, most significant first: rows compare (equal, before, after) word by word as they
    do column by column. Not `ordered`, the words only compare equal where the columns all do,
    and may be fewer (`_words_of`). The words are one array, each column shifted and ored into
    its word in turn: stacked after, as the compiled pass of `previous_rows` reads them, they
    were held twice (a 5M-packet connection's copy key: 120 MB more)."""
    columns = [_coded(rows[key]) for key in keys]
    ranges = [_range(column, nulls_last) for column in columns]
    word_of = _words_of([bits for _, _, bits in ranges], ordered)
    words = np.zeros((max(word_of, default=-1) + 1, rows.height), np.uint64)
    for column, (low, fill, bits), word in zip(columns, ranges, word_of, strict=True):
        words[word] <<= np.uint64(bits)
        # a slice of rows at a time: a column's 64-bit copy was a word a row more at the flow
        # stage's peak (one connection of 7M packets: 56 MB)
        for start in range(0, rows.height, SLICE_ROWS):
            words[word, start:start + SLICE_ROWS] |= _shifted(
                column.slice(start, SLICE_ROWS), low, fill)
    return words


def _words_of(bits: list[int], ordered: bool) -> list[int]:
    """The word each column of `bits` bits goes into. `ordered`: each in turn into the last
    word while it has room, so that the words compare as the columns do. Else (compared for
    equality only) first-fit decreasing, each column, widest first, into the first word with
    room: a TCP segment's copy key (connection, sender, port, sequence and acknowledgement
    numbers, flags, length, IP id: ~120 bits) 2 words, 3 in order (a 7M-packet connection:
    56 MB)."""
    word_of: list[int] = [0] * len(bits)
    if ordered:
        word, used = -1, 64  # the last word taken, and its bits: none open yet
        for column, width in enumerate(bits):
            if used + width > 64:
                word, used = word + 1, 0
            used += width
            word_of[column] = word
        return word_of
    room: list[int] = []  # per word, its bits still free
    for column in sorted(range(len(bits)), key=lambda c: -bits[c]):
        word = next((w for w, free in enumerate(room) if free >= bits[column]), len(room))
        if word == len(room):
            room.append(64)
        room[word] -= bits[column]
        word_of[column] = word
    return word_of


def codes(column: pl.Series) -> pl.Series:
    """`column` as integers that sort as its values do: text by its rank among the column's
    distinct values, an enum by its category's position; integers and booleans as they are."""
    if column.dtype == pl.String:
        # the position of its value among the sorted distinct values, as an enum of them has
        # it (casting to that enum took 6x as long: 1M distinct DNS names of 2M, 1.7 s)
        return (column.rank("dense") - 1).cast(pl.UInt32)
    if isinstance(column.dtype, pl.Enum):
        return column.to_physical()
    return column


def _coded(column: pl.Series) -> pl.Series:
    """`codes`, booleans as 0 and 1."""
    column = codes(column)
    return column.cast(pl.UInt8) if column.dtype == pl.Boolean else column


def _range(column: pl.Series, nulls_last: bool) -> tuple[int, int, int]:
    """A `_coded` column's lowest value, the value its nulls take (one past the end, or one
    before the start, which is then the lowest), and the bits its values take from the
    lowest."""
    if not len(column) or column.null_count() == len(column):
        return 0, 0, 1
    low, high = int(column.min()), int(column.max())  # type: ignore[arg-type]
    fill = high + 1 if nulls_last else low - 1
    if column.null_count():
        low, high = min(low, fill), max(high, fill)
    return low, fill, max((high - low).bit_length(), 1)


def _shifted(column: pl.Series, low: int, fill: int) -> npt.NDArray[np.uint64]:
    """A `_coded` column minus `low`, its nulls as `fill`, as unsigned words."""
    if column.null_count() == len(column):
        return np.zeros(len(column), np.uint64)
    if column.null_count():
        column = column.cast(pl.Int64).fill_null(fill)
    array = column.to_numpy()
    # Two's complement: the difference is right modulo 2⁶⁴ whatever the signed range. A copy
    # (`astype`), shifted in place.
    shifted = array.astype(np.int64 if array.dtype.kind == "i" else np.uint64)
    shifted -= shifted.dtype.type(low)
    return shifted.view(np.uint64)


def lexsorted(words: Words) -> npt.NDArray[np.int64]:
    """The row indices sorted by `words` (`packed`), ties in row order."""
    if not len(words):
        raise ValueError("lexsorted: no key")
    frame = pl.DataFrame({f"w{i}": word for i, word in enumerate(words)})
    order = frame.select(pl.arg_sort_by(frame.columns, maintain_order=True)).to_series()
    return order.cast(pl.Int64).to_numpy()


def in_order(words: Words) -> bool:
    """Whether the rows already come in the order of their `words` (`packed`): `lexsorted`
    would leave them where they are."""
    tied = np.ones(max(words.shape[1] - 1, 0), np.bool_)  # rows alike in the words so far
    for word in words:
        before, after = word[:-1], word[1:]
        if (tied & (after < before)).any():
            return False
        tied &= after == before
    return True


def gathered(columns: list[pl.Series], order: npt.NDArray[np.int64] | None) -> pl.DataFrame:
    """The table of `columns` in `order` (None: as they are), each in one chunk, a column at a
    time, each taken from the list (and so let go, where nothing else holds it) once gathered:
    the table is held once and one column more, not twice (a 5M-packet connection's segments:
    300 MB less at the sort). In one chunk, or the first query of a column added to the table
    would copy every column into one (a 10M-packet connection: +400 MB).

    A shard's rows come as the many parts it was spilled in, and polars' gather over many
    chunks looks up each index's chunk: numbers without nulls are gathered by numpy instead,
    from one array of the chunks (a 190k-row batch of 13 chunks: 16 -> 8 ms for its columns).
    Making every column one chunk first was as fast, but its copies raised the peak of 20M
    DNS-heavy packets on Dask local:2 by ~80 MB (1,390 -> 1,450-1,500 MB). Any other column
    (strings, nulls) is made one chunk just before it is gathered, and let go after: over 22
    chunks, polars gathered a column of 2.8M strings in 370 ms, and in 55 ms from one chunk."""
    index = None
    out = []
    while columns:
        column = columns.pop(0)
        if order is None:
            out.append(column.rechunk())
            continue
        if column.dtype.is_numeric() and not column.null_count():
            out.append(pl.Series(column.name, column.to_numpy()[order]))
            continue
        if index is None:
            # polars' own index type, made once: given numpy's int64, each gather converted
            # and bounds-checked the order again (12 of 50 ms a 5M-row column)
            index = pl.Series(order).cast(pl.get_index_type())
        out.append(column.rechunk().gather(index))
    return pl.DataFrame(out)


def same_as_previous(words: Words, order: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """For each position of `order` but the first, whether its row has the same `words` as the
    row at the position before."""
    same = np.ones(max(len(order) - 1, 0), np.bool_)
    for word in words:
        values = word[order]
        same &= values[1:] == values[:-1]
    return same


def previous_rows(same: Words, after: Words, compiled: bool | None = None
                  ) -> npt.NDArray[np.signedinteger[Any]]:
    """For each row, the row before it with the same `same` words, ordered by `after` (ties in
    row order); -1 for a key's first row. `compiled` as in `pcapkit.flows.compiled.run`: the
    compiled hash pass (its row numbers 32-bit below 2³¹ rows), or the sort (the plain path,
    and the fallback when the rows of some key are not in `after` order)."""
    n = len(same[0])
    if compiled if compiled is not None else n >= JIT_THRESHOLD_ROWS:
        found = _hashed_previous(same, after)
        if found is not None:
            return found
    order = lexsorted(np.concatenate([same, after]))
    previous = np.full(n, -1, np.int64)
    follows = same_as_previous(same, order)
    previous[order[1:][follows]] = order[:-1][follows]
    return previous


#: a 64-bit odd constant (2^64 / golden ratio) that spreads a key's bits over the hash, as int64
_MIX = -7046029254386353131
#: flips the sign bit: unsigned words compare as these do as signed ones
_SIGN = np.uint64(1 << 63)


def _hashed_previous(same: Words, after: Words) -> npt.NDArray[np.signedinteger[Any]] | None:
    """`previous_rows` by one pass in row order, or None when some key's rows are not in
    `after` order (the pass stops at the first)."""
    n = len(same[0])
    slots = 1 << max((2 * n - 1).bit_length(), 1)  # at most half full
    # Row numbers as 32-bit where they fit, and `after` flipped in place, then back: a copy of
    # it and 64-bit rows were 12 bytes a row more at the flow stage's peak (one connection of 7M
    # packets: ~80 MB).
    rows: type[np.signedinteger[Any]] = np.int32 if n < 1 << 31 else np.int64
    previous: npt.NDArray[np.signedinteger[Any]] = np.empty(n, rows)
    in_order = np.ones(1, np.int64)
    after ^= _SIGN
    try:
        run(_previous_kernel, [same.view(np.int64), after.view(np.int64), np.array([_MIX])],
            [np.full(slots, -1, rows), previous, in_order], compiled=True)
    finally:
        after ^= _SIGN
    return previous if in_order[0] else None


def _previous_kernel(same: npt.NDArray[np.int64], after: npt.NDArray[np.int64],
                     mix: npt.NDArray[np.int64], table: npt.NDArray[np.signedinteger[Any]],
                     previous: npt.NDArray[np.int64], in_order: npt.NDArray[np.int64]) -> None:
    """`table` (open addressing, a power of two of slots, -1 empty) holds each key's latest
    row. Compiled only (`previous_rows` sorts small inputs): int64 products wrap as numba
    computes them, not as Python's integers grow."""
    words, n = same.shape
    mask = len(table) - 1
    for row in range(n):
        h = 0
        for w in range(words):
            h = (h ^ same[w, row]) * mix[0]
            h ^= h >> 31
        slot = h & mask
        while True:
            last = table[slot]
            if last < 0:
                previous[row] = -1
                table[slot] = row
                break
            equal = True
            for w in range(words):
                if same[w, last] != same[w, row]:
                    equal = False
                    break
            if equal:
                for w in range(len(after)):
                    if after[w, last] != after[w, row]:
                        if after[w, last] > after[w, row]:
                            in_order[0] = 0
                            return
                        break
                previous[row] = last
                table[slot] = row
                break
            slot = (slot + 1) & mask

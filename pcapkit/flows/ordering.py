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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

Words = list[npt.NDArray[np.uint64]]


def packed(rows: pl.DataFrame, keys: Sequence[str], nulls_last: bool = True) -> Words:
    """The columns `keys` of `rows` (integers, booleans, enums or text: `codes`) as 64-bit
    words, most significant first: rows compare (equal, before, after) word by word as they
    do column by column."""
    words: Words = []
    used = 64  # bits of the last word taken: none open yet
    for key in keys:
        values, bits = _unsigned(rows[key], nulls_last)
        if not words or used + bits > 64:
            words.append(values)
            used = bits
        else:
            words[-1] = (words[-1] << np.uint64(bits)) | values
            used += bits
    return words


def codes(column: pl.Series) -> pl.Series:
    """`column` as integers that sort as its values do: text by its rank among the column's
    distinct values, an enum by its category's position; integers and booleans as they are."""
    if column.dtype == pl.String:
        column = column.cast(pl.Enum(column.drop_nulls().unique().sort()))
    if isinstance(column.dtype, pl.Enum):
        return column.to_physical()
    return column


def _unsigned(column: pl.Series, nulls_last: bool) -> tuple[npt.NDArray[np.uint64], int]:
    """`column` (`codes`) shifted to start at 0 (nulls one past the end, or one before the
    start), and the bits its values take."""
    column = codes(column)
    if column.dtype == pl.Boolean:
        column = column.cast(pl.UInt8)
    if not len(column) or column.null_count() == len(column):
        return np.zeros(len(column), np.uint64), 1
    if column.null_count():
        values = column.cast(pl.Int64)
        low, high = int(values.min()), int(values.max())  # type: ignore[arg-type]
        if nulls_last:
            high += 1
        else:
            low -= 1
        array = values.fill_null(high if nulls_last else low).to_numpy()
    else:
        array = column.to_numpy()
        low, high = int(array.min()), int(array.max())
    # Two's complement: the difference is right modulo 2⁶⁴ whatever the signed range.
    shifted = array.astype(np.int64) - np.int64(low) if array.dtype.kind == "i" else \
        array.astype(np.uint64) - np.uint64(low)
    return shifted.view(np.uint64), max((high - low).bit_length(), 1)


def lexsorted(words: Words) -> npt.NDArray[np.int64]:
    """The row indices sorted by `words` (`packed`), ties in row order."""
    if not words:
        raise ValueError("lexsorted: no key")
    frame = pl.DataFrame({f"w{i}": word for i, word in enumerate(words)})
    order = frame.select(pl.arg_sort_by(frame.columns, maintain_order=True)).to_series()
    return order.cast(pl.Int64).to_numpy()


def same_as_previous(words: Words, order: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """For each position of `order` but the first, whether its row has the same `words` as the
    row at the position before."""
    same = np.ones(max(len(order) - 1, 0), np.bool_)
    for word in words:
        values = word[order]
        same &= values[1:] == values[:-1]
    return same

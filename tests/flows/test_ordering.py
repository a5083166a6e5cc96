"""Packed integer keys (`pcapkit.flows.ordering`) against polars' own sort and comparisons, and
`repeated` against the window it replaces (`seen_again`)."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapkit.flows.ordering import (
    _hashed_previous,
    _words_of,
    gathered,
    in_order,
    lexsorted,
    packed,
    previous_rows,
    same_as_previous,
)
from pcapkit.flows.views import COPY_WINDOW_NS, repeated, seen_again

TUNNEL = pl.Enum(["vxlan", "geneve", "gre"])  # not in text order: an enum sorts by category
SCHEMA = {"port": pl.UInt16, "seq": pl.UInt32, "big": pl.Int64, "ok": pl.Boolean,
          "ip": pl.String, "tunnel": TUNNEL}
# Few distinct values, nulls among them: many ties, so the order within ties shows.
row = st.tuples(
    st.one_of(st.none(), st.sampled_from([0, 1, 80, 65535])),
    st.one_of(st.none(), st.sampled_from([0, 7, 2**32 - 1])),
    st.one_of(st.none(), st.sampled_from([-(2**40), -1, 0, 3, 2**62])),
    st.one_of(st.none(), st.booleans()),
    st.one_of(st.none(), st.sampled_from(["10.0.0.2", "10.0.0.10", "fe80::1", ""])),
    st.one_of(st.none(), st.sampled_from(["vxlan", "geneve", "gre"])),
)
keys = st.lists(st.sampled_from(list(SCHEMA)), min_size=1, max_size=6, unique=True)


def _frame(rows: list[tuple[object, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


@settings(max_examples=300, deadline=None)
@given(st.lists(row, max_size=40), keys, st.booleans())
def test_lexsorted_is_polars_stable_sort(rows: list[tuple[object, ...]], key: list[str],
                                          nulls_last: bool) -> None:
    frame = _frame(rows)
    expected = frame.with_row_index("i").sort(key, nulls_last=nulls_last, maintain_order=True)
    assert lexsorted(packed(frame, key, nulls_last)).tolist() == expected["i"].to_list()


@settings(max_examples=300, deadline=None)
@given(st.lists(row, min_size=1, max_size=40), keys)
def test_same_as_previous_is_eq_missing(rows: list[tuple[object, ...]], key: list[str]) -> None:
    frame = _frame(rows)
    order = lexsorted(packed(frame, key))
    ordered = frame[order]
    same = ordered.select(pl.all_horizontal(pl.col(k).eq_missing(pl.col(k).shift(1))
                                            for k in key)).to_series().to_list()[1:]
    assert same_as_previous(packed(frame, key), order).tolist() == same


@settings(max_examples=300, deadline=None)
@given(st.lists(row, max_size=40), keys, keys, st.booleans())
def test_previous_rows_hashed_is_the_sort(rows: list[tuple[object, ...]], key: list[str],
                                          after: list[str], ordered: bool) -> None:
    """The compiled hash pass finds the rows the sort finds: in `after` order it answers
    itself; out of it, it hands over to the sort."""
    frame = _frame(rows)
    if ordered:
        frame = frame.sort(after, nulls_last=True, maintain_order=True)
        assert _hashed_previous(packed(frame, key), packed(frame, after)) is not None
    same, later = packed(frame, key), packed(frame, after)
    kept = later.copy()
    hashed = previous_rows(same, later, compiled=True)
    assert hashed.tolist() == previous_rows(same, later, compiled=False).tolist()
    # the words compared for equality only (as `repeated` packs them) find the same rows
    assert hashed.tolist() == previous_rows(packed(frame, key, ordered=False), later).tolist()
    assert np.array_equal(later, kept)  # flipped for the pass, and back


@settings(max_examples=300, deadline=None)
@given(st.lists(row, min_size=1, max_size=40), keys)
def test_packed_for_equality_is_equal_where_the_columns_are(rows: list[tuple[object, ...]],
                                                          key: list[str]) -> None:
    """Packed for equality only (`ordered=False`, the columns placed first-fit): two rows'
    words are equal exactly where all their columns are (nulls equal to nulls), in no more
    words than in order."""
    frame = _frame(rows)
    words = packed(frame, key, ordered=False)
    assert len(words) <= len(packed(frame, key))
    packed_rows = list(zip(*(w.tolist() for w in words), strict=True))
    values = frame.select(key).rows()
    assert [[a == b for b in packed_rows] for a in packed_rows] == \
        [[a == b for b in values] for a in values]


def test_a_copy_key_takes_two_words_for_equality_three_in_order() -> None:
    """A lab capture's TCP copy key (connection, sender, port, sequence and acknowledgement
    numbers, flags, length, IP id): 119 bits, 3 words in order, 2 placed first-fit."""
    widths = [4, 2, 15, 32, 32, 5, 13, 16]
    assert max(_words_of(widths, ordered=True)) + 1 == 3
    placed = _words_of(widths, ordered=False)
    assert max(placed) + 1 == 2
    assert all(sum(w for w, at in zip(widths, placed, strict=True) if at == word) <= 64
               for word in set(placed))


packet = st.tuples(
    st.sampled_from([0, 1]),  # capture
    st.integers(0, 3 * COPY_WINDOW_NS),  # ts_ns: some within the window of another, some not
    st.one_of(st.none(), st.sampled_from([5, 6])),  # ip_id
    st.sampled_from(["10.0.0.1", "10.0.0.2"]),  # src
)


@settings(max_examples=300, deadline=None)
@given(st.lists(packet, max_size=30), st.randoms())
def test_repeated_is_seen_again_in_capture_order(packets: list[tuple[object, ...]],
                                                 shuffle: object) -> None:
    frame = pl.DataFrame(packets, schema={"capture": pl.UInt16, "ts_ns": pl.Int64,
                                          "ip_id": pl.UInt32, "src": pl.String},
                         orient="row").with_columns(frame=pl.int_range(pl.len(), dtype=pl.UInt32))
    key = ["src", "ip_id"]
    expected = frame.sort("capture", "frame").with_columns(copy=seen_again(key))
    rows = list(range(frame.height))
    shuffle.shuffle(rows)  # type: ignore[attr-defined]
    shuffled = frame[rows]
    got = shuffled.with_columns(copy=pl.Series(repeated(shuffled, key)))
    assert got.sort("capture", "frame")["copy"].to_list() == expected["copy"].to_list()
    assert np.asarray(repeated(frame, key)).dtype == np.bool_


@settings(max_examples=200, deadline=None)
@given(st.lists(row, max_size=40), keys, st.lists(st.integers(0, 40), max_size=3))
def test_gathered_is_the_frame_in_order(rows: list[tuple[object, ...]], key: list[str],
                                        cuts: list[int]) -> None:
    """In several chunks too (a shard's rows come as its spilled parts), columns with and
    without nulls (numbers without any are gathered by numpy)."""
    frame = _frame(rows)
    bounds = sorted({0, len(rows), *(min(c, len(rows)) for c in cuts)})
    chunked = pl.concat([frame[a:b] for a, b in pairwise(bounds)] or
                        [frame], rechunk=False)
    order = lexsorted(packed(frame, key))
    columns = chunked.get_columns()
    got = gathered(columns, order)
    assert got.schema == frame.schema
    assert got.equals(frame[order])
    assert columns == []  # each column was taken from the list as it was gathered


@settings(max_examples=300, deadline=None)
@given(st.lists(row, max_size=40), keys, st.booleans(), st.booleans())
def test_in_order_is_whether_the_sort_leaves_the_rows_where_they_are(
        rows: list[tuple[object, ...]], key: list[str], nulls_last: bool, sort: bool) -> None:
    """Rows as drawn (rarely in order) and sorted first (always): `in_order` is true exactly
    when `lexsorted` is the identity."""
    frame = _frame(rows)
    if sort:
        frame = frame[lexsorted(packed(frame, key, nulls_last))]
    words = packed(frame, key, nulls_last)
    assert in_order(words) == (lexsorted(words).tolist() == list(range(frame.height)))


def test_gathered_without_an_order_puts_each_column_in_one_chunk() -> None:
    frame = pl.concat([_frame([(1, 2, 3, True, "a", "gre")]),
                       _frame([(None, 5, None, None, None, None)])], rechunk=False)
    columns = frame.get_columns()
    got = gathered(columns, None)
    assert got.equals(frame)
    assert [c.n_chunks() for c in got.get_columns()] == [1] * frame.width
    assert columns == []

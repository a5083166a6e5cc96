"""`kept`: a filter that returns the frame itself, not a copy, when it keeps every row."""

from __future__ import annotations

import polars as pl

from pcapkit.flows.kept import kept

FRAME = pl.DataFrame({"queries": [1, 2, None, 0], "name": ["a", "b", "c", "d"]})


def test_a_filter_that_keeps_every_row_is_the_frame_itself() -> None:
    every = FRAME.head(2)
    assert kept(every, pl.col("queries") > 0) is every


def test_a_filter_that_drops_rows_drops_them_and_those_it_cannot_tell() -> None:
    got = kept(FRAME, pl.col("queries") > 0)
    assert got.equals(FRAME.filter(pl.col("queries") > 0))
    assert got["name"].to_list() == ["a", "b"]  # null is not kept, as `filter` does not keep it


def test_a_mask_given_as_values_filters_as_the_expression_does() -> None:
    """A Series of a value per row is the same filter as the expression it holds the values of;
    all true, the frame itself."""
    values = FRAME.select(pl.col("queries") > 0).to_series()
    assert kept(FRAME, values).equals(kept(FRAME, pl.col("queries") > 0))
    assert kept(FRAME, pl.Series([True] * FRAME.height)) is FRAME

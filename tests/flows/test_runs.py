"""`Runs`' reductions against polars' group-by of the same rows."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapkit.flows.runs import Runs

rows = st.lists(st.tuples(st.integers(0, 5), st.booleans(),
                          st.one_of(st.none(), st.integers(0, 2**32 - 1))), max_size=60)


def _frame(drawn: list[tuple[int, bool, int | None]]) -> pl.DataFrame:
    return pl.DataFrame(drawn, schema={"run": pl.Int64, "cond": pl.Boolean, "x": pl.UInt32},
                        orient="row").sort("run", maintain_order=True).with_row_index("i")


@settings(max_examples=300, deadline=None)
@given(rows)
def test_reductions_are_the_group_by(drawn: list[tuple[int, bool, int | None]]) -> None:
    frame = _frame(drawn)
    runs = Runs(frame["run"].to_numpy())
    cond = frame["cond"].to_numpy()
    expected = frame.group_by("run", maintain_order=True).agg(
        first=pl.col("i").filter("cond").first(),
        count=pl.col("cond").sum(),
        total=pl.col("x").cast(pl.UInt64).fill_null(0).sum(),
        x_at_first=pl.col("x").filter("cond").first(),
    )
    first = runs.first(cond)
    assert np.where(first == frame.height, -1, first).tolist() == \
        expected["first"].fill_null(-1).to_list()
    assert runs.count(cond).to_list() == expected["count"].to_list()
    assert runs.total(frame["x"].fill_null(0).to_numpy()).tolist() == expected["total"].to_list()
    # null where no row holds `cond`, and where the row found holds a null
    assert runs.at(frame["x"], first).series(pl.UInt32()).to_list() == \
        expected["x_at_first"].to_list()

"""`components`: rows linked by equal keys, against a plain union-find over every pair."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapkit.flows.components import components

KEYS = (["a", "b"], ["c"], ["a", "c"])
# Few distinct values and many nulls: long chains across keys, and rows linked by nothing.
value = st.one_of(st.none(), st.integers(0, 5))
row = st.tuples(value, value, value)


def _union_find(rows: list[tuple[int | None, ...]]) -> list[int]:
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    columns = {"a": 0, "b": 1, "c": 2}
    for key in KEYS:
        at = [columns[k] for k in key]
        for i, r in enumerate(rows):
            for j in range(i):
                if all(r[k] is not None and r[k] == rows[j][k] for k in at):
                    ri, rj = find(i), find(j)
                    parent[max(ri, rj)] = min(ri, rj)
    return [find(i) for i in range(len(rows))]


@settings(max_examples=300, deadline=None)
@given(st.lists(row, max_size=40))
def test_components_are_the_least_row_of_each_union_find_set(rows: list[tuple[int | None, ...]]):
    frame = pl.DataFrame(rows, schema={"a": pl.Int64, "b": pl.Int64, "c": pl.Int64},
                         orient="row")
    got = components(frame, KEYS)
    assert got.tolist() == _union_find(rows)
    assert got.dtype == np.int64
    # string keys (addresses) are linked by the same equality, coded as integers to be sorted
    named = frame.with_columns(pl.col("a").cast(pl.String).str.replace(r"^", "10.0.0."))
    assert components(named, KEYS).tolist() == got.tolist()


def test_a_chain_longer_than_one_round():
    # 0-1 by c, 1-2 by (a, b), 2-3 by c, 3-4 by (a, b)...: the least row must reach the end.
    n = 50
    frame = pl.DataFrame({
        "a": [(i + 1) // 2 for i in range(n)],
        "b": [0] * n,
        "c": [i // 2 + 1000 for i in range(n)],
    })
    assert components(frame, KEYS).tolist() == [0] * n

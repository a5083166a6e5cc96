"""Connected components of rows joined by equal keys: rows are linked when they agree on every
column of one of the keys (a row with a null in a key is linked by that key to nothing).

Vectorised, so that millions of per-view connection rows are settled without a Python object
per row: each key's groups are sorted once; then, round after round, the least label of each
group is spread to its members and each row's label jumps to its label's label, until nothing
changes. A label is always a row of the same component, so the fixed point is the component's
least row. Connections are a handful of rows (views × NAT legs): a few rounds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl


def components(rows: pl.DataFrame, keys: Sequence[Sequence[str]]) -> npt.NDArray[np.int64]:
    """For each row of `rows`, the least row index of its component."""
    label = np.arange(rows.height, dtype=np.int64)
    groups = [_groups(rows, key) for key in keys]
    while True:
        before = label
        label = label.copy()
        for order, starts, sizes in groups:
            if len(order):
                least = np.minimum.reduceat(label[order], starts)
                label[order] = np.repeat(least, sizes)
        label = label[label]
        if np.array_equal(label, before):
            return label


def _groups(rows: pl.DataFrame, key: Sequence[str]) -> tuple[npt.NDArray[np.int64], ...]:
    """The row indices of the rows that share `key` with another row, grouped together, and
    where each group starts and how many rows it has."""
    shared = (
        rows.select(*key).with_row_index("_row").drop_nulls(key)
        .filter(pl.len().over(key) > 1)
        .sort([*key, "_row"])
    )
    order = shared["_row"].cast(pl.Int64).to_numpy()
    if not len(order):
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    ends = shared.select(pl.any_horizontal(pl.col(k).ne_missing(pl.col(k).shift(-1))
                                           for k in key))
    last = ends.to_series().fill_null(True).to_numpy()
    stops = np.flatnonzero(last) + 1
    starts = np.concatenate([[0], stops[:-1]]).astype(np.int64)
    return order, starts, (stops - starts).astype(np.int64)

"""Reductions over runs of rows: per connection or per transaction, when the rows of each come
together (sorted by it).

Counts, first rows where a condition holds, extremes: each is one numpy `reduceat` over the
whole array, where a polars group-by evaluates a filtered expression group by group (several
times slower for many small groups). `Maybe` carries polars' nulls: a run without such a row
gives a null, as `filter(...).first()` or `.min()` give one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl


@dataclass(frozen=True)
class Maybe:
    """Integer values, each valid or null."""

    values: npt.NDArray[np.int64]
    valid: npt.NDArray[np.bool_]

    def otherwise(self, other: Maybe) -> Maybe:
        """Polars' `coalesce`: these values, `other`'s where these are null."""
        return Maybe(np.where(self.valid, self.values, other.values), self.valid | other.valid)

    def minus(self, other: Maybe) -> Maybe:
        return Maybe(self.values - other.values, self.valid & other.valid)

    def series(self, dtype: pl.DataType) -> pl.Series:
        values = pl.Series(self.values).cast(dtype, wrap_numerical=True)
        return values.to_frame().select(pl.when(pl.Series(self.valid)).then(values)).to_series()


def values(column: pl.Series) -> Maybe:
    """An integer column's values and validity."""
    return Maybe(column.fill_null(0).to_numpy().astype(np.int64), column.is_not_null().to_numpy())


class Runs:
    """Reductions over the runs of rows with one `run` value (rows sorted by it)."""

    def __init__(self, run: npt.NDArray[np.generic]) -> None:
        self.rows = len(run)
        self.starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]]) if self.rows else \
            np.zeros(0, np.int64)
        self.sizes = np.diff(np.r_[self.starts, self.rows])

    def count(self, cond: npt.NDArray[np.bool_]) -> pl.Series:
        return pl.Series(self.total(cond), dtype=pl.UInt32)

    def total(self, values: npt.NDArray[np.bool_ | np.unsignedinteger[Any]]
              ) -> npt.NDArray[np.uint64]:
        """Each run's sum, in 64 bits whatever the values' width (not copied into 64 bits)."""
        if not self.rows:
            return np.zeros(0, np.uint64)
        return np.add.reduceat(values, self.starts, dtype=np.uint64)

    def first(self, cond: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """Each run's first row where `cond`, or `rows` where none. Found among the rows where
        it holds (a SYN, a reset: few), not by a minimum over every row's index (two arrays of
        the rows' length: a 5M-packet connection's, 80 MB)."""
        hits = np.flatnonzero(cond)
        if not len(hits):
            return np.full(len(self.starts), self.rows, np.int64)
        at = np.searchsorted(hits, self.starts)
        found = hits[np.minimum(at, len(hits) - 1)]
        inside = (at < len(hits)) & (found < self.starts + self.sizes)
        return np.where(inside, found, self.rows).astype(np.int64)

    def at(self, column: pl.Series, rows: npt.NDArray[np.int64]) -> Maybe:
        """An integer column's values at `rows` (`first`), null where a run had no such row:
        only those rows of the column are read."""
        found = rows < self.rows
        picked = values(column.gather(np.where(found, rows, 0)) if self.rows else column[:0])
        return Maybe(picked.values, found & picked.valid)

    def spread(self, per_run: Maybe) -> Maybe:
        """A per-run value on each row of its run."""
        return Maybe(np.repeat(per_run.values, self.sizes), np.repeat(per_run.valid, self.sizes))

    def max(self, values: npt.NDArray[np.int64], cond: npt.NDArray[np.bool_]) -> Maybe:
        return self._extreme(np.maximum, np.iinfo(np.int64).min, values, cond)

    def min(self, values: npt.NDArray[np.int64], cond: npt.NDArray[np.bool_]) -> Maybe:
        return self._extreme(np.minimum, np.iinfo(np.int64).max, values, cond)

    def _extreme(self, ufunc: np.ufunc, none: int, values: npt.NDArray[np.int64],
                 cond: npt.NDArray[np.bool_]) -> Maybe:
        if not self.rows:
            return Maybe(values[:0], cond[:0])
        return Maybe(ufunc.reduceat(np.where(cond, values, none), self.starts),
                      np.logical_or.reduceat(cond, self.starts))

"""`pcapkit.engine.shards.batched`: whole keys per batch, in the parts' order, a part of one
batch passed on as it is."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pcapkit.engine import shards


def test_batches_hold_whole_keys_in_part_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shards, "BATCH_ROWS", 3)
    mixed = pl.DataFrame({"key": [0, 1, 2, 3, 1], "row": [0, 1, 2, 3, 4]})
    alone = pl.DataFrame({"key": [2, 2, 2], "row": [5, 6, 7]})  # every row in one batch
    rows = pl.concat([mixed, alone])
    batches = shards.batched([mixed, alone], pl.col("key"))
    # 8 rows in batches of about 3: 3 batches, key k in batch k % 3
    assert len(batches) == 3
    for batch in batches:
        index = batch["key"][0] % 3
        assert_frame_equal(batch, rows.filter(pl.col("key") % 3 == index))
    # the one-batch part's rows are the part's own memory, not a copy: one long connection's
    # part would be held twice
    holding = next(b for b in batches if b["key"][0] == 2)["row"].slice(1, 3)
    assert holding.n_chunks() == 1
    assert _address(holding) == _address(alone["row"])
    mixed_rows = next(b for b in batches if b["key"][0] == 1)["row"]
    assert mixed_rows.n_chunks() == 1
    assert _address(mixed_rows) != _address(mixed["row"])


def _address(column: pl.Series) -> int:
    """Where a column of one chunk holds its values (numpy views them without a copy)."""
    return int(column.to_numpy().__array_interface__["data"][0])

"""`pcapkit.engine.shards.batched`: whole keys per batch, in the parts' order, a part of one
batch passed on as it is; past `HELD_ROWS`, the batches cut to files and read back one by one."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pcapkit.engine import shards

MIXED = pl.DataFrame({"key": [0, 1, 2, 3, 1], "row": [0, 1, 2, 3, 4]})
ALONE = pl.DataFrame({"key": [2, 2, 2], "row": [5, 6, 7]})  # every row in one batch


def _batches(parts: list[pl.DataFrame], folder: Path) -> list[pl.DataFrame]:
    """`batched` of the parts as a list: read once, past `HELD_ROWS` too."""
    return [held.pop() for held in shards.batched(
        parts, pl.col("key"), shards.Overflow(str(folder), len(parts)), shards.BATCH_ROWS)]


@pytest.mark.parametrize(("held_rows", "batches"), [(100, 3), (4, 4), (1, 4)])
def test_batches_hold_whole_keys_in_part_order(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, held_rows: int, batches: int) -> None:
    """Held (100 rows), or cut to files after the first part (4) or as soon as read (1): each
    batch holds whole keys, in the parts' order, and no file is left behind. Held, 8 rows in
    batches of about 3 are 3 batches; cut to files, their number is estimated from the parts
    read so far (5 rows in the first of 2 parts: 10 rows, 4 batches)."""
    monkeypatch.setattr(shards, "BATCH_ROWS", 3)
    monkeypatch.setattr(shards, "HELD_ROWS", held_rows)
    rows = pl.concat([MIXED, ALONE])
    cut = _batches([MIXED, ALONE], tmp_path)
    keys = sorted({k % batches for k in rows["key"]})
    assert [batch["key"][0] % batches for batch in cut] == keys
    for batch in cut:
        assert_frame_equal(batch, rows.filter(pl.col("key") % batches == batch["key"][0] % batches))
    assert not [f for f in tmp_path.rglob("*") if f.is_file()]


def test_a_part_of_one_batch_is_not_copied(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """Held, the one-batch part's rows are the part's own memory, not a copy: one long
    connection's part would be held twice."""
    monkeypatch.setattr(shards, "BATCH_ROWS", 3)
    batches = _batches([MIXED, ALONE], tmp_path)
    holding = next(b for b in batches if b["key"][0] == 2)["row"].slice(1, 3)
    assert holding.n_chunks() == 1
    assert _address(holding) == _address(ALONE["row"])
    mixed_rows = next(b for b in batches if b["key"][0] == 1)["row"]
    assert mixed_rows.n_chunks() == 1
    assert _address(mixed_rows) != _address(MIXED["row"])


def test_past_held_rows_one_batch_is_read_at_a_time(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """Cut to files, a batch is read when asked for, and its files go once the next is: the
    parts are all read (and let go) before the first batch comes."""
    monkeypatch.setattr(shards, "BATCH_ROWS", 3)
    monkeypatch.setattr(shards, "HELD_ROWS", 4)
    read: list[int] = []

    def parts() -> object:
        for part in (MIXED, ALONE):
            read.append(part.height)
            yield part

    batches = shards.batched(parts(), pl.col("key"), shards.Overflow(str(tmp_path), 2),
                             shards.BATCH_ROWS)
    first = next(batches)[0]
    assert read == [5, 3]
    assert first["key"].to_list() == [0]  # 4 batches (`test_batches_hold_whole_keys...`)
    left = sorted(f.parent.name for f in tmp_path.rglob("*.arrow"))
    assert left == ["00000", "00001", "00002", "00002", "00003"]  # a file per part and batch
    next(batches)
    assert sorted({f.parent.name for f in tmp_path.rglob("*.arrow")}) == ["00001", "00002",
                                                                          "00003"]


def _address(column: pl.Series) -> int:
    """Where a column of one chunk holds its values (numpy views them without a copy)."""
    return int(column.to_numpy().__array_interface__["data"][0])


def test_past_held_rows_rows_of_one_batch_are_neither_written_nor_copied(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Past `HELD_ROWS`, parts whose rows all fall in one batch (one long connection's) and
    that are all the rows there are come as they were read: no file written, no copy. A part
    after them sends every part through the files."""
    monkeypatch.setattr(shards, "BATCH_ROWS", 2)
    monkeypatch.setattr(shards, "HELD_ROWS", 1)
    written: list[str] = []
    monkeypatch.setattr(shards.spill, "write", lambda *args: written.append(args[3]))
    (batch,) = _batches([ALONE], tmp_path)
    assert written == []
    assert_frame_equal(batch, ALONE)
    assert _address(batch["row"]) == _address(ALONE["row"])
    monkeypatch.undo()
    monkeypatch.setattr(shards, "BATCH_ROWS", 2)
    monkeypatch.setattr(shards, "HELD_ROWS", 1)
    cut = _batches([ALONE, ALONE.with_columns(pl.col("row") + 3)], tmp_path)
    assert [b["row"].to_list() for b in cut] == [[5, 6, 7, 8, 9, 10]]
    assert _address(cut[0]["row"]) != _address(ALONE["row"])  # read back from its files

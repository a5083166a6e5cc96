"""The spill: a shard's rows read back as written, in chunk order, whether written in parts (IPC
streams) or whole (IPC files); the sweeper: families no stage reads any more go while the run
goes on, the rest at the end."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest

from pcapkit.decode import decode
from pcapkit.engine import shards, spill
from pcapkit.read import read_capture
from tests.conftest import SAMPLES

FAMILIES = ("tcp", "dns", "rows")
SCHEMA = pl.Schema({"n": pl.Int64})


def test_dropped_families_go_and_the_others_stay_until_close(tmp_path: Path) -> None:
    root = tmp_path / "spill"
    for family in FAMILIES:
        for shard in range(3):
            for seq in range(4):
                spill.write(str(root), family, shard, f"00000-{seq:07d}",
                            pl.DataFrame({"n": [shard, seq]}, schema=SCHEMA))
    sweeper = spill.Sweeper(str(root))
    sweeper.drop("tcp", "dns")
    deadline = time.monotonic() + 10
    while (root / "tcp").exists() or (root / "dns").exists():
        assert time.monotonic() < deadline, "the dropped families are still there after 10 s"
        time.sleep(0.01)
    assert spill.read(str(root), "rows", 2, SCHEMA)["n"].to_list() == [2, 0, 2, 1, 2, 2, 2, 3]
    sweeper.close()
    assert not root.exists()


@pytest.mark.parametrize("whole", [True, False], ids=["read-whole", "a-column-at-a-time"])
def test_parts_and_wholes_read_back_as_written(tmp_path: Path, whole: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A real capture's DNS messages (enums, lists of structs, nulls), spilled by two chunks
    into three shards as `write_parts` cuts them, and whole: each shard's rows come back with
    their types, chunk after chunk, and `read_sorted` orders the parts' rows whole, by one of
    their columns or by a key of its own, the files read whole or a column at a time."""
    if not whole:
        monkeypatch.setattr(spill, "WHOLE_BYTES", 0)
    capture = read_capture(SAMPLES / "nxdomain_storm" / "pod-client-7c9f8b6d5-h2m4k.pcap")
    rows = shards.dns_rows(decode(capture, 0))
    assert rows.height > 20 and rows["dns_answers"].list.len().sum() > 0
    root = str(tmp_path)
    half = rows.height // 2
    for seq, chunk in enumerate((rows[:half], rows[half:])):
        spill.write_parts(root, "dns", f"00000-{seq:07d}", chunk, shards.dns_shard(3), 3)
    spill.write(root, "whole", 0, "all", rows)
    by_shard = rows.with_columns(shards.dns_shard(3).alias("_shard"))
    for shard in range(3):
        mine = by_shard.filter(pl.col("_shard") == shard).drop("_shard")
        assert spill.read(root, "dns", shard, rows.schema).equals(mine)
        names = [name for name, _ in spill.parts(root, "dns", shard, rows.schema)]
        assert names == sorted(names)
    assert spill.read(root, "whole", 0, rows.schema).equals(rows)
    got = spill.read_sorted(root, "dns", range(3), rows.schema, "ts_ns")
    assert got.schema == rows.schema
    as_read = by_shard.sort("_shard", maintain_order=True).drop("_shard")
    assert got.equals(as_read.sort("ts_ns", maintain_order=True))
    # whole files, one a shard (as the client shards spill their transactions)
    for shard in range(3):
        spill.write(root, "wholes", shard, "all",
                    by_shard.filter(pl.col("_shard") == shard).drop("_shard"))
    assert spill.read_sorted(root, "wholes", range(3), rows.schema, "ts_ns").equals(got)
    rank = pl.Series("rank", range(rows.height, 0, -1), dtype=pl.UInt32)
    for family in ("dns", "wholes"):
        assert spill.read_sorted(root, family, range(3), rows.schema, rank).equals(
            as_read.with_columns(rank).reverse())


@pytest.mark.parametrize("family", ["parts", "files"])
def test_read_whole_is_read_in_one_chunk_a_column(tmp_path: Path, family: str) -> None:
    """A real capture's TCP rows spilled in several files (parts, or whole files as a batch's
    overflow writes them, addresses as categories as a flows job reads them): `read_whole`
    gives the rows `read` gives, with their types, each column in one chunk."""
    capture = read_capture(SAMPLES / "nxdomain_storm" / "pod-client-7c9f8b6d5-h2m4k.pcap")
    rows = shards.tcp_rows(decode(capture, 0)).with_columns(
        pl.col("src", "dst").cast(pl.Categorical))
    assert rows.height > 20
    root = str(tmp_path)
    for seq, offset in enumerate(range(0, rows.height, rows.height // 3)):
        chunk = rows.slice(offset, rows.height // 3)
        if family == "parts":
            spill.write_parts(root, family, f"00000-{seq:07d}", chunk, pl.lit(0), 1)
        else:
            spill.write(root, family, 0, f"{seq:07d}", chunk)
    read = spill.read(root, family, 0, rows.schema)
    assert read.n_chunks("all") != [1] * rows.width  # as `read` gives them: a chunk a file
    whole = spill.read_whole(root, family, 0, rows.schema)
    assert whole.schema == rows.schema
    assert whole.equals(read) and whole.equals(rows)
    assert whole.n_chunks("all") == [1] * rows.width
    assert spill.read_whole(root, "none", 0, rows.schema).equals(rows.clear())

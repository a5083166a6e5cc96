"""The spill's sweeper: families no stage reads any more go while the run goes on, the rest at
the end."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from pcapkit.engine import spill

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

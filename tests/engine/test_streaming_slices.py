"""Long pairs of endpoints and long connections settled and detected a slice at a time give the
in-memory document."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import pcapkit
from pcapkit.engine import shards as sharding
from pcapkit.engine import tasks
from tests.conftest import SAMPLES, as_document
from tests.engine.streamed import SCENARIOS, in_memory_document, scenario_captures

#: scenarios of bulk transfers, thousands of rows a connection: slices of 61 rows (a prime) still
#: cut each of them tens of times, in a tenth of the time slices of seven take
BULK = {"healthy", "nodelocal_dns"}


@pytest.mark.parametrize(("scenario", "slice_rows"), [
    *((scenario, 61 if scenario.name in BULK else 7) for scenario in SCENARIOS),
    *((SAMPLES / name, 1) for name in ("lossy_underlay", "hairpin", "nodeport"))],
    ids=lambda p: p.name if isinstance(p, Path) else str(p))
def test_long_pairs_settled_in_slices(scenario: Path, slice_rows: int,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A view's pair of endpoints with more TCP rows than a slice (`SLICE_ROWS`: here seven
    rows, 61 of bulk transfers; one row on a node's lossy retransmissions, a hairpin's NAT legs
    and a NodePort's) is settled a slice at a time, the state of its connections carried from
    one to the next (`pcapkit.flows.sliced`): connections cut mid-handshake,
    mid-retransmission, between a packet and its copy give the in-memory document. (Every lab
    pair cut between every two of its rows, settled alone: `tests/flows/test_sliced.py`.)"""
    monkeypatch.setattr(sharding, "HELD_ROWS", 1)
    monkeypatch.setattr(sharding, "SLICE_ROWS", slice_rows)
    sliced: list[int] = []
    settle = sharding.Long.slices
    monkeypatch.setattr(sharding.Long, "slices", lambda long: sliced.append(1) or settle(long))
    streamed = pcapkit.analyze(scenario_captures(scenario), [scenario / "snapshot.json"], workers=1,
                               chunk_records=251, shards=1)
    assert as_document(streamed) == in_memory_document(scenario)
    packets = streamed.tables.connections.select(pl.col("packets_c2s") + pl.col("packets_s2c"))
    if packets.height and packets.to_series().max() > slice_rows:  # type: ignore[operator]
        assert sliced


@pytest.mark.parametrize(("scenario", "job"), [
    ("hairpin", "spanning_findings"), ("nodeport", "spanning_findings"),
    ("stale_endpoint", "shard_findings"), ("lossy_underlay", "shard_findings")])
def test_long_connections_detected_on_their_digest(scenario: str, job: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection with more rows than a slice in a detect job's batch (`SLICE_ROWS`: here
    seven) is read a slice at a time into its digest (`pcapkit.detect.digest`), in its own
    flows shard and, spanning shards (a NAT leg's 5-tuple in another), in the spanning jobs:
    the in-memory document."""
    folder = SAMPLES / scenario
    monkeypatch.setattr(sharding, "HELD_ROWS", 1)
    monkeypatch.setattr(sharding, "SLICE_ROWS", 7)
    where: set[str] = set()
    digested = tasks.digest

    def digest(*args: Any) -> pl.DataFrame:
        where.update(f.function for f in inspect.stack() if f.function.endswith("_findings"))
        return digested(*args)

    monkeypatch.setattr(tasks, "digest", digest)
    streamed = pcapkit.analyze(scenario_captures(folder), [folder / "snapshot.json"], workers=1,
                               chunk_records=251, shards=5)
    assert as_document(streamed) == in_memory_document(folder)
    assert job in where

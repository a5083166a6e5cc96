"""A store's packet table written as the analysis streams (`pcapkit.engine.stored`) is the
in-memory flow stage's, row for row: its decoded columns, each packet's view, and each TCP
packet's shared connection id, side and Wireshark flags (null on its copies), whatever the
chunks and shards, with connections cut across chunks and shards, and long ones read a slice at
a time."""

from __future__ import annotations

import importlib
import json
from functools import cache
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pcapkit
import pcapkit.store
from pcapkit import engine
from pcapkit.engine import shards as sharding
from pcapkit.engine.stored import PARTITION_KEY, STORED
from pcapkit.store.layout import partition_parts, staging_folder
from tests.store.scenarios import SCENARIOS, captures, needs_scenarios, snapshot
from tests.store.test_roundtrip import TABLES, assert_same


@cache
def _in_memory(scenario: str) -> pcapkit.Analysis:
    return pcapkit.analyze(captures(scenario), [snapshot(scenario)])


def _want(scenario: str) -> pl.DataFrame:
    """The in-memory packet table, with the timestamps as captured (as a store keeps them)."""
    whole = _in_memory(scenario)
    return whole.tables.packets.with_columns(ts_ns=whole.packets["ts_ns"])


def _stored(root: Path, captures: int) -> pl.DataFrame:
    """The packet table written to `root`/packets, its parts read in order."""
    parts = [pl.read_parquet(path).with_columns(pl.lit(capture, pl.UInt16).alias(PARTITION_KEY))
             for capture in range(captures) for path in partition_parts(root, "packets", capture)]
    return pl.concat(parts).select(STORED.names())


def _streamed(tmp_path: Path, scenario: str, chunk: int, shards: int) -> pl.DataFrame:
    pcapkit.analyze(captures(scenario), [snapshot(scenario)], workers=1, chunk_records=chunk,
                    shards=shards, packets_to=tmp_path / "packets")
    return _stored(tmp_path, len(captures(scenario)))


@needs_scenarios
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_stored_packets_equal_in_memory(tmp_path: Path, scenario: str) -> None:
    """Chunks of seven packets in three shards: a chunk boundary inside most handshakes and
    retransmissions, a connection's views in shards apart."""
    got = _streamed(tmp_path, scenario, 7, 3)
    assert got.height > 14
    assert_frame_equal(got, _want(scenario))


@needs_scenarios
@pytest.mark.parametrize("scenario", ["stale_endpoint", "hairpin", "lossy_underlay"])
@pytest.mark.parametrize(("chunk", "shards"), [(1, 5), (251, 2), (10**9, 1)])
def test_any_chunking(tmp_path: Path, scenario: str, chunk: int, shards: int) -> None:
    assert_frame_equal(_streamed(tmp_path, scenario, chunk, shards), _want(scenario))


@needs_scenarios
@pytest.mark.parametrize("scenario", ["hairpin", "lossy_underlay"])
def test_long_connections_read_in_slices(tmp_path: Path, scenario: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections longer than a slice (here seven rows), read a slice at a time by the detect
    jobs of their shard and, a NAT's legs in shards apart (hairpin), of the spanning
    connections: their packets' marks are those of the slices without their copies."""
    monkeypatch.setattr(sharding, "HELD_ROWS", 1)
    monkeypatch.setattr(sharding, "SLICE_ROWS", 7)
    sliced: list[int] = []
    settle = sharding.Long.slices
    monkeypatch.setattr(sharding.Long, "slices", lambda long: sliced.append(1) or settle(long))
    assert_frame_equal(_streamed(tmp_path, scenario, 251, 5), _want(scenario))
    assert sliced


@needs_scenarios
def test_convert_with_worker_processes_and_an_empty_capture(tmp_path: Path) -> None:
    """`convert` streams on worker processes; a capture without packets has its partition, one
    empty part. Loaded back, the store is the in-memory analysis."""
    caps = captures("no_endpoints")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(caps[0].read_bytes()[:24])  # the pcap file header alone
    want = pcapkit.analyze([empty, *caps], [snapshot("no_endpoints")])
    pcapkit.store.convert([empty, *caps], tmp_path / "s", [snapshot("no_endpoints")],
                          stream=True)
    assert [p.name for p in partition_parts(tmp_path / "s", "packets", 0)] == ["part-0.parquet"]
    assert len(partition_parts(tmp_path / "s", "packets", 1)) >= 1
    assert_same(pcapkit.load(tmp_path / "s"), want)
    assert not staging_folder(tmp_path / "s").exists()


@needs_scenarios
def test_a_failed_convert_keeps_the_store_it_would_replace(tmp_path: Path) -> None:
    store = tmp_path / "s"
    want = pcapkit.analyze(captures("healthy"), [snapshot("healthy")])
    pcapkit.store.convert(captures("healthy"), store, [snapshot("healthy")], stream=True)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    with pytest.raises(pcapkit.CaptureError):
        pcapkit.store.convert([bad], store, overwrite=True)
    assert not staging_folder(store).exists()
    assert_same(pcapkit.load(store), want)


@needs_scenarios
def test_a_streamed_analysis_is_not_saved(tmp_path: Path) -> None:
    """Its packet table was never held: `save` says to convert instead, and writes nothing."""
    streamed = pcapkit.analyze(captures("healthy"), stream=True, workers=1)
    with pytest.raises(pcapkit.UsageError, match=r"pcapkit\.store\.convert"):
        pcapkit.save(streamed, tmp_path / "s")
    assert not (tmp_path / "s").exists()


@needs_scenarios
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_store_is_read_a_part_at_a_time(tmp_path: Path, scenario: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A store of `STREAM_FROM_PACKETS` packets or more (here one), its packets written in
    batches of 50, is read a part at a time for the counts, spans, sources and probes they add
    up to: the in-memory analysis, but for `tables.packets` (empty, as a streamed `analyze`
    leaves it); `packets` reads the table on first use. Detecting again holds the table."""
    monkeypatch.setattr(engine, "CHUNK_RECORDS", 50)
    # the module: `pcapkit.store.load` is its function
    monkeypatch.setattr(importlib.import_module("pcapkit.store.load"), "STREAM_FROM_PACKETS", 1)
    store = tmp_path / "s"
    pcapkit.store.convert(captures(scenario), store, [snapshot(scenario)], workers=1,
                          stream=True)
    want = _in_memory(scenario)
    if want.packets.height > 50:
        assert any(len(partition_parts(store, "packets", c)) > 1
                   for c in range(len(want.captures)))
    got = pcapkit.load(store)
    assert got.tables.packets.is_empty() and got.decoded is None
    assert got.captures == want.captures
    for name in (*(t for t in TABLES if t != "packets"), "spans", "sources", "probes"):
        assert_frame_equal(getattr(got.tables, name), getattr(want.tables, name))
    assert_frame_equal(got.symptoms, want.symptoms)
    assert json.dumps(got.to_dict()) == json.dumps(want.to_dict())
    assert_frame_equal(got.packets, want.packets)
    assert_same(pcapkit.load(store, [snapshot(scenario)]), want)
    with pytest.raises(pcapkit.UsageError, match="cannot stream"):
        pcapkit.load(store, [snapshot(scenario)], stream=True)

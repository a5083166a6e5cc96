"""A store gives back the `Analysis` it was written from, on every lab scenario: the same
frames, the same JSON document, without the capture files; and a new snapshot or new thresholds
give what `analyze` gives with them."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pcapkit
from pcapkit.api import Analysis
from pcapkit.detect.config import DEFAULT
from pcapkit.store.layout import MANIFEST
from tests.conftest import SAMPLES
from tests.store.scenarios import SCENARIOS, captures, needs_scenarios, snapshot

TABLES = ("packets", "connections", "dns", "icmp_errors", "views", "dns_views")


def assert_same(got: Analysis, want: Analysis) -> None:
    assert got.captures == want.captures
    assert_frame_equal(got.packets, want.packets)
    for name in TABLES:
        assert_frame_equal(getattr(got.tables, name), getattr(want.tables, name))
    assert_frame_equal(got.symptoms, want.symptoms)
    assert json.dumps(got.to_dict()) == json.dumps(want.to_dict())


@needs_scenarios
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_round_trip(tmp_path: Path, scenario: str) -> None:
    want = pcapkit.analyze(captures(scenario), [snapshot(scenario)])
    pcapkit.save(want, tmp_path / "store")
    got = pcapkit.load(tmp_path / "store")
    assert_same(got, want)
    assert got.snapshot is not None and want.snapshot is not None
    for kind in ("pods", "services", "endpoints", "nodes"):
        assert_frame_equal(getattr(got.snapshot, kind), getattr(want.snapshot, kind))
    assert got.snapshot.sources == want.snapshot.sources


@needs_scenarios
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_snapshot_given_later(tmp_path: Path, scenario: str) -> None:
    """Converted without a snapshot, loaded with one: vantages and `k8s` names as `analyze`
    gives them with the snapshot from the start."""
    pcapkit.save(pcapkit.analyze(captures(scenario)), tmp_path / "store")
    got = pcapkit.load(tmp_path / "store", [snapshot(scenario)])
    assert_same(got, pcapkit.analyze(captures(scenario), [snapshot(scenario)]))


def test_dns_reassembled_from_segments_and_fragments(tmp_path: Path) -> None:
    """DNS messages over TCP segments and in IP fragments (`samples/reassembled_dns`, no
    cluster) are read from the capture bytes, which a store does not keep: the store gives back
    the DNS views `analyze` read from them."""
    folder = SAMPLES / "reassembled_dns"
    if not folder.is_dir():
        pytest.skip("samples/reassembled_dns not recorded")
    want = pcapkit.analyze(sorted(folder.glob("*.pcap")))
    assert "tcp" in want.tables.dns_views["proto"].cast(pl.String).to_list()
    pcapkit.save(want, tmp_path / "store")
    assert_same(pcapkit.load(tmp_path / "store"), want)


def test_thresholds_given_later(tmp_path: Path) -> None:
    scenario = "nxdomain_storm"
    pcapkit.save(pcapkit.analyze(captures(scenario), [snapshot(scenario)]), tmp_path / "s")
    config = replace(DEFAULT, nxdomain_min=2, retransmission_min=3)
    got = pcapkit.load(tmp_path / "s", config=config)
    assert_same(got, pcapkit.analyze(captures(scenario), [snapshot(scenario)], config))
    assert_same(pcapkit.load(tmp_path / "s", config=DEFAULT), pcapkit.load(tmp_path / "s"))


def test_captures_need_not_exist(tmp_path: Path) -> None:
    scenario = "stale_endpoint"
    copies = []
    for cap in captures(scenario):
        copies.append(tmp_path / cap.name)
        shutil.copy(cap, copies[-1])
    want = pcapkit.analyze(copies, [snapshot(scenario)])
    pcapkit.store.convert(copies, tmp_path / "store", [snapshot(scenario)])
    for c in copies:
        c.unlink()
    got = pcapkit.load(tmp_path / "store")
    assert_same(got, want)
    assert [c.path for c in got.captures] == [str(c) for c in copies]


def test_overwrite_replaces_a_store(tmp_path: Path) -> None:
    first = pcapkit.analyze(captures("stale_endpoint"))
    second = pcapkit.analyze(captures("healthy"), [snapshot("healthy")])
    pcapkit.save(first, tmp_path / "s")
    with pytest.raises(pcapkit.StoreError, match="--overwrite"):
        pcapkit.save(second, tmp_path / "s")
    pcapkit.save(second, tmp_path / "s", overwrite=True)
    assert_same(pcapkit.load(tmp_path / "s"), second)


def test_capture_without_packets(tmp_path: Path) -> None:
    """A capture with no packets (tcpdump stopped at once) has its partitions, empty."""
    caps = captures("no_endpoints")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(caps[0].read_bytes()[:24])  # the pcap file header alone
    want = pcapkit.analyze([empty, *caps], [snapshot("no_endpoints")])
    assert want.captures[0].packets == 0
    pcapkit.save(want, tmp_path / "s")
    assert_same(pcapkit.load(tmp_path / "s"), want)
    assert_same(pcapkit.load(tmp_path / "s", [snapshot("no_endpoints")]), want)


def test_a_format_3_store_is_read(tmp_path: Path) -> None:
    """A store pcapkit wrote before partitions could be in several parts: one `part-0.parquet`
    each, format 3. It is read as it was written."""
    scenario = "stale_endpoint"
    want = pcapkit.analyze(captures(scenario), [snapshot(scenario)])
    pcapkit.save(want, tmp_path / "s")
    for part in (tmp_path / "s").glob("*/capture=*/part-*.parquet"):
        part.rename(part.with_name("part-0.parquet"))
    manifest = tmp_path / "s" / MANIFEST
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format_version": 3}))
    assert_same(pcapkit.load(tmp_path / "s"), want)

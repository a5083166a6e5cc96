"""The streaming engine gives the in-memory pipeline's document exactly, whatever the chunk
and shard sizes: on every lab scenario (all its captures and its snapshot together), with
worker processes, and with chunks of one packet, so that a chunk boundary falls inside every
handshake, retransmission and DNS resend there is. The public corpora: test_streaming_corpus.py
(a file of its own, so that `--dist loadfile` runs it beside this one, not after it)."""

from __future__ import annotations

import inspect
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pcapkit
from pcapkit import engine
from pcapkit.engine import shards as sharding
from pcapkit.engine import spill, tasks
from tests.conftest import (
    SAMPLES,
    TCPDUMP_CORPUS,
    as_document,
    decoded_jobs,
    document,
    gzipped,
    planned_chunks,
)

SCENARIOS = sorted(p for p in SAMPLES.iterdir() if (p / "snapshot.json").is_file())
CORPUS_ROOT = TCPDUMP_CORPUS.parent


def _captures(scenario: Path) -> list[Path]:
    return sorted(p for p in scenario.iterdir() if p.suffix in {".pcap", ".pcapng"})


@cache
def _in_memory(scenario: Path) -> pcapkit.Analysis:
    """The in-memory pipeline's reading of a lab scenario: what every chunking of it is held to
    (made once, not once per chunk size)."""
    return pcapkit.analyze(_captures(scenario), [scenario / "snapshot.json"])


@cache
def _in_memory_document(scenario: Path) -> str:
    return as_document(_in_memory(scenario))


@cache
def _streamed(scenario: Path, chunk: int, shards: int) -> pcapkit.Analysis:
    """A streamed reading of a lab scenario, one worker: its document and its DNS table are
    each held to the in-memory ones by a test of their own."""
    return pcapkit.analyze(_captures(scenario), [scenario / "snapshot.json"], workers=1,
                           chunk_records=chunk, shards=shards)


def _streamed_document(scenario: Path, chunk: int, shards: int) -> str:
    return as_document(_streamed(scenario, chunk, shards))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
@pytest.mark.parametrize(("chunk", "shards"), [(7, 3), (64_000, 16), (10**9, 1), (251, 2)])
def test_streamed_equals_in_memory(scenario: Path, chunk: int, shards: int) -> None:
    assert _streamed_document(scenario, chunk, shards) == _in_memory_document(scenario)


@pytest.mark.parametrize("scenario", ["stale_endpoint", "nxdomain_storm", "lossy_underlay",
                                      "dns_timeout", "nodelocal_dns"])
def test_one_packet_chunks(scenario: str) -> None:
    """A chunk per packet: every connection, retransmission and DNS resend (and a node-local
    cache's DNS over TCP) is cut."""
    folder = SAMPLES / scenario
    assert _streamed_document(folder, 1, 5) == _in_memory_document(folder)


@pytest.mark.parametrize("scenario", ["nxdomain_storm", "dns_timeout", "no_such_service",
                                      "short_name_other_namespace", "wrong_nameserver"])
@pytest.mark.parametrize(("chunk", "shards"), [(1, 5), (251, 2), (10**9, 1)])
def test_dns_transactions_equal_in_memory(scenario: str, chunk: int, shards: int) -> None:
    """The DNS table itself, numbered and grouped into lookups shard by shard of clients, is
    the in-memory one: the same `txn` and `lookup` numbers, row for row."""
    folder = SAMPLES / scenario
    whole = _in_memory(folder)
    assert whole.tables.dns.height
    assert_frame_equal(_streamed(folder, chunk, shards).tables.dns, whole.tables.dns)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
@pytest.mark.parametrize(("chunk", "shards"), [(7, 3), (10**9, 1)])
def test_connections_equal_in_memory(scenario: Path, chunk: int, shards: int) -> None:
    """The CONNECTIONS table itself, merged from the shards' per-view rows, is the in-memory
    one row for row: the same ids, in the same order (a connection's two legs in one view, a
    NodePort's SNAT, included)."""
    assert_frame_equal(_streamed(scenario, chunk, shards).tables.connections,
                       _in_memory(scenario).tables.connections)


@pytest.mark.parametrize("held_rows", [10**9, 1], ids=["held", "through-files"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_flows_and_detectors_in_batches_of_connections(
        scenario: Path, held_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shard's TCP rows settled, its connections' packets read by the detectors, and its DNS
    messages paired into transactions, a batch of whole connections (or client sides) at a
    time (here a batch per row at most: as many batches as the shard has pairs of endpoints,
    connections, or DNS client sides) give the in-memory document; whether the batches are
    held, or cut to files and read back one at a time (`HELD_ROWS`)."""
    monkeypatch.setattr(sharding, "BATCH_ROWS", 1)
    monkeypatch.setattr(sharding, "DNS_BATCH_ROWS", 1)
    monkeypatch.setattr(sharding, "HELD_ROWS", held_rows)
    counts: dict[str, list[int]] = {"tcp_batches": [], "conn_batches": [], "dns_batches": []}
    for name, seen in counts.items():
        cut = getattr(sharding, name)
        monkeypatch.setattr(sharding, name, lambda rows, overflow, cut=cut, seen=seen: seen.append(
            len(batches := list(cut(rows, overflow)))) or iter(batches))
    streamed = pcapkit.analyze(_captures(scenario), [scenario / "snapshot.json"], workers=1,
                               chunk_records=251, shards=1)
    assert as_document(streamed) == _in_memory_document(scenario)
    if streamed.tables.connections.select("client_ip", "client_port").n_unique() > 1:
        assert counts["tcp_batches"][0] > 1
        assert counts["conn_batches"][0] > 1
    if streamed.tables.dns.select("client_ip", "client_port").n_unique() > 1:
        assert counts["dns_batches"][0] > 1


@pytest.mark.parametrize(("scenario", "slice_rows"), [
    *((scenario, 7) for scenario in SCENARIOS),
    *((SAMPLES / name, 1) for name in ("lossy_underlay", "hairpin", "nodeport"))],
    ids=lambda p: p.name if isinstance(p, Path) else str(p))
def test_long_pairs_settled_in_slices(scenario: Path, slice_rows: int,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A view's pair of endpoints with more TCP rows than a slice (`SLICE_ROWS`: here seven
    rows; one row on a node's lossy retransmissions, a hairpin's NAT legs and a NodePort's) is
    settled a slice at a time, the state of its connections carried from one to the next
    (`pcapkit.flows.sliced`): connections cut mid-handshake, mid-retransmission, between a
    packet and its copy give the in-memory document. (Every lab pair cut between every two of
    its rows, settled alone: `tests/flows/test_sliced.py`.)"""
    monkeypatch.setattr(sharding, "HELD_ROWS", 1)
    monkeypatch.setattr(sharding, "SLICE_ROWS", slice_rows)
    sliced: list[int] = []
    settle = sharding.Long.slices
    monkeypatch.setattr(sharding.Long, "slices", lambda long: sliced.append(1) or settle(long))
    streamed = pcapkit.analyze(_captures(scenario), [scenario / "snapshot.json"], workers=1,
                               chunk_records=251, shards=1)
    assert as_document(streamed) == _in_memory_document(scenario)
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
    streamed = pcapkit.analyze(_captures(folder), [folder / "snapshot.json"], workers=1,
                               chunk_records=251, shards=5)
    assert as_document(streamed) == _in_memory_document(folder)
    assert job in where


@pytest.mark.parametrize("scenario", ["stale_endpoint", "nxdomain_storm"])
def test_chunks_grow_with_the_captures(scenario: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Left to the engine, chunks grow past `CHUNK_RECORDS` so that the captures are cut into
    `MAX_CHUNKS` or so (here 50 records and 3 chunks, of a lab scenario's captures), each
    decoded `CHUNK_RECORDS` at a time, and spilling one part of each shard it has rows of: the
    document is the in-memory one."""
    monkeypatch.setattr(engine, "CHUNK_RECORDS", 50)
    monkeypatch.setattr(engine, "MAX_CHUNKS", 3)
    chunks, jobs = planned_chunks(monkeypatch), decoded_jobs(monkeypatch)
    written: list[tuple[str, str]] = []
    write_parts = spill.write_parts
    monkeypatch.setattr(spill, "write_parts", lambda root, family, name, *rest: (
        written.append((family, name)), write_parts(root, family, name, *rest))[1])
    folder = SAMPLES / scenario
    streamed = pcapkit.analyze(_captures(folder), [folder / "snapshot.json"], workers=1,
                               shards=4, stream=True)
    assert as_document(streamed) == _in_memory_document(folder)
    assert {job.batch for job in jobs} == {50}
    packets = _in_memory(folder).tables.packets.height
    assert packets >= 50 * 2 * len(chunks)  # each chunk decoded in two batches or more
    for family in ("tcp", "dns"):
        names = [name for f, name in written if f == family]
        assert names and len(names) == len(set(names)) <= len(chunks)


def test_worker_processes() -> None:
    folder = SAMPLES / "healthy"
    captures, snapshot = _captures(folder), [folder / "snapshot.json"]
    streamed = document(captures, snapshot, workers=2, chunk_records=500, shards=4)
    assert streamed == _in_memory_document(folder)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("scenario", ["lossy_underlay", "dns_timeout"])
def test_gzip_chunks_are_read_from_the_decompressed_copy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, scenario: str) -> None:
    """Worker processes of this machine map a gzip capture's decompressed copy (this process's
    descriptor of it, under /proc) as they would a capture: its chunks carry no bytes. pcap,
    and pcapng (dns_timeout's dumpcap capture)."""
    captures = gzipped(_captures(SAMPLES / scenario), tmp_path)
    chunks = planned_chunks(monkeypatch)
    streamed = document(captures, [], workers=workers, chunk_records=40, shards=3)
    assert len(chunks) > len(captures)
    assert all(c.data is None and c.spool is not None for c in chunks)
    assert streamed == document(captures, [])


def test_spill_directory_is_removed(tmp_path: Path) -> None:
    folder = SAMPLES / "no_endpoints"
    pcapkit.analyze(_captures(folder), workers=1, chunk_records=50, spill_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


#: captures whose DNS messages need reassembly: an IPv6-fragmented response, a message over
#: three TCP segments, and DNS over TCP (`pcapkit.decode.reassembly`)
REASSEMBLED = [CORPUS_ROOT / "zeek/core.ipv6-frag/ipv6-fragmented-dns.pcap",
               CORPUS_ROOT / "zeek/scripts.base.protocols.dns.tkey/tkey.pcap",
               CORPUS_ROOT / "tcpdump/dns_tcp.pcap",
               *sorted((SAMPLES / "reassembled_dns").glob("*.pcap"))]


@pytest.mark.parametrize("capture", REASSEMBLED, ids=lambda p: p.name)
@pytest.mark.parametrize(("chunk", "shards"), [(1, 3), (2, 1), (3, 2)])
def test_reassembly_across_chunks(capture: Path, chunk: int, shards: int) -> None:
    """A fragmented datagram or a TCP message straddling chunks is read whole, as in memory."""
    if not capture.exists():
        pytest.skip(f"{capture} not found (the public corpus is only in the project's workplace)")
    path = [capture]
    whole = pcapkit.analyze(path)
    assert whole.tables.dns["response_seen"].any()
    streamed = pcapkit.analyze(path, workers=1, chunk_records=chunk, shards=shards)
    assert_frame_equal(streamed.tables.dns, whole.tables.dns)
    assert_frame_equal(streamed.tables.dns_views, whole.tables.dns_views)

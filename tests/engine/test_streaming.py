"""The streaming engine gives the in-memory pipeline's document exactly, whatever the chunk
and shard sizes: on every lab scenario (all its captures and its snapshot together), with
worker processes, and with gzip captures. Chunks of one packet, batches of one connection and
slices of long ones: test_streaming_one_packet.py, test_streaming_batches.py,
test_streaming_slices.py; the public corpora: test_streaming_corpus.py (files of their own,
so that `--dist loadfile` runs them beside this one, not after it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

import pcapkit
from pcapkit import engine
from pcapkit.engine import spill
from tests.conftest import (
    SAMPLES,
    TCPDUMP_CORPUS,
    as_document,
    decoded_jobs,
    document,
    gzipped,
    planned_chunks,
)
from tests.engine.streamed import (
    SCENARIOS,
    in_memory,
    in_memory_document,
    scenario_captures,
    streamed,
    streamed_document,
)

CORPUS_ROOT = TCPDUMP_CORPUS.parent


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
@pytest.mark.parametrize(("chunk", "shards"), [(7, 3), (64_000, 16), (10**9, 1), (251, 2)])
def test_streamed_equals_in_memory(scenario: Path, chunk: int, shards: int) -> None:
    assert streamed_document(scenario, chunk, shards) == in_memory_document(scenario)


@pytest.mark.parametrize("scenario", ["nxdomain_storm", "dns_timeout", "no_such_service",
                                      "short_name_other_namespace", "wrong_nameserver"])
@pytest.mark.parametrize(("chunk", "shards"), [(1, 5), (251, 2), (10**9, 1)])
def test_dns_transactions_equal_in_memory(scenario: str, chunk: int, shards: int) -> None:
    """The DNS table itself, numbered and grouped into lookups shard by shard of clients, is
    the in-memory one: the same `txn` and `lookup` numbers, row for row."""
    folder = SAMPLES / scenario
    whole = in_memory(folder)
    assert whole.tables.dns.height
    assert_frame_equal(streamed(folder, chunk, shards).tables.dns, whole.tables.dns)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
@pytest.mark.parametrize(("chunk", "shards"), [(7, 3), (10**9, 1)])
def test_connections_equal_in_memory(scenario: Path, chunk: int, shards: int) -> None:
    """The CONNECTIONS table itself, merged from the shards' per-view rows, is the in-memory
    one row for row: the same ids, in the same order (a connection's two legs in one view, a
    NodePort's SNAT, included)."""
    assert_frame_equal(streamed(scenario, chunk, shards).tables.connections,
                       in_memory(scenario).tables.connections)


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
    got = pcapkit.analyze(scenario_captures(folder), [folder / "snapshot.json"], workers=1,
                               shards=4, stream=True)
    assert as_document(got) == in_memory_document(folder)
    assert {job.batch for job in jobs} == {50}
    packets = in_memory(folder).tables.packets.height
    assert packets >= 50 * 2 * len(chunks)  # each chunk decoded in two batches or more
    for family in ("tcp", "dns"):
        names = [name for f, name in written if f == family]
        assert names and len(names) == len(set(names)) <= len(chunks)


def test_worker_processes() -> None:
    folder = SAMPLES / "healthy"
    captures, snapshot = scenario_captures(folder), [folder / "snapshot.json"]
    got = document(captures, snapshot, workers=2, chunk_records=500, shards=4)
    assert got == in_memory_document(folder)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("scenario", ["lossy_underlay", "dns_timeout"])
def test_gzip_chunks_are_read_from_the_decompressed_copy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, scenario: str) -> None:
    """Worker processes of this machine map a gzip capture's decompressed copy (this process's
    descriptor of it, under /proc) as they would a capture: its chunks carry no bytes. pcap,
    and pcapng (dns_timeout's dumpcap capture)."""
    captures = gzipped(scenario_captures(SAMPLES / scenario), tmp_path)
    chunks = planned_chunks(monkeypatch)
    got = document(captures, [], workers=workers, chunk_records=40, shards=3)
    assert len(chunks) > len(captures)
    assert all(c.data is None and c.spool is not None for c in chunks)
    assert got == document(captures, [])


def test_spill_directory_is_removed(tmp_path: Path) -> None:
    folder = SAMPLES / "no_endpoints"
    pcapkit.analyze(scenario_captures(folder), workers=1, chunk_records=50, spill_dir=str(tmp_path))
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
    got = pcapkit.analyze(path, workers=1, chunk_records=chunk, shards=shards)
    assert_frame_equal(got.tables.dns, whole.tables.dns)
    assert_frame_equal(got.tables.dns_views, whole.tables.dns_views)

"""A shard's flow and detector work done a batch of whole connections (or DNS client sides) at
a time, held or cut to files, gives the in-memory document."""

from __future__ import annotations

from pathlib import Path

import pytest

import pcapkit
from pcapkit.engine import shards as sharding
from tests.conftest import as_document
from tests.engine.streamed import SCENARIOS, in_memory_document, scenario_captures


@pytest.mark.parametrize(("scenario", "held_rows"), [
    *((scenario, 1) for scenario in SCENARIOS),
    # held: the same batches without the files, but on the two scenarios of bulk transfers
    # (a tenth of the run's time between them, their batches through files above)
    *((scenario, 10**9) for scenario in SCENARIOS
      if scenario.name not in {"healthy", "nodelocal_dns"})],
    ids=lambda p: p.name if isinstance(p, Path) else {1: "through-files"}.get(p, "held"))
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
    streamed = pcapkit.analyze(scenario_captures(scenario), [scenario / "snapshot.json"], workers=1,
                               chunk_records=251, shards=1)
    assert as_document(streamed) == in_memory_document(scenario)
    if streamed.tables.connections.select("client_ip", "client_port").n_unique() > 1:
        assert counts["tcp_batches"][0] > 1
        assert counts["conn_batches"][0] > 1
    if streamed.tables.dns.select("client_ip", "client_port").n_unique() > 1:
        assert counts["dns_batches"][0] > 1

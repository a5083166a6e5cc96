"""The public API is chosen on purpose: `pcapkit.__all__` is pinned, and what `analyze` returns
has the documented schemas."""

from __future__ import annotations

import polars as pl

import pcapkit
from pcapkit.decode.schema import PACKET_SCHEMA
from pcapkit.detect.findings import FINDINGS_SCHEMA
from pcapkit.flows.schema import CONNECTIONS, DNS_TRANSACTIONS
from tests.conftest import SAMPLES

EXPORTED = ["Analysis", "CaptureError", "CaptureInfo", "PcapkitError", "SnapshotError",
            "StoreError", "UsageError", "__version__", "analyze", "load", "read_packets", "save"]


def test_exported_members() -> None:
    assert sorted(pcapkit.__all__) == sorted(EXPORTED)
    public = {name for name in dir(pcapkit) if not name.startswith("_")}
    # Stage subpackages are importable by path but are not the API's front door.
    assert public - set(EXPORTED) <= {"api", "cli", "codes", "decode", "detect", "errors",
                                      "engine", "flows", "kube", "read", "report", "store",
                                      "version"}


def test_analyze_returns_documented_frames() -> None:
    folder = SAMPLES / "no_endpoints"
    result = pcapkit.analyze(sorted(folder.glob("*.pcap")), [folder / "snapshot.json"])
    assert result.packets.schema == PACKET_SCHEMA
    assert result.connections.schema == CONNECTIONS
    assert result.dns.schema == DNS_TRANSACTIONS
    base = result.findings.select(FINDINGS_SCHEMA.names())
    assert base.schema == FINDINGS_SCHEMA
    assert {c for c in result.findings.columns if c.startswith("k8s_")}
    assert result.packets.height == sum(c.packets for c in result.captures)
    assert isinstance(pcapkit.read_packets(result.captures[0].path), pl.DataFrame)

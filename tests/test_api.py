"""The public API is chosen on purpose: `pcapkit.__all__` is pinned, and what `analyze` returns
has the documented schemas."""

from __future__ import annotations

from itertools import pairwise

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pcapkit
from pcapkit.decode.schema import PACKET_SCHEMA
from pcapkit.detect.findings import FINDINGS_SCHEMA
from pcapkit.flows.schema import CONNECTIONS, DNS_TRANSACTIONS
from pcapkit.progress import Stage
from tests.conftest import SAMPLES

EXPORTED = ["Analysis", "CaptureError", "CaptureInfo", "PcapkitError", "SnapshotError",
            "StoreError", "UsageError", "__version__", "analyze", "load", "read_packets", "save"]


def test_exported_members() -> None:
    assert sorted(pcapkit.__all__) == sorted(EXPORTED)
    public = {name for name in dir(pcapkit) if not name.startswith("_")}
    # Stage subpackages are importable by path but are not the API's front door.
    assert public - set(EXPORTED) <= {"allocator", "api", "cli", "codes", "decode", "detect",
                                      "errors", "forkserver",
                                      "engine", "flows", "kube", "progress", "read",
                                      "report", "store", "streaming", "version", "wireshark"}


def test_analyze_returns_documented_frames() -> None:
    folder = SAMPLES / "no_endpoints"
    result = pcapkit.analyze(sorted(folder.glob("*.pcap")), [folder / "snapshot.json"])
    assert result.packets.schema == PACKET_SCHEMA
    assert result.connections.schema == CONNECTIONS
    assert result.dns.schema == DNS_TRANSACTIONS
    base = result.symptoms.select(FINDINGS_SCHEMA.names())
    assert base.schema == FINDINGS_SCHEMA
    assert {c for c in result.symptoms.columns if c.startswith("k8s_")}
    assert result.packets.height == sum(c.packets for c in result.captures)
    assert isinstance(pcapkit.read_packets(result.captures[0].path), pl.DataFrame)


def test_progress_callback_follows_its_protocol() -> None:
    folder = SAMPLES / "no_endpoints"
    captures = sorted(folder.glob("*.pcap"))
    calls: list[tuple[str, int, int, int]] = []

    def record(stage: str, done_bytes: int, total_bytes: int, packets: int) -> None:
        calls.append((stage, done_bytes, total_bytes, packets))

    result = pcapkit.analyze(captures, [folder / "snapshot.json"], progress=record)
    total = sum(p.stat().st_size for p in captures)
    stages = [c[0] for c in calls]
    assert stages[0] == Stage.KUBE and stages[-1] == Stage.DETECT
    assert stages.count(Stage.READ) == stages.count(Stage.DECODE) == len(captures)
    assert {c[2] for c in calls} == {total}
    for before, after in pairwise(calls):
        assert before[1] <= after[1] and before[3] <= after[3]
    assert calls[-1][1] == total and calls[-1][3] == result.packets.height
    # The default reports nothing, and a quiet analysis is the same analysis.
    assert_frame_equal(pcapkit.analyze(captures, [folder / "snapshot.json"]).symptoms,
                       result.symptoms)


def test_symptoms_is_the_name_findings_the_deprecated_alias() -> None:
    """One name, the JSON's: `symptoms`; `findings` works for one more version, and warns."""
    folder = SAMPLES / "no_endpoints"
    result = pcapkit.analyze(sorted(folder.glob("*.pcap")), [folder / "snapshot.json"])
    assert result.symptoms.height == len(result.to_dict()["symptoms"])
    with pytest.warns(DeprecationWarning, match="symptoms"):
        old = result.findings
    assert old is result.symptoms

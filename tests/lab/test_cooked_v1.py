"""Linux cooked v1 (`dumpcap -i any`, `tshark -i any`): no interface index, so a node's capture
shows each packet once per interface it crossed with nothing in the header to tell them apart
(pcapkit/flows/views.py). On every scenario, a node's v1 capture alone gives exactly the symptoms
its SLL2 capture of the same packets gives (kind, endpoints, counts, Service and endpoint), and
adding it to the incident's other captures changes nothing.

The v1 captures are the SLL2 ones with the header rewritten (tests/lab/cooked.py): the same
packets, byte for byte, so the two must agree exactly. The lab's own v1 recordings, taken at the
same time as the SLL2 ones (`node-*-any-v1.pcap`, and `dumpcap -i eth0 -i any` as
`node-*-dumpcap.pcapng`), are compared with their SLL2 twins too, over the time both were
recording: a separate tcpdump stops at its own moment, and a node that keeps asking ARP for a
gone endpoint asks once more in the capture that stopped later."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pcapkit.read import read_capture
from samples.lab.scenarios import SCENARIOS
from tests.conftest import SAMPLES
from tests.lab.cooked import recorded_v1, sll2_twins, symptoms, v1_from_v2


def _captures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng"})


def _until(twin: Path, v1: Path, tmp_path: Path) -> Path:
    """`twin` cut to the packets stamped no later than `v1`'s last (editcap -B)."""
    last_ns = int(read_capture(v1).records.ts_ns.max()) + 1
    stop = datetime.fromtimestamp(last_ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    out = tmp_path / f"until-{v1.stem}-{twin.name}"
    subprocess.run(["editcap", "-B", f"{stop}.{last_ns % 10**9:09d}Z", str(twin), str(out)],
                   check=True, capture_output=True)
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_v1_capture_gives_the_sll2_symptoms(name: str, tmp_path: Path) -> None:
    folder = SAMPLES / name
    snapshot = folder / "snapshot.json"
    nodes = sorted(folder.glob("node-*-any.pcap"))
    assert nodes
    rewritten = [v1_from_v2(p, tmp_path / f"{p.stem}-v1.pcap") for p in nodes]
    recorded = recorded_v1(folder)
    for sll2, v1 in zip(nodes, rewritten, strict=True):
        assert symptoms([v1], snapshot) == symptoms([sll2], snapshot), v1.name
    for v1 in recorded:
        twins = [_until(t, v1, tmp_path) for t in sll2_twins(v1)]
        assert symptoms([v1], snapshot) == symptoms(twins, snapshot), v1.name
    others = [p for p in _captures(folder) if p not in recorded]
    assert symptoms(others + rewritten + recorded, snapshot) == symptoms(others, snapshot)

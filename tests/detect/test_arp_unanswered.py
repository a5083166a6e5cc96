"""arp_unanswered on the lab, with tshark as the witness of what was on the wire.

gateway_arp: the client pod's route points at a gateway nothing holds (the fault names it):
one finding, from the pod's address for that gateway, whose evidence tshark reads as ARP
requests for it, and no capture holds an ARP reply from it. stale_endpoint: worker-2's bridge
asks for the gone pod's address. Samples where every neighbour answers have none.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pcapkit.detect import arp_unanswered
from pcapkit.detect.config import DEFAULT
from tests.conftest import SAMPLES, needs_tshark
from tests.detect.samples import needs_sample, tables, truth


def _captures(name: str) -> list[Path]:
    return sorted(p for p in (SAMPLES / name).iterdir() if p.suffix in {".pcap", ".pcapng"})


def _tshark(path: Path, display: str) -> dict[int, str]:
    """Frame → ARP target address of the frames matching `display`."""
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-Y", display, "-T", "fields",
                          "-e", "frame.number", "-e", "arp.dst.proto_ipv4"],
                         capture_output=True, text=True, check=True).stdout
    return {int(n): t for n, t in (line.split("\t") for line in out.splitlines())}


@needs_tshark()
@needs_sample("gateway_arp")
def test_the_pods_requests_for_a_gateway_nothing_holds() -> None:
    (fault,) = [t for t in truth("gateway_arp") if t["kind"] == "fault"]
    (ping,) = [t for t in truth("gateway_arp") if t["kind"] == "ping"]
    gateway = fault["rules"][0].split(" via ")[1].split()[0]
    findings = arp_unanswered.detect(tables("gateway_arp"), DEFAULT)
    assert findings.height == 1
    row = findings.row(0, named=True)
    assert (row["client_ip"], row["server_ip"], row["protocol"]) == (ping["client"], gateway,
                                                                       "arp")
    assert row["severity"] == "error" and row["count"] >= DEFAULT.neighbour_unanswered_min
    captures = _captures("gateway_arp")
    for i, path in enumerate(captures):
        cited = {e["frame"] for e in row["evidence"] if e["capture"] == i}
        requests = _tshark(path, f"arp.opcode == 1 && arp.dst.proto_ipv4 == {gateway}")
        assert cited <= set(requests), path
        assert not _tshark(path, f"arp.opcode == 2 && arp.src.proto_ipv4 == {gateway}"), path
    pod = next(i for i, p in enumerate(captures) if p.name.startswith("pod-"))
    assert any(e["capture"] == pod for e in row["evidence"])


@needs_sample("stale_endpoint")
def test_the_nodes_bridge_asks_for_the_gone_endpoint() -> None:
    (fault,) = [t for t in truth("stale_endpoint") if t["kind"] == "fault"]
    endpoint = fault["where"].split()[1].rsplit(":", 1)[0]
    findings = arp_unanswered.detect(tables("stale_endpoint"), DEFAULT)
    assert findings["server_ip"].to_list() == [endpoint]


@pytest.mark.parametrize("name", ["healthy", "hairpin", "nxdomain_storm"])
def test_none_where_every_neighbour_answers(name: str) -> None:
    if not (SAMPLES / name / "truth.jsonl").exists():
        pytest.skip(f"lab sample {name} not recorded")
    probes = tables(name).probes
    assert not probes.filter(probes["probe"] == "arp").is_empty()  # there were ARP requests
    assert arp_unanswered.detect(tables(name), DEFAULT).is_empty()

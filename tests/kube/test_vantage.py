"""Each lab capture's vantage, read from its packets, against where the lab took it (the file
name the lab gave it: `pod-NAME`, `node-NAME-any`, `node-NAME-any-v1`, `node-NAME-eth0`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcapkit.decode import decode
from pcapkit.kube import load_snapshot, vantage_of
from pcapkit.read import read_capture
from tests.conftest import SAMPLES
from tests.lab.captures import tshark

CAPTURES = sorted(p for p in SAMPLES.glob("*/*.pcap") if (p.parent / "snapshot.json").exists())


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_vantage_matches_where_the_lab_captured(path: Path) -> None:
    cap = read_capture(path)
    snap = load_snapshot([path.parent / "snapshot.json"])
    v = vantage_of(decode(cap), cap.link_types, snap)
    stem = path.stem
    packets = decode(cap)
    if packets.filter(packets["src"].str.starts_with("10.") | packets["src"].str.starts_with("172.")
                      ).is_empty():
        # Only IPv6 link-local chatter (a node the scenario's traffic never crossed): nothing in
        # the packets names a node, and pcapkit must not pretend it does.
        assert v.name is None
        return
    if stem.startswith("pod-"):
        pod = stem.removeprefix("pod-")
        ns = snap.pods.filter(snap.pods["name"] == pod)["namespace"][0]
        assert (v.kind, v.name) == ("pod", f"pod {ns}/{pod}")
    elif stem.endswith(("-any", "-any-v1")):
        node = stem.removeprefix("node-").removesuffix("-v1").removesuffix("-any")
        assert (v.kind, v.name) == ("node-any", f"node {node}")
    elif stem.endswith("-eth0"):
        node = stem.removeprefix("node-").removesuffix("-eth0")
        assert v.kind == "node-underlay"
        # Only the tunnel between two nodes captured: both are in every packet alike, and
        # both are named. Any packet between its node and an address no node holds (a
        # NodePort client, a pod masqueraded to the world) is its NIC's alone.
        own = _own_traffic(path, snap.nodes["ip"].to_list())
        assert v.name == (f"node {node}" if own else "node worker-1 or node worker-2")
    else:
        pytest.fail(f"unexpected sample name {path.name}")


def _own_traffic(path: Path, nodes: list[str]) -> bool:
    """tshark's reading: some packet's outermost IP header has one node's address and one of an
    address no node holds (the outermost: tshark lists a VXLAN datagram's underlay addresses
    first)."""
    port = 4789 if path.parent.name == "vxlan_4789" else 8472
    rows = tshark(path, "ip", "ip.src", "ip.dst", vxlan_port=port)
    ends = [(src.split(",")[0], dst.split(",")[0]) for src, dst in rows]
    return any((a in nodes) != (b in nodes) for a, b in ends)

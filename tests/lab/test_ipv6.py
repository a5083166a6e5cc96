"""Node captures with no IPv4 traffic (the lab's `ipv6_underlay`, recorded afresh as root): the
external host dials worker-1's IPv6 InternalIP and the node refuses. tshark confirms the premise
(no IPv4 packet on the captures but multicast group reports); the truth says who dialled whom.
Each of worker-1's captures is placed on worker-1 and covers it; worker-2's, which saw nothing
addressed to one host, name no node, unless its bridge sent a multicast report from its own
address while the capture ran (kernel timing), which places it on worker-2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pcapkit.api import analyze
from samples.lab import truth
from tests.lab.captures import tshark
from tests.lab.needs import LAB, recorded

pytestmark = LAB


@pytest.fixture(scope="module")
def ipv6(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(["ipv6_underlay"], tmp_path_factory.mktemp("lab"))


def _document(folder: Path) -> dict[str, Any]:
    captures = sorted(folder.glob("*.pcap"))
    return analyze(captures, [folder / "snapshot.json"]).to_dict()


def _node_ips(folder: Path) -> dict[str, list[str]]:
    """Node name → its InternalIPs, read from the snapshot file itself."""
    doc = json.loads((folder / "snapshot.json").read_text())
    return {o["metadata"]["name"]: [a["address"] for a in o["status"]["addresses"]
                                    if a["type"] == "InternalIP"]
            for o in doc["items"] if o["kind"] == "Node"}


def _pod_cidrs(folder: Path) -> dict[str, str]:
    """Node name → its pod network, read from the snapshot file itself."""
    doc = json.loads((folder / "snapshot.json").read_text())
    return {o["metadata"]["name"]: o["spec"]["podCIDR"] for o in doc["items"]
            if o["kind"] == "Node"}


def test_ipv6_only_node_captures_are_placed(ipv6: Path) -> None:
    nodes = _node_ips(ipv6)
    dialled = {t["resolved"].rpartition(":")[0].strip("[]") for t in truth.load(ipv6)
               if t["kind"] == "attempt"}
    (node,) = [n for n, ips in nodes.items() if dialled & set(ips)]
    by_name = {Path(c["path"]).name: c for c in _document(ipv6)["captures"]}
    for name, c in by_name.items():
        owner = name.removeprefix("node-").rsplit("-", 1)[0].removesuffix("-any")
        # No IPv4 packet but the kernel's multicast group reports (IGMP from an interface
        # coming up while tcpdump ran).
        assert tshark(ipv6 / name, "ip && !(ip.dst == 224.0.0.0/4)") == []
        unicast = tshark(ipv6 / name, "ipv6 && !(ipv6.dst == ff00::/8)", "ipv6.dst")
        if owner == node:
            assert {d for (d,) in unicast} & set(nodes[node])
            assert c["vantage"] == f"node {node}", name
            assert c["vantage_kind"] == ("host" if name.endswith("-eth0.pcap") else "node-any")
        else:
            assert unicast == []
            # Only a report the node's bridge sent from its address (the gateway of the node's
            # pod network, when the bridge had it by the time it joined) says whose it is.
            own = tshark(ipv6 / name, f"ip.src == {_pod_cidrs(ipv6)[owner]}")
            assert c["vantage"] == (f"node {owner}" if own else None), name


def test_ipv6_refusals_are_on_the_node_dialled(ipv6: Path) -> None:
    attempts = {t["client"]: t for t in truth.load(ipv6) if t["kind"] == "attempt"}
    assert {t["outcome"] for t in attempts.values()} == {"refused"}
    nodes = _node_ips(ipv6)
    refused = [s for s in _document(ipv6)["symptoms"] if s["kind"] == "rst"]
    assert {s["client"] for s in refused} == set(attempts)
    for s in refused:
        server = attempts[s["client"]]["resolved"]
        assert s["server"] == server
        (node,) = [n for n, ips in nodes.items() if server.rpartition(":")[0].strip("[]") in ips]
        assert s["path"] and {p["node"] for p in s["path"]} == {node}

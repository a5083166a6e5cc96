"""Captures taken off the cluster's nodes (the lab's `outside_captures`, recorded afresh as root
beside a scenario): the external host's eth0, and the underlay bridge, as a switch port mirroring
every node's. Judged by the lab's truth (who the external client was, where the fault was put)
and tshark's reading of the captures, never by pcapkit's own output:

- the external host's capture is placed as that host, by its address, first in the path of the
  NodePort and LoadBalancer conversations it started;
- where such a conversation died is still the node the lab's fault names;
- the mirror port, which carries the tunnel between the nodes and their traffic with the
  external host, is pinned to no node, while each node's own NIC is pinned to its node.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from pcapkit.api import analyze
from samples.lab import truth
from tests.lab.captures import tshark
from tests.lab.needs import LAB, recorded

pytestmark = LAB
EXTERNAL = "external-eth0.pcap"
MIRROR = "underlay-br0.pcap"


def _record(scenario: str, root: Path) -> Path:
    return recorded([scenario, "outside_captures"], root)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _record("external_traffic_local", tmp_path_factory.mktemp("lab"))


@pytest.fixture(scope="module")
def nodeport(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _record("nodeport", tmp_path_factory.mktemp("lab"))


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _record("healthy", tmp_path_factory.mktemp("lab"))


def _document(folder: Path) -> dict[str, Any]:
    captures = sorted(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng"})
    return analyze(captures, [folder / "snapshot.json"]).to_dict()


def _external_attempts(folder: Path) -> dict[str, dict[str, Any]]:
    """The truth's attempts of the client outside the cluster, by its `ip:port`."""
    return {t["client"]: t for t in truth.load(folder)
            if t["kind"] == "attempt" and t["client_pod"] is None}


@pytest.mark.parametrize("name", ["local", "nodeport"])
def test_external_client_capture_comes_first(name: str,
                                             request: pytest.FixtureRequest) -> None:
    folder: Path = request.getfixturevalue(name)
    attempts = _external_attempts(folder)
    (host,) = {c.rsplit(":", 1)[0] for c in attempts}
    doc = _document(folder)
    by_name = {Path(c["path"]).name: c for c in doc["captures"]}
    assert (by_name[EXTERNAL]["vantage_kind"], by_name[EXTERNAL]["vantage"]) == ("external", host)
    assert by_name[EXTERNAL]["clock_offset_s"] is not None
    started = [s for s in doc["symptoms"] if s["client"] in attempts and "path" in s]
    assert started, "no symptom of the external client's conversations"
    for s in started:
        # The places before the cluster's: the host's own capture, and any that shows nothing
        # but that host's traffic (the mirror port of a run where only it talks to the nodes).
        lead = list(itertools.takewhile(lambda p: p["place"] == "external", s["path"]))
        assert EXTERNAL in {Path(p["capture"]).name for p in lead}, s["client"]
        assert all(p["label"] == f"external host {host}" and p["c2s"] for p in lead)
        assert all(p["place"] != "external" for p in s["path"][len(lead):])


def test_external_client_capture_keeps_where_it_died(local: Path) -> None:
    """With the external host's capture added, the SYNs that node's kube-proxy dropped still
    died on the node the lab's fault names, after the last place there that saw them."""
    fault = next(t for t in truth.load(local)
                 if t["kind"] == "fault" and t["fault"] == "external_traffic_local")
    node = fault["where"].split(",")[0].removeprefix("node ")
    failed = {c for c, t in _external_attempts(local).items() if t["outcome"] == "timeout"}
    died = [s for s in _document(local)["symptoms"]
            if s["client"] in failed and s["kind"] == "unanswered_syn"]
    assert {s["client"] for s in died} == failed
    for s in died:
        assert (s["died_at"]["node"], s["died_at"]["direction"]) == (node, "c2s")
        assert s["died_at"]["after"].startswith(f"node {node} ")


def _node_ips(folder: Path) -> dict[str, str]:
    """Node address → name, read from the snapshot file itself."""
    doc = json.loads((folder / "snapshot.json").read_text())
    return {a["address"]: o["metadata"]["name"] for o in doc["items"] if o["kind"] == "Node"
            for a in o["status"]["addresses"] if a["type"] == "InternalIP"}


def _outermost(path: Path) -> list[tuple[str, str]]:
    """tshark: each IP packet's outermost addresses (a VXLAN datagram's underlay ones)."""
    return [(src.split(",")[0], dst.split(",")[0])
            for src, dst in tshark(path, "ip", "ip.src", "ip.dst")]


def test_mirror_port_is_pinned_to_no_node(healthy: Path) -> None:
    """The bridge carries every node's traffic: tshark shows no node's address in all of its
    packets, and pcapkit names both nodes, none pinned, and places it on no node; each node's
    own NIC, which tshark shows talking to the external host, is pinned to that node."""
    nodes = _node_ips(healthy)
    ends = [e for e in _outermost(healthy / MIRROR) if set(e) & set(nodes)]
    assert all(any(ip not in pair for pair in ends) for ip in nodes)  # the oracle's premise
    doc = _document(healthy)
    by_name = {Path(c["path"]).name: c for c in doc["captures"]}
    mirror = by_name[MIRROR]
    assert mirror["vantage_kind"] == "node-underlay"
    assert sorted(mirror["vantage"].split(" or ")) == sorted(f"node {n}" for n in nodes.values())
    assert mirror["clock_offset_s"] is not None
    for ip, node in nodes.items():
        own = _outermost(healthy / f"node-{node}-eth0.pcap")
        assert any(ip in pair and not (set(pair) - {ip}) <= set(nodes) for pair in own)
        assert by_name[f"node-{node}-eth0.pcap"]["vantage"] == f"node {node}"

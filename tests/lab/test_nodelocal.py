"""The lab's `nodelocal_upstream_down` variant, recorded afresh (root only): NodeLocal DNSCache
on worker-1 cannot reach kube-dns, because worker-2 drops TCP 53 to the CoreDNS pod. Judged by
the run's truth, the snapshot it wrote and tshark's reading of the captures:

- exactly the injected symptom kinds, and no finding for the cache's own connections;
- one finding for the pod's lookup, saying where it died: the CoreDNS pod the fault names, the
  node the client pod (and so its node-local cache) runs on;
- its evidence holds both legs: every SERVFAIL the pod got, and the first SYN of each of the
  cache's connections to the CoreDNS pod, none of which any capture shows answered;
- where it died follows the cache's upstream leg to the node the lab's fault was put on, and
  without that node's captures it is not guessed: the explanation asks for them;
- the streaming engine gives the same document.
"""

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
NAME = "nodelocal_upstream_down"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded([NAME], tmp_path_factory.mktemp("lab"))


def _document(folder: Path, **streaming: Any) -> dict[str, Any]:
    captures = sorted(folder.glob("*.pcap"))
    return dict(analyze(captures, [folder / "snapshot.json"], **streaming).to_dict())


def _frames(symptom: dict[str, Any], capture: Path) -> set[int]:
    return {f for e in symptom["evidence"] if Path(e["capture"]).name == capture.name
            for f in e["frames"]}


def _node_of(folder: Path, ip: str) -> str:
    doc = json.loads((folder / "snapshot.json").read_text())
    (pod,) = [i for i in doc["items"] if i["kind"] == "Pod" and i["status"].get("podIP") == ip]
    return str(pod["spec"]["nodeName"])


def test_one_finding_for_the_lookup_naming_where_it_died(run: Path) -> None:
    lines = truth.load(run)
    (fault,) = [t for t in lines if t["kind"] == "fault"]
    (lookup,) = [t for t in lines if t["kind"] == "lookup"]
    assert lookup["outcome"] == "timeout"  # glibc: EAI_AGAIN, every name SERVFAIL
    symptoms = _document(run)["symptoms"]
    assert {s["kind"] for s in symptoms} == set(fault["symptoms"])
    (finding,) = symptoms
    assert finding["client"] == lookup["client"]
    assert finding["lookups"] == 1
    coredns = fault["where"].split(", ")[1]  # "pod kube-system/coredns-…"
    assert f"({coredns}, endpoint of Service kube-system/kube-dns)" in finding["upstream"]
    node = f"node {_node_of(run, lookup['client'])}"
    assert finding["cache_node"] == node and node in finding["explanation"]
    assert set(finding["upstream_outcomes"]) == {"no SYN-ACK"}


def test_the_evidence_holds_both_legs(run: Path) -> None:
    (finding,) = _document(run)["symptoms"]
    (pod,) = run.glob("pod-*.pcap")
    servfails = tshark(pod, "dns.flags.response==1 && dns.flags.rcode==2")
    assert servfails and {int(f) for (f,) in servfails} <= _frames(finding, pod)
    # a transaction per name and type (A, AAAA), each SERVFAIL; glibc asks each twice
    assert finding["count"] == len(finding["names"]) * 2 <= len(servfails)
    node = run / f"node-{finding['cache_node'].removeprefix('node ')}-any.pcap"
    upstream = finding["upstream"].split()[0].rpartition(":")[0]
    syns = tshark(node, f"!vxlan && ip.dst=={upstream} && tcp.dstport==53 && tcp.flags.syn==1 && "
                  "tcp.flags.ack==0", "frame.number", "ip.src", "tcp.srcport", "tcp.seq_raw")
    first: dict[str, int] = {}
    for frame, ip, port, _ in syns:
        first.setdefault(f"{ip}:{port}", int(frame))
    assert sorted(first) == sorted(finding["upstream_sockets"])
    assert set(first.values()) <= _frames(finding, node)
    # Each attempt is a failed leg: the cache's kernel can take a port again for a new SYN (a
    # new ISN), a new connection on the same socket, as Zeek and Wireshark count them.
    attempts = {(ip, port, isn) for _, ip, port, isn in syns}
    assert finding["upstream_failed"] == len(attempts)
    for capture in run.glob("*.pcap"):  # nothing ever answered the cache
        assert not tshark(capture, f"ip.src=={upstream} && tcp.srcport==53")


def _injected(folder: Path) -> tuple[str, str]:
    """(node, direction) where the lab's fault stops the cache's upstream connections: the node
    its rule was put on; the requests (`c2s`) unless the rule matches the answers' source
    port."""
    (fault,) = [t for t in truth.load(folder) if t["kind"] == "fault"]
    (node,) = {r.split(":", 1)[0] for r in fault["rules"]}
    return node, "s2c" if any("--sport" in r for r in fault["rules"]) else "c2s"


def test_died_at_follows_the_upstream_leg_to_the_injected_fault(run: Path) -> None:
    node, direction = _injected(run)
    (finding,) = _document(run)["symptoms"]
    died = finding["died_at"]
    assert (died["node"], died["direction"], died["leg"]) == (node, direction, "upstream")
    # a FORWARD rule drops what the node received: the last place that saw it is that node's
    assert died["after"].startswith(f"node {node} ") and died["after"] != died["before"]
    assert f"dropped on node {node}" in finding["explanation"]
    path = finding["path"]
    assert all(p["leg"] == "upstream" and p["c2s"] and not p["s2c"] for p in path)
    # the path is every capture tshark finds the cache's SYNs in, and no other
    upstream = finding["upstream"].split()[0].rpartition(":")[0]
    saw = {c.name for c in run.glob("*.pcap") if tshark(
        c, f"ip.dst=={upstream} && tcp.dstport==53 && tcp.flags.syn==1 && tcp.flags.ack==0")}
    assert {Path(p["capture"]).name for p in path} == saw


def test_the_faulty_nodes_captures_are_its_own(run: Path) -> None:
    """The node the fault was put on only received the cache's SYNs and sent nothing back: its
    `-i any` captures are still placed on it (the lab's file names say where it took them), by
    where the tunnel packets it received were addressed."""
    node, _ = _injected(run)
    vantages = {Path(c["path"]).name: c["vantage"] for c in _document(run)["captures"]}
    for suffix in ("any", "any-v1"):
        assert vantages[f"node-{node}-{suffix}.pcap"] == f"node {node}"


@pytest.mark.parametrize("kept", ["node-{near}-any.pcap", "node-{near}-*.pcap"])
def test_without_the_faulty_nodes_captures_it_asks_for_them(run: Path, kept: str) -> None:
    """Only the cache's node captured (its `-i any` alone, or with its NIC): the SYNs left it,
    nothing shows where they went, and the explanation names the capture that would."""
    node, _ = _injected(run)
    (lookup,) = [t for t in truth.load(run) if t["kind"] == "lookup"]
    near = _node_of(run, lookup["client"])  # the client pod's, whose cache it asked
    assert near != node
    captures = sorted(run.glob(kept.format(near=near)))
    (finding,) = analyze(captures, [run / "snapshot.json"]).to_dict()["symptoms"]
    assert finding["cache_node"] == f"node {near}"
    assert finding["died_at"]["node"] is None
    assert finding["died_at"]["capture_to_take"]["node"] == node
    assert f"on node {node}: `tcpdump -i any" in finding["explanation"]


@pytest.mark.parametrize(("chunk", "shards"), [(7, 3), (1, 5)])
def test_streamed_equals_in_memory(run: Path, chunk: int, shards: int) -> None:
    whole = json.dumps(_document(run), sort_keys=True)
    streamed = _document(run, workers=1, chunk_records=chunk, shards=shards)
    assert json.dumps(streamed, sort_keys=True) == whole

"""The lab's `nodelocal_upstream_down` variant, recorded afresh (root only): NodeLocal DNSCache
on worker-1 cannot reach kube-dns, because worker-2 drops TCP 53 to the CoreDNS pod. Judged by
the run's truth, the snapshot it wrote and tshark's reading of the captures:

- exactly the injected symptom kinds, and no finding for the cache's own connections;
- one finding for the pod's lookup, saying where it died: the CoreDNS pod the fault names, the
  node the client pod (and so its node-local cache) runs on;
- its evidence holds both legs: every SERVFAIL the pod got, and the first SYN of each of the
  cache's connections to the CoreDNS pod, none of which any capture shows answered;
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
                  "tcp.flags.ack==0", "frame.number", "ip.src", "tcp.srcport")
    first: dict[str, int] = {}
    for frame, ip, port in syns:
        first.setdefault(f"{ip}:{port}", int(frame))
    assert sorted(first) == sorted(finding["upstream_sockets"])
    assert set(first.values()) <= _frames(finding, node)
    assert finding["upstream_failed"] == len(first)
    for capture in run.glob("*.pcap"):  # nothing ever answered the cache
        assert not tshark(capture, f"ip.src=={upstream} && tcp.srcport==53")


@pytest.mark.parametrize(("chunk", "shards"), [(7, 3), (1, 5)])
def test_streamed_equals_in_memory(run: Path, chunk: int, shards: int) -> None:
    whole = json.dumps(_document(run), sort_keys=True)
    streamed = _document(run, workers=1, chunk_records=chunk, shards=shards)
    assert json.dumps(streamed, sort_keys=True) == whole

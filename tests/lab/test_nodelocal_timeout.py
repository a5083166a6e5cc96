"""The lab's `nodelocal_pod_timeout` variant, recorded afresh (root only): NodeLocal DNSCache on
worker-1 cannot reach kube-dns (worker-2 drops TCP 53 to the CoreDNS pod), and the client pod's
resolver (`options timeout:1 attempts:1`) stops waiting before the cache answers SERVFAIL. The
late SERVFAILs find the client's sockets closed, and its host refuses them (ICMP port
unreachable). Judged by the run's truth, the snapshot it wrote and tshark's reading:

- one finding, the injected kind: the pod's lookup timed out, and `died_at` is on the node the
  fault was put on, along the cache's upstream leg; the late SERVFAILs are no `dns_error` (the
  pod never read them) and their refusals no `icmp_unreachable`
  (pcapkit/detect/late_answers.py);
- the refusals tshark sees on the pod are counted and cited in the finding;
- the streaming engine gives the same document.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samples.lab import truth
from tests.lab.captures import tshark
from tests.lab.needs import LAB, recorded
from tests.lab.test_nodelocal import _document, _frames, _node_of

pytestmark = LAB
NAME = "nodelocal_pod_timeout"
#: the pod's host refusing a DNS answer: port unreachable quoting UDP from port 53
REFUSAL = "icmp.type==3 && icmp.code==3 && udp.srcport==53"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded([NAME], tmp_path_factory.mktemp("lab"))


def test_the_pods_lookup_timed_out_upstream_of_the_cache(run: Path) -> None:
    lines = truth.load(run)
    (fault,) = [t for t in lines if t["kind"] == "fault"]
    (lookup,) = [t for t in lines if t["kind"] == "lookup"]
    assert lookup["outcome"] == "timeout"
    (pod,) = run.glob("pod-*.pcap")
    refusals = tshark(pod, REFUSAL)
    assert refusals  # the premise: late answers reached the pod and were refused
    symptoms = _document(run)["symptoms"]
    assert [s["kind"] for s in symptoms] == list(fault["symptoms"]) == ["dns_timeout"]
    (finding,) = symptoms
    assert finding["client"].rpartition(":")[0] == lookup["client"]
    coredns = fault["where"].split(", ")[1]  # "pod kube-system/coredns-…"
    assert f"({coredns}, endpoint of Service kube-system/kube-dns)" in finding["upstream"]
    assert finding["cache_node"] == f"node {_node_of(run, lookup['client'])}"
    assert set(finding["upstream_outcomes"]) == {"no SYN-ACK"}
    # where it died: on the node the fault was put on, along the cache's upstream leg
    assert fault["where"].startswith(f"node {finding['died_at']['node']},")
    assert finding["died_at"]["leg"] == "upstream"
    assert finding["answers_refused"] >= 1
    assert {int(f) for (f,) in refusals} <= _frames(finding, pod)
    # every query the pod sent, as tshark reads them, is one the finding counts unanswered
    queries = tshark(pod, "dns.flags.response==0", "dns.id", "dns.qry.name", "dns.qry.type")
    assert finding["unanswered"] == len({tuple(q) for q in queries})


@pytest.mark.parametrize(("chunk", "shards"), [(7, 3), (1, 5)])
def test_streamed_equals_in_memory(run: Path, chunk: int, shards: int) -> None:
    whole = json.dumps(_document(run), sort_keys=True)
    streamed = _document(run, workers=1, chunk_records=chunk, shards=shards)
    assert json.dumps(streamed, sort_keys=True) == whole

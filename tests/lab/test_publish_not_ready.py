"""The lab's `publish_not_ready` variant, recorded afresh (root only): headless Service
default/peers sets `publishNotReadyAddresses`, so the DNS answers its not-ready pod too, and the
client's connections to that pod are refused. Judged by the run's truth, its snapshot and
tshark's reading of the DNS answers:

- exactly the injected symptom kinds: the refusals, and no readiness symptom against the
  Service (`headless_not_ready`, `endpoints_not_ready`);
- each refused connection named with the Service, the pod it reached, `published-not-ready`,
  and the sentence saying the Service publishes not-ready addresses;
- the same captures with a snapshot of the Service without the setting read as before: a
  not-ready endpoint, no such sentence;
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
NAME = "publish_not_ready"
SAYS = "publishes not-ready addresses"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded([NAME], tmp_path_factory.mktemp("lab"))


def _document(folder: Path, snapshot: Path | None = None, **streaming: Any) -> dict[str, Any]:
    captures = sorted(folder.glob("*.pcap"))
    return dict(analyze(captures, [snapshot or folder / "snapshot.json"], **streaming).to_dict())


def _pods(folder: Path) -> dict[str, tuple[str, bool]]:
    """pod IP → (`pod NS/NAME`, ready), from the snapshot's Ready condition."""
    doc = json.loads((folder / "snapshot.json").read_text())
    return {p["status"]["podIP"]: (f"pod {p['metadata']['namespace']}/{p['metadata']['name']}",
                                   any(c["type"] == "Ready" and c["status"] == "True"
                                       for c in p["status"]["conditions"]))
            for p in doc["items"] if p["kind"] == "Pod"}


def test_refusals_at_a_published_pod_say_the_service_sent_them(run: Path) -> None:
    lines = truth.load(run)
    (fault,) = [t for t in lines if t["kind"] == "fault"]
    symptoms = _document(run)["symptoms"]
    assert {s["kind"] for s in symptoms} == set(fault["symptoms"])
    pods = _pods(run)
    refused = [t for t in lines if t["kind"] == "attempt" and t["outcome"] == "refused"]
    assert refused
    for attempt in refused:
        (s,) = [s for s in symptoms if s["client"] == attempt["client"]]
        ip = attempt["resolved"].rpartition(":")[0]
        pod, ready = pods[ip]
        assert not ready  # the lab's truth: the pod the DNS sent the client to is not ready
        k8s = s["k8s"]
        assert k8s["service"] == attempt["service"] and k8s["endpoint"] == attempt["resolved"]
        assert k8s["endpoint_target"] == pod
        assert k8s["endpoint_state"] == "published-not-ready" and k8s["publish_not_ready"]
        assert SAYS in s["explanation"] and "going away" not in s["explanation"]
    assert not any("endpoints_not_ready" in s.get("k8s", {}) for s in symptoms)


def test_the_dns_answered_the_pod_that_is_not_ready(run: Path) -> None:
    (pod,) = run.glob("pod-*.pcap")
    answered = {a for (a,) in tshark(pod, 'dns.qry.name=="peers.default.svc.cluster.local" '
                                          "&& dns.a", "dns.a")
                for a in a.split(",")}
    assert {ip for ip, (_, ready) in _pods(run).items() if not ready} & answered


def test_without_the_setting_the_pod_is_a_not_ready_endpoint(run: Path, tmp_path: Path) -> None:
    doc = json.loads((run / "snapshot.json").read_text())
    for item in doc["items"]:
        if item["kind"] == "Service":
            item["spec"].pop("publishNotReadyAddresses", None)
        if item["kind"] == "EndpointSlice":  # as the controller writes it without the setting
            for endpoint in item["endpoints"] or ():
                endpoint["conditions"]["ready"] = endpoint["conditions"]["serving"]
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps(doc))
    symptoms = _document(run, snapshot)["symptoms"]
    refusals = [s for s in symptoms if s["kind"] == "rst"]
    assert refusals
    for s in refusals:
        assert s["k8s"]["endpoint_state"] == "not-ready" and "publish_not_ready" not in s["k8s"]
        assert SAYS not in s["explanation"]


@pytest.mark.parametrize(("chunk", "shards"), [(7, 3), (1, 5)])
def test_streamed_equals_in_memory(run: Path, chunk: int, shards: int) -> None:
    whole = json.dumps(_document(run), sort_keys=True)
    streamed = _document(run, workers=1, chunk_records=chunk, shards=shards)
    assert json.dumps(streamed, sort_keys=True) == whole

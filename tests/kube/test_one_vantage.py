"""Each lab capture analysed alone (a pod's eth0, a node's `-i any`, a node's underlay eth0) with
the snapshot: every injected fault that capture saw is still found, names the Service the truth
says the client called, and names the endpoint exactly when that vantage can know it.

What the vantage can know is read with tshark, not with pcapkit: the destinations of the
client's SYN in that capture (VXLAN decoded). When one of them is an endpoint (the inner
destination on an underlay, the post-DNAT leg on a node) it is the endpoint; when the capture
shows only the ClusterIP, the snapshot settles it if the Service port has one endpoint kube-proxy
would use, and otherwise every endpoint is a candidate, with its state (none when kube-proxy
would use none: it rejects).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pcapkit.api import analyze
from pcapkit.detect.config import Config
from samples.lab import truth
from samples.lab.scenarios import SCENARIOS
from tests.conftest import REPO, SAMPLES
from tests.lab.captures import tshark

Doc = dict[str, Any]
SCHEMA = json.loads((REPO / "docs" / "report.schema.json").read_text())
ALONE = [p for name in sorted(SCENARIOS) for p in sorted((SAMPLES / name).glob("*.pcap"))]


@cache
def _together(name: str) -> Doc:
    folder = SAMPLES / name
    return analyze(sorted(folder.glob("*.pcap")), [folder / "snapshot.json"]).to_dict()


def _state(conditions: dict[str, bool]) -> str:
    if conditions.get("terminating"):
        return "terminating"
    ready = conditions.get("ready", True)
    if ready:  # serving defaults to ready; ready alone: a pod published though not ready
        return "ready" if conditions.get("serving", ready) else "published-not-ready"
    return "serving-not-ready" if conditions.get("serving") else "not-ready"


def endpoints(snapshot: Doc, service: str) -> list[tuple[str, str, dict[str, bool]]]:
    """(ip:port, state, conditions) of every endpoint of `service` (`NS/NAME`) in the snapshot
    (the lab's Services have one port each but kube-dns, whose two ports share a number)."""
    ns, name = service.split("/")
    found = []
    for item in snapshot["items"]:
        labels = item["metadata"].get("labels") or {}
        if item["kind"] != "EndpointSlice" or item["metadata"]["namespace"] != ns \
                or labels.get("kubernetes.io/service-name") != name:
            continue
        for port in {p["port"] for p in item["ports"] or []}:
            for ep in item["endpoints"] or []:
                for ip in ep["addresses"]:
                    found.append((f"{ip}:{port}", _state(ep["conditions"]), ep["conditions"]))
    return sorted(found)


def proxied(eps: list[tuple[str, str, dict[str, bool]]]) -> list[str]:
    """The endpoints kube-proxy sends new connections to: ready ones, else serving ones."""
    ready = [a for a, _, c in eps if c.get("ready", True)]
    return ready or [a for a, _, c in eps if c.get("serving")]


def syn_destinations(capture: Path, client: str, vxlan_port: int) -> set[str]:
    """ip:port every SYN of `client` (ip:port) went to in `capture`: the inner headers."""
    ip, _, port = client.rpartition(":")
    rows = tshark(capture, f"tcp.srcport=={port} && tcp.flags.syn==1 && tcp.flags.ack==0",
                  "ip.src", "ip.dst", "tcp.dstport", vxlan_port=vxlan_port)
    return {f"{dst.split(',')[-1]}:{dport}" for src, dst, dport in rows
            if src.split(",")[-1] == ip}


def expected_endpoint(snapshot: Doc, service: str, seen: set[str]) -> tuple[str | None,
                                                                             list[str] | None]:
    """(endpoint, candidates) as this vantage can know them."""
    eps = endpoints(snapshot, service)
    shown = sorted(seen & {a for a, _, _ in eps})
    if shown:
        return shown[0], None
    chosen = proxied(eps)
    if len(chosen) == 1:
        return chosen[0], None
    if not chosen:  # none ready nor serving: kube-proxy rejects, it chose none of them
        return None, None
    return None, sorted(f"{a} ({s})" for a, s, _ in eps)


def _ends_before_waited(alone: Doc, symptom: Doc) -> bool:
    """Whether the capture analysed alone ends sooner after the symptom's last query than
    dns_timeout waits for an answer."""
    (capture,) = alone["captures"]
    return capture["last_ts"] - symptom["last_ts"] < Config().dns_timeout_min_wait_s


@pytest.mark.parametrize("capture", ALONE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_one_capture_alone_finds_and_names_what_it_can(capture: Path) -> None:
    folder = capture.parent
    lines = truth.load(folder)
    snapshot = json.loads((folder / "snapshot.json").read_text())
    injected = {kind for t in lines if t["kind"] == "fault" for kind in t["symptoms"]}
    attempts = {t["client"]: t for t in lines if t["kind"] == "attempt"}
    alone = analyze([capture], [folder / "snapshot.json"]).to_dict()
    jsonschema.validate(alone, SCHEMA)
    found = {(s["kind"], s["client"]): s for s in alone["symptoms"]}
    vxlan_port = 4789 if folder.name == "vxlan_4789" else 8472
    checked = 0
    for s in _together(folder.name)["symptoms"]:
        if s["kind"] not in injected or capture.name not in {e["capture"].rpartition("/")[2]
                                                             for e in s["evidence"]}:
            continue  # a symptom this capture holds no evidence of is not its to find
        mine = found.get((s["kind"], s["client"]))
        if mine is None and s["kind"] == "dns_timeout" and _ends_before_waited(alone, s):
            continue  # this capture stopped before the query could be called unanswered
        attempt = attempts.get(s["client"])
        if mine is None and attempt and "external_client" in attempt and not tshark(
                capture, f"ip.src=={attempt['external_client'].rpartition(':')[0]}",
                vxlan_port=vxlan_port):
            # Only the leg after the node masqueraded it: the capture cannot know the outside
            # client, and names the connection by the node's address, with its Service.
            assert any(o["kind"] == s["kind"] and o.get("k8s", {}).get("service")
                       == attempt["service"] for o in alone["symptoms"]), capture.name
            continue
        if mine is None and s["kind"] == "icmp_echo_unanswered":
            # past the node's masquerade a wire shows the node's address, not the pod's
            mine = next((m for (kind, _), m in found.items()
                         if kind == s["kind"] and m["server"] == s["server"]), None)
        assert mine is not None, f"{s['kind']} of {s['client']} not found from {capture.name}"
        if attempt is None or not attempt["service"]:
            continue  # DNS symptoms: the truth names no Service for a lookup
        k8s = mine["k8s"]
        assert k8s["service"] == attempt["service"], mine
        seen = syn_destinations(capture, s["client"], vxlan_port)
        endpoint, candidates = expected_endpoint(snapshot, attempt["service"], seen)
        assert k8s.get("endpoint") == endpoint, (seen, mine)
        assert k8s.get("endpoint_candidates") == candidates, mine
        if endpoint is not None:
            state = dict((a, st) for a, st, _ in endpoints(snapshot, attempt["service"]))
            assert k8s["endpoint_state"] == state[endpoint], mine
        checked += 1
    if folder.name in {"policy_drop", "stale_endpoint", "not_listening"}:
        assert checked, f"{capture.name}: no failed connection checked"


def _second_blob_endpoint(snapshot: Doc) -> Doc:
    """The policy_drop snapshot with a second, not-ready blob endpoint and a second ready one."""
    doc = copy.deepcopy(snapshot)
    for item in doc["items"]:
        labels = item["metadata"].get("labels") or {}
        if item["kind"] == "EndpointSlice" and labels.get("kubernetes.io/service-name") == "blob":
            (ep,) = item["endpoints"]
            ready = copy.deepcopy(ep) | {"addresses": ["10.244.1.77"], "nodeName": "worker-1"}
            ready["targetRef"] = ep["targetRef"] | {"name": "blob-59c8d7f6b-a1b2c"}
            gone = copy.deepcopy(ready) | {"addresses": ["10.244.1.78"]}
            gone["conditions"] = {"ready": False, "serving": False, "terminating": False}
            item["endpoints"] += [ready, gone]
    return doc


def test_pod_capture_lists_candidates_when_the_service_has_several(tmp_path: Path) -> None:
    folder = SAMPLES / "policy_drop"
    snapshot = _second_blob_endpoint(json.loads((folder / "snapshot.json").read_text()))
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(snapshot))
    (pod,) = folder.glob("pod-*.pcap")
    failed = [t["client"] for t in truth.load(folder) if t["kind"] == "attempt"]
    doc = analyze([pod], [path]).to_dict()
    jsonschema.validate(doc, SCHEMA)
    symptoms = [s for s in doc["symptoms"] if s["kind"] == "unanswered_syn"]
    assert sorted(s["client"] for s in symptoms) == sorted(failed)
    want = sorted(f"{a} ({s})" for a, s, _ in endpoints(snapshot, "default/blob"))
    assert len(want) == 3
    for s in symptoms:
        assert "endpoint" not in s["k8s"] and s["k8s"]["endpoint_candidates"] == want
        assert "node worker-1 (`tcpdump -i any`)" in s["explanation"]
    # The node's `-i any` capture shows the DNAT: the candidates give way to the endpoint.
    both = analyze([pod, folder / "node-worker-1-any.pcap"], [path]).to_dict()["symptoms"]
    for s in (s for s in both if s["kind"] == "unanswered_syn"):
        assert s["k8s"]["endpoint"] == "10.244.2.20:9000" and "endpoint_candidates" not in s["k8s"]

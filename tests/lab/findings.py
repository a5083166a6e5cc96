"""What a lab run must make pcapkit find, judged by the run's truth and the cluster the lab built:
exactly the injected faults' symptom kinds, every failed connection named with one of them, no
failure on a connection that worked, and the Service and endpoint each symptom names are the ones
the client dialled and the lab gave that Service (and, for a NodePort, the node and port dialled
and the external client). Pings likewise: an unanswered ping is named, from its client's
address, by an echo or neighbour symptom (the pod's echo requests, or its ARP requests when they
could not leave), and an answered one is not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pcapkit.api import analyze
from pcapkit.detect import DETECTORS
from samples.lab import truth
from samples.lab.cluster import target_port
from samples.lab.scenarios import SCENARIOS, compose

FAILED = {"refused", "timeout", "error"}
#: symptoms a connection can show and still succeed: loss repaired by retransmission, a
#: frag-needed that path-MTU discovery recovered from, a receiver that stalled for a while
DEGRADED = {"retransmission", "icmp_unreachable", "zero_window"}
#: what names an unanswered ping: its echo requests, or the ARP requests that kept them in
PING_KINDS = {"icmp_echo_unanswered", "arp_unanswered"}


def findings(folder: Path) -> list[dict[str, Any]]:
    """The symptoms `analyze` reports on every capture of a recorded run."""
    captures = sorted(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng"})
    return list(analyze(captures, [folder / "snapshot.json"]).to_dict()["symptoms"])


def _endpoints(scenario: str) -> dict[str, set[str]]:
    """Each Service's endpoints (ip:targetPort) in the cluster the scenario built."""
    cluster = compose([SCENARIOS[scenario]])
    return {
        s.ref: {f"{p.ip}:{target_port(p, port)}" for port in s.ports for p in cluster.endpoints(s)}
        for s in cluster.services
    }


def assert_findings_match_truth(folder: Path, scenario: str) -> None:
    lines = truth.load(folder)
    symptoms = findings(folder)
    injected = {kind for t in lines if t["kind"] == "fault" for kind in t["symptoms"]}
    assert injected <= set(DETECTORS), "the lab injects a fault no detector looks for"
    assert {s["kind"] for s in symptoms} == injected
    attempts = {t["client"]: t for t in lines if t["kind"] == "attempt"}
    kinds: dict[str, set[str]] = {}
    for s in symptoms:
        if s.get("protocol") == "tcp":
            kinds.setdefault(s["client"], set()).add(s["kind"])
    assert set(kinds) <= set(attempts)
    for a in attempts.values():
        got = kinds.get(a["client"], set())
        if a["outcome"] in FAILED:  # every failed connection is named, with an injected kind
            assert got & injected, a
        else:  # a connection that worked shows at most how it was degraded, never a failure
            assert got <= injected & DEGRADED, a
    _assert_pings_named(lines, symptoms, injected)
    endpoints = _endpoints(scenario)
    for s in symptoms:
        attempt = attempts.get(s["client"])
        if attempt is None or attempt["service"] is None:
            continue
        k8s = s.get("k8s", {})
        assert k8s.get("service") == attempt["service"], (s, attempt)
        # A NodePort's connection is named by the node and port dialled and the outside client.
        assert k8s.get("node_port") == attempt.get("node_port"), (s, attempt)
        assert k8s.get("external_client") == attempt.get("external_client"), (s, attempt)
        only = endpoints[attempt["service"]]
        if len(only) == 1:
            assert k8s.get("endpoint") in only, (s, attempt)
        elif "endpoint" in k8s:
            assert k8s["endpoint"] in only, (s, attempt)


def _assert_pings_named(lines: list[dict[str, Any]], symptoms: list[dict[str, Any]],
                        injected: set[str]) -> None:
    named: dict[str, set[str]] = {}
    for s in symptoms:
        if s["kind"] in PING_KINDS:
            named.setdefault(s["client"], set()).add(s["kind"])
    for ping in (t for t in lines if t["kind"] == "ping"):
        got = named.get(ping["client"], set())
        if ping["outcome"] == "unanswered":
            assert got & injected, ping
        else:
            assert "icmp_echo_unanswered" not in got, ping

"""What a lab run must make pcapkit find, judged by the run's truth and the cluster the lab built:
exactly the injected faults' symptom kinds, every failed connection named with one of them, no
failure on a connection that worked, and the Service and endpoint each symptom names are the ones
the client dialled and the lab gave that Service (and, for a NodePort, the node and port dialled
and the external client). Pings likewise: an unanswered ping is named, from its client's
address, by an echo or neighbour symptom (the pod's echo requests, or its ARP requests when they
could not leave), and an answered one is not. A failed lookup of a headless or ExternalName
Service is named, on a DNS symptom, by that Service (an ExternalName with its target), and a
headless Service's answers by the pods the lab made ready; a symptom says a Service has no ready
endpoint, or that its targetPort is one the endpoint's pod does not declare, exactly when the lab
built it so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pcapkit.api import analyze
from pcapkit.detect import DETECTORS
from samples.lab import truth
from samples.lab.cluster import Cluster, target_port
from samples.lab.scenarios import SCENARIOS, VARIANTS, compose

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


def _endpoints(cluster: Cluster) -> dict[str, set[str]]:
    """Each Service's endpoints (ip:targetPort, an IPv6 address in brackets) in `cluster`."""
    return {
        s.ref: {f"[{p.ip}]:{target_port(p, port)}" if ":" in p.ip
                else f"{p.ip}:{target_port(p, port)}"
                for port in s.ports for p in cluster.endpoints(s)}
        for s in cluster.services
    }


def assert_findings_match_truth(folder: Path, scenario: str, variants: tuple[str, ...] = ()
                                ) -> None:
    """`variants` are the lab variants the run was recorded with besides `scenario`."""
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
    cluster = compose([SCENARIOS[scenario], *(VARIANTS[v] for v in variants)])
    _assert_dns_services_named(cluster, lines, symptoms)
    _assert_service_faults_said(cluster, symptoms)
    endpoints = _endpoints(cluster)
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


def _assert_dns_services_named(cluster: Cluster, lines: list[dict[str, Any]],
                               symptoms: list[dict[str, Any]]) -> None:
    dns = [s for s in symptoms if s["protocol"] == "dns"]
    for lookup in (t for t in lines if t["kind"] == "lookup"):
        namespace = lookup["client_pod"].split("/")[0]
        svc = next((s for s in cluster.services
                    if s.ref == f"{namespace}/{lookup['name']}"), None)
        if svc is None or not (svc.headless or svc.external_name):
            continue
        named = [s for s in dns if s["client"] == lookup["client"]
                 and s.get("k8s", {}).get("service") == svc.ref]
        pods = cluster.endpoints(svc)  # in IP order
        ready = [p for p in pods if p.ready and not p.terminating]
        if lookup["outcome"] == "nxdomain":
            assert named, lookup
        if svc.external_name:
            assert all(s["k8s"]["external_name"] == svc.external_name for s in named), named
        elif len(ready) < len(pods):  # a headless Service with pods left out
            assert named, lookup
            for s in named:
                assert s["answers"] == [f"{p.ip} (pod {p.ref})" for p in ready], s
                assert s["not_ready"] == [f"pod {p.ref} ({p.ip}, not-ready)" for p in pods
                                          if p not in ready], s
        else:
            assert not named, named


def _assert_service_faults_said(cluster: Cluster, symptoms: list[dict[str, Any]]) -> None:
    for s in symptoms:
        k8s = s.get("k8s", {})
        ref = k8s.get("service")
        svc = next((v for v in cluster.services if v.ref == ref), None)
        if svc is None or s["protocol"] == "dns":
            continue
        pods = cluster.endpoints(svc)
        none_ready = bool(pods) and not any(p.ready or p.terminating for p in pods)
        assert ("endpoints_not_ready" in k8s) == none_ready, s
        target = k8s.get("endpoint_target", "").removeprefix("pod ")
        pod = next((p for p in pods if p.ref == target), None)
        if pod is None:
            assert "port_mismatch" not in k8s, s
            continue
        declared = {c.port for c in pod.ports}
        undeclared = {target_port(pod, port) for port in svc.ports} - declared
        assert ("port_mismatch" in k8s) == bool(pod.ports and undeclared), s

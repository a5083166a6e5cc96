"""Faults that do not depend on the address family, recorded afresh (as root) in a single-stack
IPv6 cluster (the lab's `ipv6_pods`: IPv6 pods and ClusterIPs over the IPv4 underlay and VXLAN)
and held to the lab's truth as the IPv4 recordings are: the same symptom kinds as the committed
IPv4 sample of the scenario, each naming the client pod, the Service and the endpoint the client
reached, and its path and the place it died on the node the fault is on. tshark confirms the
premise: the client pod's capture holds no IPv4 packet, and what crosses the underlay is IPv6
inside VXLAN. The streamed engine gives the same document, and `pcapkit show` writes the
evidence frames' IPv6 addresses as `[v6]:port`, through tshark and dpkt alike."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import pcapkit
from pcapkit.wireshark.dpkt_show import show_frames_dpkt
from pcapkit.wireshark.show import show_frames
from samples.lab import truth
from tests.conftest import SAMPLES
from tests.lab.captures import tshark
from tests.lab.findings import assert_findings_match_truth, findings
from tests.lab.needs import LAB, recorded

pytestmark = LAB

#: a Service's endpoint that refuses, one whose pod is gone, a Service without endpoints
SCENARIOS = ("not_listening", "stale_endpoint", "no_endpoints")


@pytest.fixture(scope="module", params=SCENARIOS)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
        ) -> tuple[str, Path]:
    name = request.param
    return name, recorded([name, "ipv6_pods"], tmp_path_factory.mktemp("lab"))


def _snapshot(folder: Path, kind: str) -> list[dict[str, Any]]:
    doc = json.loads((folder / "snapshot.json").read_text())
    return [o for o in doc["items"] if o["kind"] == kind]


def _fault(folder: Path) -> dict[str, Any]:
    (fault,) = [t for t in truth.load(folder) if t["kind"] == "fault"]
    return fault


def _fault_node(folder: Path, client_pod: str) -> str:
    """The node the truth puts the fault on; a Service without endpoints is rejected by
    kube-proxy on every node, so by the client's own."""
    named = re.search(r"on node (\S+)", _fault(folder)["where"])
    if named:
        return named.group(1)
    (pod,) = [p for p in _snapshot(folder, "Pod")
              if f"{p['metadata']['namespace']}/{p['metadata']['name']}" == client_pod]
    return str(pod["spec"]["nodeName"])


def test_findings_match_the_truth(run: tuple[str, Path]) -> None:
    name, folder = run
    assert_findings_match_truth(folder, name, ("ipv6_pods",))


def test_same_symptom_kinds_as_over_ipv4(run: tuple[str, Path]) -> None:
    name, folder = run
    if not (SAMPLES / name).is_dir():
        pytest.skip(f"no IPv4 sample {name}")
    assert {s["kind"] for s in findings(folder)} == {s["kind"] for s in findings(SAMPLES / name)}


def test_the_cluster_is_ipv6(run: tuple[str, Path]) -> None:
    _, folder = run
    services = {s["metadata"]["name"]: s for s in _snapshot(folder, "Service")}
    for slice_ in _snapshot(folder, "EndpointSlice"):
        service = services[slice_["metadata"]["labels"]["kubernetes.io/service-name"]]
        assert service["spec"]["ipFamilies"] == ["IPv6"]
        assert slice_["addressType"] == "IPv6"
    assert all(":" in p["status"]["podIP"] for p in _snapshot(folder, "Pod"))


def test_symptoms_name_client_service_endpoint_and_node(run: tuple[str, Path]) -> None:
    _, folder = run
    attempts = {t["client"]: t for t in truth.load(folder) if t["kind"] == "attempt"}
    assert attempts and all(t["outcome"] != "ok" for t in attempts.values())
    where = _fault(folder)["where"]
    endpoint = where.split()[1] if where.startswith("endpoint ") else None
    tcp = [s for s in findings(folder) if s["protocol"] == "tcp"]
    assert {s["client"] for s in tcp} == set(attempts)
    for s in tcp:
        attempt = attempts[s["client"]]
        node = _fault_node(folder, attempt["client_pod"])
        assert s["server"] == attempt["resolved"]
        assert s["k8s"]["client"] == f"pod {attempt['client_pod']}"
        assert s["k8s"]["service"] == attempt["service"]
        assert s["k8s"].get("endpoint") == endpoint
        if s["kind"] == "rst":  # answered: the path reaches the endpoint's node, nothing died
            assert s.get("died_at") is None
            assert s["path"][-1]["node"] == node
        else:
            assert s["died_at"]["node"] == node, s["died_at"]
        if s["kind"] == "icmp_unreachable":
            assert s["k8s"]["reporter"] == f"node {node}"


def test_tshark_sees_ipv6_inside_vxlan(run: tuple[str, Path]) -> None:
    _, folder = run
    lines = truth.load(folder)
    (pod,) = {t["client_pod"] for t in lines if t["kind"] == "attempt"}
    (capture,) = folder.glob(f"pod-{pod.split('/')[1]}.pcap")
    assert tshark(capture, "ip") == []
    # (not the SYNs an ICMPv6 error quotes)
    syns = tshark(capture, "ipv6 && !icmpv6 && tcp.flags.syn == 1 && tcp.flags.ack == 0",
                  "ipv6.src", "tcp.srcport")
    assert {f"[{src}]:{port}" for src, port in syns} == {
        t["client"] for t in lines if t["kind"] == "attempt"}
    node = _fault_node(folder, pod)
    (client_node,) = {p["spec"]["nodeName"] for p in _snapshot(folder, "Pod")
                      if p["metadata"]["name"] == pod.split("/")[1]}
    underlay = folder / f"node-{client_node}-eth0.pcap"
    assert tshark(underlay, "vxlan && ipv6")  # the DNS lookups of coredns on worker-2, at least
    assert tshark(underlay, "vxlan && count(ip) > 1") == []  # and no IPv4 inside
    if node != client_node:  # the connections themselves crossed the overlay in IPv6
        assert tshark(underlay, "vxlan && ipv6 && !icmpv6 && tcp.flags.syn == 1 "
                      "&& tcp.flags.ack == 0")


def _captures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng"})


def test_streamed_equals_in_memory(run: tuple[str, Path]) -> None:
    _, folder = run
    captures, snapshot = _captures(folder), [folder / "snapshot.json"]
    whole = pcapkit.analyze(captures, snapshot).to_dict()
    assert pcapkit.analyze(captures, snapshot, workers=1, chunk_records=7, shards=3
                           ).to_dict() == whole


def test_show_brackets_ipv6_ports(run: tuple[str, Path]) -> None:
    _, folder = run
    attempt = next(t for t in truth.load(folder) if t["kind"] == "attempt")
    pod = folder / f"pod-{attempt['client_pod'].split('/')[1]}.pcap"
    client = attempt["client"]  # "[v6]:port"
    frames = [int(n) for (n,) in tshark(
        pod, f"ipv6 && !icmpv6 && tcp.srcport == {client.rpartition(':')[2]}")]
    assert frames
    for lines in (show_frames([str(pod)], {0: frames}, ()),
                  show_frames_dpkt([str(pod)], {0: frames})):
        shown = list(lines)[1:]
        assert len(shown) == len(frames)
        # the client's own SYNs: `[client]:port → [server]:port`
        assert all(f" {client} → {attempt['resolved']} " in line for line in shown[:1]), shown

"""The committed samples: every scenario folder is complete, its snapshot has the real API's shape,
its truth shows what the fault must produce, and its captures (read by tshark) agree with the truth.
Needs no root: these tests read what `make samples` recorded."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from samples.lab import truth
from samples.lab.scenarios import SCENARIOS
from tests.conftest import SAMPLES
from tests.lab.captures import expected_link_types, link_types, tshark

Lines = list[dict[str, Any]]
MAX_FOLDER_BYTES = 2_000_000


@pytest.fixture(params=sorted(SCENARIOS))
def folder(request: pytest.FixtureRequest) -> Path:
    return SAMPLES / str(request.param)


def captures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng"})


def test_folder_is_complete_and_small(folder: Path) -> None:
    names = {p.name for p in folder.iterdir()}
    assert {"README.md", "snapshot.json", "truth.jsonl"} <= names
    assert {"node-worker-1-any.pcap", "node-worker-1-eth0.pcap", "node-worker-2-eth0.pcap"} <= names
    assert any(n.startswith("pod-") for n in names)
    assert sum(p.stat().st_size for p in folder.iterdir()) < MAX_FOLDER_BYTES


def test_captures_have_the_vantage_link_types(folder: Path) -> None:
    for capture in captures(folder):
        assert capture.stat().st_size > 24, capture
        assert link_types(capture) == expected_link_types(capture), capture


def test_snapshot_has_the_api_shape(folder: Path) -> None:
    doc = json.loads((folder / "snapshot.json").read_text())
    assert (doc["apiVersion"], doc["kind"]) == ("v1", "List")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for item in doc["items"]:
        assert {"apiVersion", "kind", "metadata"} <= item.keys()
        by_kind.setdefault(item["kind"], []).append(item)
    assert by_kind.keys() == {"Pod", "Service", "EndpointSlice", "Node"}
    cidrs = {
        n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"]) for n in by_kind["Node"]
    }
    for pod in by_kind["Pod"]:
        assert ipaddress.ip_address(pod["status"]["podIP"]) in cidrs[pod["spec"]["nodeName"]]
    services = {s["metadata"]["name"] for s in by_kind["Service"]}
    slices = {
        s["metadata"]["labels"]["kubernetes.io/service-name"]: s for s in by_kind["EndpointSlice"]
    }
    # an ExternalName Service has no selector, so no EndpointSlice
    aliases = {s["metadata"]["name"]: s["spec"] for s in by_kind["Service"]
               if s["spec"]["type"] == "ExternalName"}
    assert slices.keys() == services - aliases.keys()
    for spec in aliases.values():
        assert "clusterIP" not in spec and "selector" not in spec and spec["externalName"]
    for s in slices.values():
        assert s["apiVersion"] == "discovery.k8s.io/v1" and s["addressType"] == "IPv4"
        for endpoint in s["endpoints"] or []:
            assert endpoint["conditions"].keys() == {"ready", "serving", "terminating"}
            assert endpoint["targetRef"]["kind"] == "Pod" and endpoint["nodeName"] in cidrs
    if folder.name == "stale_endpoint":
        (gone,) = slices["stale"]["endpoints"]
        assert gone["conditions"] == {"ready": False, "serving": True, "terminating": True}
    if folder.name == "no_endpoints":
        assert slices["orphan"]["endpoints"] is None
    not_ready = {"ready": False, "serving": False, "terminating": False}
    if folder.name == "headless":
        headless = {s["metadata"]["name"] for s in by_kind["Service"]
                    if s["spec"]["clusterIP"] == "None"}
        assert headless == {"db", "cache"}
        (cache,) = slices["cache"]["endpoints"]
        assert cache["conditions"] == not_ready
    if folder.name == "endpoints_not_ready":
        assert [e["conditions"] for e in slices["ledger"]["endpoints"]] == [not_ready] * 2


def test_truth_shows_what_the_fault_produces(folder: Path) -> None:
    lines = truth.load(folder)
    assert truth.problems(lines) == []
    for line in lines:
        if line["kind"] == "attempt":
            assert {
                "ts",
                "client_pod",
                "client",
                "target",
                "resolved",
                "service",
                "outcome",
            } <= line.keys()


def attempts(lines: Lines, outcome: str | None = None) -> list[dict[str, Any]]:
    return [t for t in lines if t["kind"] == "attempt" and outcome in (None, t["outcome"])]


def port(attempt: dict[str, Any]) -> str:
    return str(attempt["client"]).rpartition(":")[2]


def pod_capture(folder: Path) -> Path:
    (found,) = folder.glob("pod-*.pcap")
    return found


def _healthy(folder: Path, lines: Lines) -> None:
    for a in attempts(lines):
        if a["client_pod"]:
            synack = f"tcp.flags.syn==1 && tcp.flags.ack==1 && tcp.dstport=={port(a)}"
            assert tshark(pod_capture(folder), synack), a
    assert tshark(folder / "node-worker-1-eth0.pcap", "vxlan && tcp && ip.src==10.244.1.10")


def _refused_by_icmp(folder: Path, lines: Lines) -> None:
    for a in attempts(lines, "refused"):
        unreachable = f"icmp.type==3 && icmp.code==3 && tcp.srcport=={port(a)}"
        assert tshark(pod_capture(folder), unreachable), a


def _refused_by_rst(folder: Path, lines: Lines) -> None:
    for a in attempts(lines, "refused"):
        rst = f"tcp.flags.reset==1 && tcp.dstport=={port(a)} && ip.src==10.96.0.60"
        assert tshark(pod_capture(folder), rst), a


def _unanswered(backend: str) -> Callable[[Path, Lines], None]:
    def check(folder: Path, lines: Lines) -> None:
        for a in attempts(lines):
            syn = f"tcp.flags.syn==1 && tcp.flags.ack==0 && tcp.srcport=={port(a)}"
            assert len(tshark(pod_capture(folder), syn)) >= 2, a  # retransmitted
            synack = f"tcp.flags.syn==1 && tcp.flags.ack==1 && tcp.dstport=={port(a)}"
            assert not tshark(pod_capture(folder), synack), a
            arrived = f"{syn} && ip.dst=={backend}"
            assert tshark(folder / "node-worker-2-any.pcap", arrived), a

    return check


def _retransmitted(folder: Path, lines: Lines) -> None:
    """A segment lost on the underlay is seen twice on its sender's node eth0 (the copy lost
    after it, and the one TCP sent again): the blob pod's data on worker-2's, the client's
    SYNs, requests and FINs on worker-1's."""
    resent = "tcp.analysis.retransmission || tcp.analysis.fast_retransmission"
    assert any(tshark(eth0, f"vxlan && ({resent})")
               for eth0 in sorted(folder.glob("node-*-eth0.pcap")))


def _search_path(folder: Path, lines: Lines) -> None:
    for lookup in (t for t in lines if t["kind"] == "lookup"):
        *searched, absolute = lookup["search_expansion"]
        for name in searched:
            assert tshark(pod_capture(folder), f'dns.flags.rcode==3 && dns.qry.name=="{name}"')
        answer = 0 if lookup["outcome"] == "ok" else 3
        assert tshark(
            pod_capture(folder), f'dns.flags.rcode=={answer} && dns.qry.name=="{absolute}"'
        )


def _unanswered_queries(folder: Path, lines: Lines) -> None:
    slow = [t for t in lines if t["kind"] == "lookup" and t["duration"] > 4]
    unanswered = tshark(pod_capture(folder), "dns.flags.response==0 && !dns.response_in")
    assert len(unanswered) >= len(slow) > 0


def _blackhole(folder: Path, lines: Lines) -> None:
    big = "ip.src==10.244.2.20 && tcp.len>1410"
    assert tshark(folder / "node-worker-2-any.pcap", big)
    if attempts(lines, "ok"):
        assert tshark(pod_capture(folder), "icmp.type==3 && icmp.code==4")


def _hairpin(folder: Path, lines: Lines) -> None:
    masqueraded = (
        "ip.src==10.244.2.1 && ip.dst==10.244.2.20 && tcp.flags==0x002 && tcp.dstport==9000"
    )
    assert len(tshark(pod_capture(folder), masqueraded)) == len(attempts(lines))


def _nodeport(folder: Path, lines: Lines) -> None:
    """Each refused NodePort or LoadBalancer connection: its SYN entered worker-1 from the
    external client to the node's address and nodePort (the LoadBalancer address and port),
    and left it DNATed to the endpoint and masqueraded to flannel.1's address, with the same
    sequence number and IP id; the endpoint's RST came back to the external client from the
    address and port it dialled."""
    entry = folder / "node-worker-1-any.pcap"
    for a in attempts(lines, "refused"):
        if "external_client" not in a:
            continue
        ip, _, node_port = a["resolved"].rpartition(":")
        syn = "tcp.flags.syn==1 && tcp.flags.ack==0"
        ((seq, ip_id),) = tshark(entry, f"{syn} && tcp.srcport=={port(a)} && ip.dst=={ip}",
                                 "tcp.seq_raw", "ip.id")
        left = tshark(entry, f"{syn} && tcp.seq_raw=={seq} && ip.id=={ip_id} && "
                      "ip.src==10.244.1.0 && ip.dst==10.244.2.40 && tcp.dstport==8080")
        assert left, a
        rst = f"tcp.flags.reset==1 && ip.src=={ip} && tcp.srcport=={node_port} && " \
              f"tcp.dstport=={port(a)}"
        assert tshark(entry, rst), a


def _calico_port(folder: Path, lines: Lines) -> None:
    assert tshark(
        folder / "node-worker-1-eth0.pcap",
        "udp.dstport==4789 && vxlan.vni==4096 && tcp",
        vxlan_port=4789,
    )


def pings(lines: Lines) -> list[dict[str, Any]]:
    return [t for t in lines if t["kind"] == "ping"]


def _echo_unanswered(folder: Path, lines: Lines) -> None:
    for p in pings(lines):
        sent = f"icmp.type==8 && ip.src=={p['client']} && ip.dst=={p['target']}"
        assert len(tshark(pod_capture(folder), sent)) == p["sent"], p
        masqueraded = f"icmp.type==8 && ip.dst=={p['target']} && ip.src==172.18.0.11"
        assert tshark(folder / "node-worker-1-eth0.pcap", masqueraded), p
        assert not tshark(pod_capture(folder), "icmp.type==0"), p


def _gateway_arp(folder: Path, lines: Lines) -> None:
    (fault,) = [t for t in lines if t["kind"] == "fault"]
    gateway = fault["rules"][0].split(" via ")[1].split()[0]
    for p in pings(lines):
        asked = (f"arp.opcode==1 && arp.src.proto_ipv4=={p['client']} && "
                 f"arp.dst.proto_ipv4=={gateway}")
        assert len(tshark(pod_capture(folder), asked)) >= 3, p
        assert tshark(folder / "node-worker-1-any.pcap", asked), p
        assert not tshark(pod_capture(folder), "icmp || arp.opcode==2"), p


def _server_of_queries(server: str) -> Callable[[Path, Lines], None]:
    def check(folder: Path, lines: Lines) -> None:
        client = next(t["client"] for t in lines if t["kind"] == "lookup")
        sent = f"dns.flags.response==0 && ip.src=={client}"
        assert tshark(pod_capture(folder), sent)
        assert not tshark(pod_capture(folder), f"{sent} && ip.dst!={server}")

    return check


def _through_cache(cache: str) -> Callable[[Path, Lines], None]:
    """The pod asks only the node-local cache; its node asks kube-dns over TCP for each name."""
    asked_cache = _server_of_queries(cache)

    def check(folder: Path, lines: Lines) -> None:
        asked_cache(folder, lines)
        client = next(t["client"] for t in lines if t["kind"] == "lookup")
        for lookup in (t for t in lines if t["kind"] == "lookup"):
            for name in lookup["search_expansion"]:
                upstream = (f'tcp.dstport==53 && dns.flags.response==0 && ip.src!={client} '
                            f'&& dns.qry.name=="{name}"')
                if lookup["outcome"] == "ok" and name != lookup["search_expansion"][0]:
                    continue  # the first step answered: the resolver stopped there
                assert tshark(folder / "node-worker-1-any.pcap", upstream), name

    return check


def _headless(folder: Path, lines: Lines) -> None:
    """The DNS answers a headless name with its ready pod only; the client connects to that
    pod's address itself (no ClusterIP); the other headless name is NXDOMAIN."""
    asked = 'dns.flags.response==1 && dns.qry.name=="db.default.svc.cluster.local" && dns.a'
    answers = tshark(pod_capture(folder), asked, "dns.a")
    assert answers and {a for (a,) in answers} == {"10.244.2.60"}
    for a in attempts(lines, "ok"):
        synack = (f"tcp.flags.syn==1 && tcp.flags.ack==1 && ip.src==10.244.2.60 && "
                  f"tcp.dstport=={port(a)}")
        assert tshark(pod_capture(folder), synack), a
    empty = 'dns.flags.rcode==3 && dns.qry.name=="cache.default.svc.cluster.local"'
    assert tshark(pod_capture(folder), empty)
    _search_path(folder, [t for t in lines if t.get("name") == "cache"])


def _external_name(folder: Path, lines: Lines) -> None:
    """The cluster DNS answers each ExternalName with its CNAME, chased: an address for the
    lab's external name, NXDOMAIN for the one that exists nowhere."""
    alias = 'dns.qry.name=="partners.default.svc.cluster.local" && dns.cname=="api.example.com"'
    assert tshark(pod_capture(folder), f"{alias} && dns.a==172.18.0.100")
    broken = ('dns.qry.name=="payments.default.svc.cluster.local" && '
              'dns.cname=="payments.example.net"')
    assert tshark(pod_capture(folder), f"{broken} && dns.flags.rcode==3")
    for a in attempts(lines, "ok"):
        assert a["resolved"] == "172.18.0.100:80", a


def _wrong_target_port(folder: Path, lines: Lines) -> None:
    """kube-proxy sends the SYNs to the pod's undeclared port 9090, and the pod resets them."""
    for a in attempts(lines, "refused"):
        sent = (f"tcp.flags.syn==1 && ip.dst==10.244.2.80 && tcp.dstport==9090 && "
                f"tcp.srcport=={port(a)}")
        assert tshark(folder / "node-worker-2-any.pcap", sent), a
        rst = f"tcp.flags.reset==1 && tcp.dstport=={port(a)} && ip.src==10.96.0.90"
        assert tshark(pod_capture(folder), rst), a


def _none_ready(folder: Path, lines: Lines) -> None:
    """Refused at the client's node: no SYN reaches either not-ready pod."""
    _refused_by_icmp(folder, lines)
    for node in ("node-worker-1-any.pcap", "node-worker-2-any.pcap"):
        assert not tshark(folder / node, "tcp && (ip.dst==10.244.1.81 || ip.dst==10.244.2.81)")


def _grpc_errors(folder: Path, lines: Lines) -> None:
    """Each call's failure the client logged is on the wire to its port, as the lab's server
    encodes it (HPACK strings raw): the grpc-message, the RST_STREAM frame, the GOAWAY's debug
    data."""
    wire = {"grpc-status 14 (no ready endpoint)": 'tcp.payload contains "no ready endpoint"',
            # frame header: length 4, RST_STREAM (3), no flags, stream 5; INTERNAL_ERROR (2)
            "RST_STREAM 2": "tcp.payload contains 00:00:04:03:00:00:00:00:05:00:00:00:02",
            "GOAWAY 11 too_many_pings": 'tcp.payload contains "too_many_pings"'}
    for a in attempts(lines):
        for said, payload in wire.items():
            assert said in a["detail"], a
            reply = f"tcp.srcport==50051 && tcp.dstport=={port(a)} && {payload}"
            assert tshark(pod_capture(folder), reply), (a, said)


EVIDENCE: dict[str, Callable[[Path, Lines], None]] = {
    "healthy": _healthy,
    "no_endpoints": _refused_by_icmp,
    "stale_endpoint": _unanswered("10.244.2.99"),
    "not_listening": _refused_by_rst,
    "policy_drop": _unanswered("10.244.2.20"),
    "lossy_underlay": _retransmitted,
    "nxdomain_storm": _search_path,
    "dns_timeout": _unanswered_queries,
    "mtu_blackhole": _blackhole,
    "hairpin": _hairpin,
    "vxlan_4789": _calico_port,
    "nodeport": _nodeport,
    "ping_unanswered": _echo_unanswered,
    "gateway_arp": _gateway_arp,
    "short_name_other_namespace": _search_path,
    "no_such_service": _search_path,
    "wrong_nameserver": _server_of_queries("10.244.2.40"),
    "nodelocal_dns": _through_cache("169.254.20.10"),


    "headless": _headless,
    "external_name": _external_name,
    "target_port_mismatch": _wrong_target_port,
    "endpoints_not_ready": _none_ready,
    "grpc_errors": _grpc_errors,
}


def test_every_scenario_has_capture_evidence() -> None:
    assert EVIDENCE.keys() == SCENARIOS.keys()


def test_captures_agree_with_truth(folder: Path) -> None:
    EVIDENCE[folder.name](folder, truth.load(folder))

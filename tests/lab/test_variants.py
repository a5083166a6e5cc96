"""The lab's variants that are no committed sample (`VARIANTS`), recorded afresh (root only) and
analysed one capture at a time and all together, against the truth the run wrote and tshark's
reading of the captures:

- `kube_proxy_missing`: worker-1's kube-proxy lost Service default/blob's rule. The node's
  `-i any` and its underlay NIC each show the SYNs leaving un-DNATed and name node and Service;
  the client pod's capture, which cannot see that, still finds the unanswered SYNs.
- `socket_lb` with `stale_endpoint`: the pod DNATs its own connections (Cilium's socket-level
  load balancing), so its capture never shows the ClusterIP; the findings still name the
  Service, through the EndpointSlice, and the endpoint.
- `external_traffic_local`: a Service with externalTrafficPolicy Local whose only endpoint
  runs on worker-2; the external host's connections to worker-1's NodePort are dropped there
  and named so (node, Service, where the endpoints are), those to worker-2's complete.
- `underlay_blackhole`: the underlay loses what worker-1 sends worker-2; `died_at` names no
  node and asks for a capture on the network between them. `underlay_blackhole_back`, its
  reverse, loses blob's SYN-ACKs: the retransmission finding of each failed handshake says the
  same, for the answers (`s2c`).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pcapkit.api import analyze
from samples.lab import truth
from tests.conftest import REPO, document
from tests.lab.captures import tshark
from tests.lab.needs import LAB, recorded

FAILED = {"refused", "timeout", "error"}

pytestmark = LAB


@pytest.fixture(scope="module")
def missing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(["kube_proxy_missing"], tmp_path_factory.mktemp("lab"))


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(["external_traffic_local"], tmp_path_factory.mktemp("lab"))


@pytest.fixture(scope="module")
def blackhole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(["underlay_blackhole"], tmp_path_factory.mktemp("lab"))


@pytest.fixture(scope="module")
def blackhole_back(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(["underlay_blackhole_back"], tmp_path_factory.mktemp("lab"))


@pytest.fixture(scope="module")
def socket_lb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded(["socket_lb", "stale_endpoint"], tmp_path_factory.mktemp("lab"))


def _symptoms(folder: Path, *names: str) -> list[dict[str, Any]]:
    captures = [folder / n for n in names] or sorted(folder.glob("*.pcap"))
    doc = analyze(captures, [folder / "snapshot.json"]).to_dict()
    return list(doc["symptoms"])


def _failed(folder: Path) -> list[dict[str, Any]]:
    return [t for t in truth.load(folder) if t["kind"] == "attempt" and t["outcome"] in FAILED]


def _fault(folder: Path, name: str) -> dict[str, Any]:
    return next(t for t in truth.load(folder) if t["kind"] == "fault" and t["fault"] == name)


def test_all_captures_find_exactly_the_injected_faults(missing: Path, socket_lb: Path,
                                                       local: Path, blackhole_back: Path) -> None:
    for folder in (missing, socket_lb, local, blackhole_back):
        injected = {k for t in truth.load(folder) if t["kind"] == "fault" for k in t["symptoms"]}
        found = _symptoms(folder)
        assert {s["kind"] for s in found} == injected
        # a node's ARP for a gone endpoint names the node's bridge as the asker, not the client
        of_connections = injected - {"arp_unanswered"}
        for attempt in _failed(folder):
            got = {s["kind"] for s in found if s["client"] == attempt["client"]}
            assert got == of_connections, attempt


def test_node_any_alone_names_the_node_and_the_service(missing: Path) -> None:
    fault = _fault(missing, "kube_proxy_missing")
    node = fault["where"].split(",")[0]  # "node worker-1"
    capture = f"node-{node.removeprefix('node ')}-any.pcap"
    found = {s["client"]: s for s in _symptoms(missing, capture)
             if s["kind"] == "kube_proxy_missing"}
    for attempt in _failed(missing):
        s = found[attempt["client"]]
        assert s["server"] == attempt["resolved"]
        assert s["k8s"]["node"] == node and s["k8s"]["service"] == attempt["service"]
        assert "endpoint" not in s["k8s"] and "endpoint_candidates" not in s["k8s"]
        assert f"That node is {node}" in s["explanation"]


def test_underlay_alone_sees_the_clusterip_leave(missing: Path) -> None:
    node = _fault(missing, "kube_proxy_missing")["where"].split(",")[0]
    capture = f"node-{node.removeprefix('node ')}-eth0.pcap"
    service_ip, _, port = _failed(missing)[0]["resolved"].rpartition(":")
    # tshark: the SYNs on the underlay, still to the ClusterIP (masqueraded, so new ports)
    syns = tshark(missing / capture, f"ip.dst=={service_ip} && tcp.dstport=={port} && "
                  "tcp.flags.syn==1 && tcp.flags.ack==0", "ip.src", "tcp.srcport")
    sockets = {f"{ip}:{p}" for ip, p in syns}
    assert len(sockets) == len(_failed(missing))
    found = [s for s in _symptoms(missing, capture) if s["kind"] == "kube_proxy_missing"]
    assert {s["client"] for s in found} == sockets
    for s in found:
        assert s["k8s"]["node"] == node and s["k8s"]["client"] == node
        assert s["k8s"]["service"] == _failed(missing)[0]["service"]


def test_pod_alone_finds_the_unanswered_syns(missing: Path) -> None:
    (pod,) = missing.glob("pod-*.pcap")
    found = _symptoms(missing, pod.name)
    assert {s["kind"] for s in found} == {"unanswered_syn"}  # the pod cannot see where they went
    for attempt in _failed(missing):
        (s,) = [s for s in found if s["client"] == attempt["client"]]
        assert s["server"] == attempt["resolved"]
        assert s["k8s"]["service"] == attempt["service"]


def test_socket_lb_pod_capture_names_the_service_and_endpoint(socket_lb: Path) -> None:
    (pod,) = socket_lb.glob("pod-*.pcap")
    failed = _failed(socket_lb)
    service_ip = failed[0]["resolved"].rpartition(":")[0]
    assert not tshark(pod, f"ip.addr=={service_ip}"), "the pod's capture shows the ClusterIP"
    endpoint = _fault(socket_lb, "stale_endpoint")["where"].split()[1]
    found = _symptoms(socket_lb, pod.name)
    for attempt in failed:
        (s,) = [s for s in found if s["kind"] == "unanswered_syn"
                and s["client"] == attempt["client"]]
        assert s["server"] == endpoint  # what the pod's packets say it dialled
        k8s = s["k8s"]
        assert k8s["service"] == attempt["service"] and k8s["endpoint"] == endpoint
        assert k8s["endpoint_state"] == "terminating"


def test_host_network_pods_are_named_as_the_node(missing: Path, tmp_path: Path) -> None:
    """The underlay shows the node's masqueraded address; with a hostNetwork pod on that node,
    the client is still the node, and the explanation says the pod shares it."""
    node = _fault(missing, "kube_proxy_missing")["where"].split(",")[0].removeprefix("node ")
    doc = json.loads((missing / "snapshot.json").read_text())
    (node_obj,) = [i for i in doc["items"] if i["kind"] == "Node"
                   and i["metadata"]["name"] == node]
    address = next(a["address"] for a in node_obj["status"]["addresses"]
                   if a["type"] == "InternalIP")
    doc["items"].append({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"namespace": "kube-system", "name": f"kube-proxy-{node}"},
        "spec": {"nodeName": node, "hostNetwork": True},
        "status": {"phase": "Running", "podIP": address, "podIPs": [{"ip": address}]},
    })
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps(doc))
    found = analyze([missing / f"node-{node}-eth0.pcap"], [snapshot]).to_dict()["symptoms"]
    assert found
    for s in found:
        assert s["k8s"]["client"] == f"node {node}"
        assert f"hostNetwork pods share (pod kube-system/kube-proxy-{node})" in s["explanation"]


@pytest.mark.parametrize(("chunk", "shards"), [(7, 3), (10**9, 1)])
def test_streamed_equals_in_memory(missing: Path, socket_lb: Path, local: Path,
                                   blackhole_back: Path, chunk: int, shards: int) -> None:
    """The new detector runs per shard in the streaming engine: the same document, for all
    captures together and for the node capture that alone shows the fault."""
    for folder in (missing, socket_lb, local, blackhole_back):
        snapshot = [folder / "snapshot.json"]
        for captures in (sorted(folder.glob("*.pcap")), [folder / "node-worker-1-any.pcap"]):
            streamed = document(captures, snapshot, workers=1, chunk_records=chunk,
                                shards=shards)
            assert streamed == document(captures, snapshot)


def test_local_policy_drop_names_node_service_and_endpoints(local: Path) -> None:
    """Each connection to the NodePort of the node without a local endpoint is named by the
    truth's external client and node port, the Service, the node (the fault's) and where the
    endpoints run (the snapshot's EndpointSlice); the connections to the other node's
    NodePort show nothing."""
    fault = _fault(local, "external_traffic_local")
    node = fault["where"].split(",")[0]  # "node worker-1"
    doc = json.loads((local / "snapshot.json").read_text())
    where = sorted({e["nodeName"] for i in doc["items"] if i["kind"] == "EndpointSlice"
                    and i["metadata"]["labels"]["kubernetes.io/service-name"] == "edge"
                    for e in i["endpoints"]})
    found = _symptoms(local)
    attempts = [t for t in truth.load(local) if t["kind"] == "attempt"]
    for attempt in attempts:
        mine = [s for s in found if s["client"] == attempt["client"]]
        if attempt["outcome"] == "ok":
            assert mine == [], attempt
            continue
        (s,) = [s for s in mine if s["kind"] == "external_traffic_local"]
        assert s["server"] == attempt["resolved"] and s["node"] == node
        k8s = s["k8s"]
        assert (k8s["service"], k8s["node_port"], k8s["external_client"]) == (
            attempt["service"], attempt["node_port"], attempt["external_client"])
        assert f"on {node}" in s["explanation"] and f"run on {','.join(where)}" in s[
            "explanation"]


def test_local_policy_keeps_the_client_address(local: Path) -> None:
    """tshark: worker-1 never sends the dropped SYNs on (nothing leaves for the endpoint), and
    worker-2 delivers the others to its pod from the external client's own address."""
    endpoint = "10.244.2.50"
    assert not tshark(local / "node-worker-1-any.pcap", f"ip.dst=={endpoint}")
    for attempt in (t for t in truth.load(local) if t["kind"] == "attempt"
                    and t["outcome"] == "ok"):
        ip, _, port = attempt["client"].rpartition(":")
        syn = f"tcp.flags.syn==1 && tcp.flags.ack==0 && ip.src=={ip} && tcp.srcport=={port}"
        assert tshark(local / "node-worker-2-any.pcap", f"{syn} && ip.dst=={endpoint}")


def test_died_at_names_the_node_that_never_dnated(missing: Path, local: Path) -> None:
    """A conversation to a Service that no capture shows DNATed stopped on the node the lab's
    fault names (its kube-proxy lost the Service's rule; it drops a Local NodePort without a
    local endpoint): every symptom of each failed connection says so, after a place on that
    node, with the Service it should have reached."""
    for folder, name in ((missing, "kube_proxy_missing"), (local, "external_traffic_local")):
        fault = _fault(folder, name)
        node = fault["where"].split(",")[0]  # "node worker-1"
        found = _symptoms(folder)
        for attempt in _failed(folder):
            mine = [s for s in found if s["client"] == attempt["client"]]
            assert {s["kind"] for s in mine} == set(fault["symptoms"])
            for s in mine:
                died = s["died_at"]
                assert (f"node {died['node']}", died["direction"]) == (node, "c2s"), died
                assert died["after"].startswith(f"{node} ") and "capture_to_take" not in died
                assert attempt["service"] in died["before"]
                assert f"dropped on {node}" in s["explanation"] or (
                    f"{node} routed it on" in s["explanation"])


def test_pod_alone_says_which_capture_would_tell(missing: Path, tmp_path: Path) -> None:
    """From the client pod's capture alone nothing shows where its SYNs went: `died_at` names
    no node, and asks for the `-i any` capture of the pod's node (the snapshot's), filtered to
    the pod's address; that filter, applied by tcpdump to the run's own `-i any` capture of
    the node, keeps what places the fault there."""
    (pod,) = missing.glob("pod-*.pcap")
    node = _fault(missing, "kube_proxy_missing")["where"].split(",")[0].removeprefix("node ")
    for s in _symptoms(missing, pod.name):
        died = s["died_at"]
        assert died["node"] is None
        take = died["capture_to_take"]
        client_ip = s["client"].rsplit(":", 1)[0]
        assert take == {"node": node, "where": f"on node {node}",
                        "command": f"tcpdump -i any -w {node}-any.pcap 'host {client_ip}'"}
        assert f"`{take['command']}`" in s["explanation"]
    command = shlex.split(take["command"])
    taken = tmp_path / command[command.index("-w") + 1]
    subprocess.run(["tcpdump", "-r", str(missing / f"node-{node}-any.pcap"), "-w", str(taken),
                    command[-1]], check=True, capture_output=True)
    doc = analyze([pod, taken], [missing / "snapshot.json"]).to_dict()
    assert {s["died_at"]["node"] for s in doc["symptoms"]} == {node}


@pytest.mark.parametrize("name", ["underlay_blackhole", "underlay_blackhole_back"])
def test_lost_between_nodes_asks_for_the_network_between(name: str, request: pytest.FixtureRequest,
                                                         tmp_path: Path) -> None:
    """The underlay drops what one node sends the other (the fault is on no node): the SYNs
    from worker-1's client to blob on worker-2 (`underlay_blackhole`), or blob's SYN-ACKs back
    (`underlay_blackhole_back`). Each failed connection is reported as the truth's symptom, and
    its `died_at` names no node, the direction that crossed from the truth's sending node to its
    receiving one, a `before` on the receiving node, and asks for a capture on the network
    between the two, filtered to their addresses (the snapshot's). tcpdump's reading of that
    filter, on the sending node's underlay capture, keeps the VXLAN datagrams that carried the
    lost packets (tshark); lost SYN-ACKs are in no capture of the client's pod (tshark). The
document is valid against docs/report.schema.json."""
    folder: Path = request.getfixturevalue(name.replace("underlay_", ""))
    fault = _fault(folder, name)
    assert "node" not in fault["where"]
    ends = re.search(r"from ([\w.-]+) .* to ([\w.-]+) ", fault["detail"])
    assert ends, fault["detail"]
    sender, receiver = ends.groups()
    doc = json.loads((folder / "snapshot.json").read_text())
    addresses = {next(a["address"] for a in i["status"]["addresses"] if a["type"] == "InternalIP")
                 for i in doc["items"] if i["kind"] == "Node"}
    pod_nodes = {o["status"]["podIP"]: o["spec"]["nodeName"] for o in doc["items"]
                 if o["kind"] == "Pod" and o.get("status", {}).get("podIP")}
    report = analyze(sorted(folder.glob("*.pcap")), [folder / "snapshot.json"]).to_dict()
    jsonschema.validate(report, json.loads((REPO / "docs" / "report.schema.json").read_text()))
    found = report["symptoms"]
    failed = _failed(folder)
    assert failed
    for attempt in failed:
        ip, _, port = attempt["client"].rpartition(":")
        direction = "c2s" if pod_nodes[ip] == sender else "s2c"
        (s,) = [s for s in found if s["client"] == attempt["client"]]
        assert [s["kind"]] == fault["symptoms"]
        died = s["died_at"]
        assert (died["node"], died["direction"]) == (None, direction)
        assert f"node {receiver}" in died["before"] and f"node {receiver}" != died["after"]
        take = died["capture_to_take"]
        assert take["node"] is None and f"between node {sender} and node {receiver}" in (
            take["where"])
        assert f"`{take['command']}`" in s["explanation"]
        command = shlex.split(take["command"])
        assert {w for w in command[-1].split() if w[0].isdigit()} == addresses
        kept = tmp_path / "kept.pcap"
        subprocess.run(["tcpdump", "-r", str(folder / f"node-{sender}-eth0.pcap"), "-w",
                        str(kept), command[-1]], check=True, capture_output=True)
        client = (f"ip.src=={ip} && tcp.srcport=={port} && tcp.flags.ack==0" if direction == "c2s"
                  else f"ip.dst=={ip} && tcp.dstport=={port} && tcp.flags.ack==1")
        assert tshark(kept, f"vxlan && {client} && tcp.flags.syn==1", "frame.number")
        if direction == "s2c":
            (pod,) = folder.glob(f"pod-{s['k8s']['client'].split('/')[-1]}.pcap")
            assert not tshark(pod, f"{client} && tcp.flags.syn==1", "frame.number")

"""Where each failed conversation stopped, judged by the lab: the node comes from the fault the
lab injected (its `where`, or the node its iptables rules were put on), never from pcapkit.

A fault named on one node stops the conversation there. A fault on every node or every pod
(kube-proxy's REJECT for a Service without endpoints, an MTU too large everywhere) stops it at the
first node it meets: the client's. A rule matching the server's source port drops the answers
(`s2c`); any other, the requests (`c2s`)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pcapkit.api import analyze
from samples.lab import truth
from samples.lab.scenarios import SCENARIOS
from tests.conftest import SAMPLES

#: symptoms of a conversation that failed along its path
DIED = {"unanswered_syn", "icmp_unreachable", "dns_timeout"}


def _document(name: str, without: str | None = None) -> dict[str, Any]:
    """The report on the scenario's captures, less those whose vantage names `without`."""
    folder = SAMPLES / name
    captures = sorted(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng"})
    if without is not None:
        doc = analyze(captures, [folder / "snapshot.json"]).to_dict()
        kept = {c["path"] for c in doc["captures"] if without not in (c["vantage"] or "")}
        captures = [p for p in captures if str(p) in kept]
    return analyze(captures, [folder / "snapshot.json"]).to_dict()


def _pod_nodes(name: str) -> dict[str, str]:
    """Pod address → node, read from the snapshot file itself."""
    snap = json.loads((SAMPLES / name / "snapshot.json").read_text())
    return {o["status"]["podIP"]: o["spec"]["nodeName"] for o in snap["items"]
            if o["kind"] == "Pod" and o.get("status", {}).get("podIP")}


def _expected(fault: dict[str, Any], client_node: str) -> tuple[str | None, str]:
    """(node, direction) where the lab's fault stops a conversation from `client_node`."""
    named = set(re.findall(r"\bnode ([\w.-]+)", fault["where"]))
    named |= {r.split(":", 1)[0] for r in fault["rules"]} - {"underlay"}
    direction = "s2c" if any("--sport" in r for r in fault["rules"]) else "c2s"
    if len(named) == 1:
        return named.pop(), direction
    # kube-proxy's rules are on every node, whether or not the truth says so
    if "every" in fault["where"] or "every node" in fault["detail"] or (
            "kube-proxy REJECTs" in fault["detail"]):
        return client_node, direction
    return None, direction


def _fails(name: str) -> bool:
    """The scenario injects a fault that makes conversations fail along their path."""
    lines = truth.load(SAMPLES / name)
    return any(t["kind"] == "fault" and set(t["symptoms"]) & DIED for t in lines)


CASES = sorted(n for n in SCENARIOS if (SAMPLES / n / "truth.jsonl").is_file() and _fails(n))


@pytest.mark.parametrize("name", CASES)
def test_died_at_names_the_node_of_the_injected_fault(name: str) -> None:
    lines = truth.load(SAMPLES / name)
    faults = [t for t in lines if t["kind"] == "fault" and set(t["symptoms"]) & DIED]
    doc = _document(name)
    nodes = _pod_nodes(name)
    checked = 0
    for s in doc["symptoms"]:
        fault = next((f for f in faults if s["kind"] in f["symptoms"]), None)
        if fault is None or s["kind"] not in DIED:
            continue  # a fault's other symptoms (the node's ARP for a gone pod) end nowhere
        client_ip = s["client"].rsplit(":", 1)[0]
        node, direction = _expected(fault, nodes[client_ip])
        assert "died_at" in s, s["explanation"]
        died = s["died_at"]
        assert (died["node"], died["direction"]) == (node, direction), (s["client"], died)
        assert died["after"] != died["before"]
        assert f"node {node}" in s["explanation"]
        checked += 1
    assert checked, "no failed conversation to judge"


@pytest.mark.parametrize("name", sorted(n for n in SCENARIOS if (SAMPLES / n).is_dir()))
def test_path_lists_the_places_that_saw_it(name: str) -> None:
    """Every connection symptom's path starts at the client's own pod capture (when there is
    one), lists only places that saw the conversation, and every capture its evidence cites, in
    the order each capture's own clock saw the request cross them."""
    doc = _document(name)
    pods = {c["vantage"]: c["path"] for c in doc["captures"] if c["vantage_kind"] == "pod"}
    for s in doc["symptoms"]:
        if s["protocol"] not in ("tcp", "udp"):
            continue
        path = s["path"]
        assert path and all(p["c2s"] + p["s2c"] > 0 for p in path)
        cited = {e["capture"] for e in s["evidence"]}
        assert cited <= {p["capture"] for p in path}, s["explanation"]
        client_pod = s.get("k8s", {}).get("client")
        if client_pod in pods:
            assert path[0]["capture"] == pods[client_pod]
        # Within one capture (one clock) the request reached the places in path order: the
        # order read from what the places are agrees with the order the kernel stamped them.
        for capture in {p["capture"] for p in path}:
            stamps = [p["first_ts"] for p in path if p["capture"] == capture and p["c2s"]]
            assert stamps == sorted(stamps), (capture, s["client"])


@pytest.mark.parametrize("name", ["policy_drop", "dns_timeout"])
def test_without_the_faulty_nodes_captures_it_says_which_would_tell(name: str) -> None:
    """The captures of the node where the lab put the fault left out (its `-i any`; the underlay
    captures cannot tell whose they are): the node is not guessed, and the explanation asks for
    that node's capture."""
    lines = truth.load(SAMPLES / name)
    fault = next(t for t in lines if t["kind"] == "fault" and set(t["symptoms"]) & DIED)
    doc = _document(name)
    client_ip = next(s for s in doc["symptoms"] if s["kind"] in fault["symptoms"])["client"]
    node, _ = _expected(fault, _pod_nodes(name)[client_ip.rsplit(":", 1)[0]])
    partial = _document(name, without=f"node {node}")
    assert all(c["vantage"] != f"node {node}" for c in partial["captures"])
    symptoms = [s for s in partial["symptoms"] if s["kind"] in fault["symptoms"]]
    assert symptoms
    for s in symptoms:
        assert s["died_at"]["node"] is None
        assert f"on node {node}: `tcpdump -i any" in s["explanation"]


def _refused(name: str) -> bool:
    return any(t["kind"] == "fault" and "rst" in t["symptoms"]
               for t in truth.load(SAMPLES / name))


@pytest.mark.parametrize("name", sorted(n for n in SCENARIOS if (SAMPLES / n / "truth.jsonl")
                                        .is_file() and _refused(n)))
def test_a_refused_connection_did_not_die_on_the_way(name: str) -> None:
    """A refusal came back: an `rst` has a path but no `died_at`, and its path shows the
    answer leaving the node of the endpoint that refused: the node the lab's fault names, or
    that of the pod it names (the snapshot's)."""
    fault = next(t for t in truth.load(SAMPLES / name)
                 if t["kind"] == "fault" and "rst" in t["symptoms"])
    snap = json.loads((SAMPLES / name / "snapshot.json").read_text())
    pods = {o["metadata"]["name"]: o["spec"]["nodeName"] for o in snap["items"]
            if o["kind"] == "Pod"}
    named = set(re.findall(r"\bnode ([\w.-]+)", fault["where"])) or {
        node for pod, node in pods.items() if pod in fault["detail"]}
    (node,) = named
    refused = [s for s in _document(name)["symptoms"] if s["kind"] == "rst"]
    assert refused
    for s in refused:
        assert "died_at" not in s and s["path"], s["explanation"]
        assert any(p["node"] == node and p["s2c"] for p in s["path"]), s["client"]


@pytest.mark.parametrize("name", CASES)
def test_with_no_snapshot_places_are_named_by_their_capture(name: str) -> None:
    """Each capture alone, no snapshot: no node has a name, so a place is named by its
    capture's vantage, and the place the conversation never reached by the way it was going,
    never by the same words as the place it was last seen at."""
    captures = sorted(p for p in (SAMPLES / name).iterdir() if p.suffix in {".pcap", ".pcapng"})
    judged = 0
    for capture in captures:
        doc = analyze([capture]).to_dict()
        vantage = doc["captures"][0]["vantage"]
        for s in doc["symptoms"]:
            if "died_at" not in s:
                continue
            died = s["died_at"]
            assert died["node"] is None and died["after"] != died["before"], died
            assert "?" not in s["explanation"].split("Seen at:")[-1], s["explanation"]
            if died["after"].endswith(("NIC", "device", "bridge")) or " veth " in died["after"]:
                assert died["after"].startswith(vantage), (died, vantage)
            judged += 1
    assert judged, "no failed conversation to judge"

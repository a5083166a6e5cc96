"""A NodeLocal DNSCache's upstream queries are its client's lookup, on small tables: a pod asks
the cache on its link-local address over UDP, the cache asks kube-dns over TCP from the node's
address with ids of its own (the lab's `nodelocal_dns` sample checks the same on a recording)."""

from __future__ import annotations

import dataclasses

from pcapkit.codes import DnsRcode, DnsType, IpProto
from pcapkit.detect import dns_error, dns_timeout, nxdomain_storm, run_detectors
from pcapkit.detect.config import DEFAULT
from pcapkit.detect.forwarded import through_cache
from pcapkit.flows import build_tables
from tests.detect.samples import extras, needs_sample, tables, truth
from tests.flows.frames import dns_row, syn_row, table

POD, CACHE, NODE, KUBE_DNS = "10.244.1.10", "169.254.20.10", "10.0.0.2", "10.96.0.10"
NX = DnsRcode.NXDOMAIN
COREDNS = "10.244.2.2"
#: what a snapshot would say about kube-dns and the node the cache runs on
KNOWN = dataclasses.replace(
    DEFAULT, kube_dns_names=(f"{KUBE_DNS}|Service kube-system/kube-dns",
                             f"{COREDNS}|pod kube-system/coredns-5d78c9869d-qx8tn"),
    kube_dns_servers=(KUBE_DNS, COREDNS),
    kube_node_networks=("worker-1|10.0.0.2", "worker-1|10.244.1.0/24", "worker-2|10.0.0.3",
                        "worker-2|10.244.2.0/24"))


def _through_cache(frame: int, ms: float, name: str, pod_id: int, rcode: int | None) -> list[dict]:
    """The pod's A query to the cache, the cache's upstream query over TCP, and (rcode not None)
    both answers."""
    rows = [dns_row(frame, ms, POD, 40000 + pod_id, CACHE, pod_id, name),
            dns_row(frame + 1, ms + 0.2, NODE, 50000 + pod_id, KUBE_DNS, pod_id + 1000, name,
                    proto=IpProto.TCP)]
    if rcode is not None:
        rows += [dns_row(frame + 2, ms + 1, NODE, 50000 + pod_id, KUBE_DNS, pod_id + 1000, name,
                         response=True, rcode=rcode, proto=IpProto.TCP),
                 dns_row(frame + 3, ms + 1.2, POD, 40000 + pod_id, CACHE, pod_id, name,
                         response=True, rcode=rcode)]
    return rows


def test_the_upstream_query_joins_the_pods_lookup() -> None:
    tables = build_tables(table(_through_cache(1, 0, "example.org", 1, DnsRcode.NOERROR)))
    dns = through_cache(tables.dns, DEFAULT).sort("txn")
    assert dns["lookup"].n_unique() == 1
    pod_txn = dns.filter(client_ip=POD)["txn"][0]
    assert dns.filter(client_ip=NODE)["forwarded_for"].to_list() == [pod_txn]
    assert dns.filter(client_ip=POD)["forwarded_for"].is_null().all()


def test_an_upstream_timeout_is_the_pods_timeout_not_a_second_one() -> None:
    rows = [*_through_cache(1, 0, "web.team.svc.k8s.test", 1, None),
            *_through_cache(3, 5000, "web.team.svc.k8s.test", 1, None),
            dns_row(9, 9000, POD, 41000, CACHE, 77, "other.org", qtype=DnsType.AAAA)]
    tables = build_tables(table(rows))
    findings = dns_timeout.detect(tables, DEFAULT)
    assert findings["client_ip"].to_list() == [POD]
    (extra,) = extras(findings)
    assert extra["upstream_failed"] == 1 and extra["unanswered"] == 2
    assert "NodeLocal DNS cache" in findings["explanation"][0]
    unaware = dns_timeout.detect(tables, dataclasses.replace(DEFAULT, nodelocal_dns=()))
    assert sorted(unaware["client_ip"]) == [NODE, POD]


def test_the_caches_nxdomains_are_the_pods_only() -> None:
    rows = [r for i in range(8)
            for r in _through_cache(4 * i + 1, 300 * i, f"n{i}.example.org", i + 1, NX)]
    tables = build_tables(table(rows))
    storms = nxdomain_storm.detect(tables, DEFAULT)
    assert storms["client_ip"].to_list() == [POD] and storms["count"][0] == 8
    unaware = nxdomain_storm.detect(tables, dataclasses.replace(DEFAULT, nodelocal_dns=()))
    assert sorted(unaware["client_ip"]) == [NODE, POD]


def test_a_relayed_servfail_is_the_pods_error_once() -> None:
    """kube-dns answers the cache SERVFAIL and the cache relays it: one finding, the pod's,
    naming kube-dns as where it failed; the cache is no client of its own."""
    rows = [r for i in range(3)
            for r in _through_cache(4 * i + 1, 300 * i, f"n{i}.example.org", i + 1,
                                    DnsRcode.SERVFAIL)]
    tables = build_tables(table(rows))
    findings = dns_error.detect(tables, KNOWN)
    assert findings["client_ip"].to_list() == [POD] and findings["count"].to_list() == [3]
    (extra,) = extras(findings)
    assert extra["upstream"] == f"{KUBE_DNS}:53 (Service kube-system/kube-dns)"
    assert extra["upstream_outcomes"] == {"SERVFAIL": 3}
    assert extra["cache_node"] == "node worker-1"
    upstream = {(f["capture"], f["frame"]) for f in findings["evidence"][0]}
    assert {(0, 4 * i + 2) for i in range(3)} <= upstream  # the cache's queries are cited
    unaware = dns_error.detect(tables, dataclasses.replace(DEFAULT, nodelocal_dns=()))
    assert sorted(unaware["client_ip"]) == [NODE, POD]


def _unreachable(answered: bool = True) -> list[dict]:
    """The pod asks the cache for web (A, then AAAA); for each, the cache's TCP SYNs to the
    CoreDNS pod (after DNAT) are never answered, and it answers the pod SERVFAIL after 2 s
    (`answered`), else never."""
    rows = []
    for i, qtype in enumerate((DnsType.A, DnsType.AAAA)):
        ms = 0.3 * i
        rows += [dns_row(10 * i + 1, ms, POD, 40000, CACHE, 7 + i, "web.default.svc", qtype=qtype),
                 syn_row(10 * i + 2, ms + 0.1, NODE, 50000 + i, COREDNS, 53, seq=i),
                 syn_row(10 * i + 3, ms + 1000.1, NODE, 50000 + i, COREDNS, 53, seq=i)]
        if answered:
            rows.append(dns_row(10 * i + 4, ms + 2000, POD, 40000, CACHE, 7 + i,
                                "web.default.svc", qtype=qtype, response=True,
                                rcode=DnsRcode.SERVFAIL))
    # then a connection of the pod's own that nothing answers either
    return [*rows, *(syn_row(97 + k, 20000 + 1000 * k, POD, 45000, "10.244.2.9", 8080)
                     for k in range(3))]


def test_an_unreachable_upstream_is_where_the_lookup_died() -> None:
    """The cache's connections to kube-dns that got no SYN-ACK are the pod's lookup's failure:
    the DNS finding names the CoreDNS pod, the cache's node, and cites both legs' frames; the
    connections get no finding of their own (a SYN that is no upstream leg keeps its own)."""
    tables = build_tables(table(sorted(_unreachable(), key=lambda r: r["ts_ns"])))
    findings = run_detectors(tables, KNOWN)
    assert sorted(findings["kind"]) == ["dns_error", "unanswered_syn"]
    error = findings.filter(kind="dns_error")
    assert error["client_ip"].to_list() == [POD] and error["count"].to_list() == [2]
    (extra,) = extras(error)
    assert extra["upstream"].startswith(f"{COREDNS}:53 (pod kube-system/coredns-5d78c9869d-qx8tn")
    assert extra["upstream_outcomes"] == {"no SYN-ACK": 2} and extra["lookups"] == 1
    assert extra["upstream_sockets"] == [f"{NODE}:50000", f"{NODE}:50001"]
    assert extra["cache_node"] == "node worker-1"
    assert {f["frame"] for f in error["evidence"][0]} == {1, 2, 4, 11, 12, 14}
    # the cache's connections, whose own findings the DNS one replaces, are named by id
    caches = tables.connections.filter(client_ip=NODE)["conn"].unique().sort().to_list()
    assert len(caches) == 2 and error["conns"].to_list() == [caches]
    assert findings.filter(kind="unanswered_syn")["client_ip"].to_list() == [POD]
    unaware = run_detectors(tables, dataclasses.replace(KNOWN, nodelocal_dns=()))
    assert sorted(unaware.filter(kind="unanswered_syn")["client_ip"]) == [NODE, NODE, POD]


def test_a_pod_timing_out_on_an_unreachable_upstream_is_told_where() -> None:
    """The cache never answers the pod: the pod's dns_timeout names the same upstream leg."""
    tables = build_tables(table(sorted(_unreachable(answered=False), key=lambda r: r["ts_ns"])))
    findings = run_detectors(tables, KNOWN)
    assert sorted(findings["kind"]) == ["dns_timeout", "unanswered_syn"]
    (extra,) = extras(findings.filter(kind="dns_timeout"))
    assert extra["unanswered"] == 2 and extra["upstream_outcomes"] == {"no SYN-ACK": 2}
    assert extra["upstream_sockets"] == [f"{NODE}:50000", f"{NODE}:50001"]
    caches = tables.connections.filter(client_ip=NODE)["conn"].unique().sort().to_list()
    assert findings.filter(kind="dns_timeout")["conns"].to_list() == [caches]


@needs_sample("nodelocal_dns")
def test_the_lab_cache_adds_no_lookup() -> None:
    """The lab's cache forwards every pod query to kube-dns over TCP from worker-1: each of
    those upstream transactions is one of the pod's lookups, and there are as many lookups as
    the client made (truth)."""
    lookups = [t for t in truth("nodelocal_dns") if t["kind"] == "lookup"]
    dns = through_cache(tables("nodelocal_dns").dns, DEFAULT)
    upstream = dns.filter(proto="tcp")
    assert upstream.height and upstream["forwarded_for"].is_not_null().all()
    assert dns["lookup"].n_unique() == len(lookups)

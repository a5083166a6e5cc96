"""A NodeLocal DNSCache's upstream queries are its client's lookup, on small tables: a pod asks
the cache on its link-local address over UDP, the cache asks kube-dns over TCP from the node's
address with ids of its own (the lab's `nodelocal_dns` sample checks the same on a recording)."""

from __future__ import annotations

import dataclasses

from pcapkit.codes import DnsRcode, DnsType, IpProto
from pcapkit.detect import dns_timeout, nxdomain_storm
from pcapkit.detect.config import DEFAULT
from pcapkit.detect.forwarded import through_cache
from pcapkit.flows import build_tables
from tests.detect.samples import extras, needs_sample, tables, truth
from tests.flows.frames import dns_row, table

POD, CACHE, NODE, KUBE_DNS = "10.244.1.10", "169.254.20.10", "10.0.0.2", "10.96.0.10"
NX = DnsRcode.NXDOMAIN


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
    assert "node-local DNS cache" in findings["explanation"][0]
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

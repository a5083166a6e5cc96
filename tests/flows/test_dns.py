"""DNS transactions on the lab's captures (truth: every lookup the client made) and on small
tables for the matching rules: resends, duplicates, unsolicited responses, DNAT, views."""

from __future__ import annotations

import pytest

from pcapkit.codes import DnsType
from pcapkit.flows.dns import CROSS_VIEW_TOLERANCE_NS, RESEND_WINDOW_NS, dns_transactions
from tests.detect.samples import needs_sample, tables, truth
from tests.flows.frames import MS, dns_row, table

POD, CLUSTER_IP, COREDNS = "10.244.1.10", "10.96.0.10", "10.244.2.2"


@needs_sample("healthy")
def test_healthy_lookups_are_one_transaction_per_type_across_every_view() -> None:
    """The client's lookups all resolve at the first search domain (truth), each asking A and
    AAAA once; every capture saw them, yet each is one transaction, answered, not resent."""
    lookups = [t for t in truth("healthy") if t["kind"] == "lookup"]
    assert all(t["outcome"] == "ok" for t in lookups)
    dns = tables("healthy").dns
    assert dns.height == 2 * len(lookups)
    assert dns["answered"].all() and (dns["queries"] == 1).all()
    assert (dns["views"] > 1).all()
    assert sorted(set(dns["qname"])) == sorted({t["search_expansion"][0] for t in lookups})
    # the pod asked the ClusterIP; the CoreDNS pod answered behind the DNAT
    assert set(dns["server_ip"]) == {CLUSTER_IP}
    assert all(set(ips) == {CLUSTER_IP, COREDNS} for ips in dns["server_ips"])


def test_resent_copy_is_one_transaction_answered_after_it() -> None:
    rows = [
        dns_row(1, 0, POD, 4000, CLUSTER_IP, 7, "web"),
        dns_row(2, 5000, POD, 4000, CLUSTER_IP, 7, "web"),
        dns_row(3, 5002, POD, 4000, CLUSTER_IP, 7, "web", response=True),
    ]
    [t] = dns_transactions(table(rows)).to_dicts()
    assert (t["queries"], t["resent"], t["answered_after"], t["responses"]) == (2, 1, 2, 1)
    assert t["latency_ns"] == 5002 * MS


def test_a_query_after_the_response_is_a_new_transaction() -> None:
    rows = [
        dns_row(1, 0, POD, 4000, CLUSTER_IP, 7, "web"),
        dns_row(2, 1, POD, 4000, CLUSTER_IP, 7, "web", response=True),
        dns_row(3, 2, POD, 4000, CLUSTER_IP, 7, "web", response=True),  # a duplicate
        dns_row(4, 1000, POD, 4000, CLUSTER_IP, 7, "web"),
    ]
    txns = dns_transactions(table(rows))
    assert txns["responses"].to_list() == [2, 0]
    assert txns["answered"].to_list() == [True, False]


def test_copies_further_apart_than_the_resend_window_are_separate() -> None:
    later = RESEND_WINDOW_NS / MS + 1
    rows = [dns_row(1, 0, POD, 4000, CLUSTER_IP, 7, "web"),
            dns_row(2, later, POD, 4000, CLUSTER_IP, 7, "web")]
    assert dns_transactions(table(rows)).height == 2


def test_unsolicited_response_is_a_transaction_without_query() -> None:
    [t] = dns_transactions(table([dns_row(1, 0, POD, 4000, CLUSTER_IP, 7, "web", response=True)])
                           ).to_dicts()
    assert (t["queries"], t["answered"], t["answered_after"]) == (0, True, 0)


def test_response_from_the_pod_behind_the_dnat_matches_on_the_client_side() -> None:
    """Node view after DNAT: the query to the ClusterIP leaves the pod; the response comes from
    the CoreDNS pod IP on cni0. Same client port, id and question: one transaction."""
    rows = [
        dns_row(1, 0, POD, 4000, CLUSTER_IP, 7, "web", ifindex=5),
        dns_row(2, 0.01, POD, 4000, COREDNS, 7, "web", ifindex=3),
        dns_row(3, 1, POD, 4000, COREDNS, 7, "web", response=True, ifindex=3),
        dns_row(4, 1.01, POD, 4000, CLUSTER_IP, 7, "web", response=True, ifindex=5),
    ]
    [t] = dns_transactions(table(rows)).to_dicts()
    assert t["server_ip"] == CLUSTER_IP and set(t["server_ips"]) == {CLUSTER_IP, COREDNS}
    assert t["views"] == 2 and t["queries"] == 1 and t["answered"]


def test_response_lost_before_the_client_leaves_it_unanswered() -> None:
    """The reply is seen on the DNS server's node and never in the client's pod: unanswered for
    the client, `response_seen` set."""
    rows = [
        dns_row(1, 0, POD, 4000, CLUSTER_IP, 7, "web", capture=0),
        dns_row(1, 0.1, POD, 4000, COREDNS, 7, "web", capture=1),
        dns_row(2, 1, POD, 4000, COREDNS, 7, "web", response=True, capture=1),
    ]
    [t] = dns_transactions(table(rows)).to_dicts()
    assert (t["answered"], t["response_seen"], t["views"]) == (False, True, 2)


@pytest.mark.parametrize("gap_ms", [1, CROSS_VIEW_TOLERANCE_NS / MS + 1000])
def test_views_merge_only_when_their_spans_meet(gap_ms: float) -> None:
    rows = [
        dns_row(1, 0, POD, 4000, CLUSTER_IP, 7, "web", capture=0),
        dns_row(2, 0.5, POD, 4000, CLUSTER_IP, 7, "web", response=True, capture=0),
        dns_row(1, gap_ms, POD, 4000, CLUSTER_IP, 7, "web", capture=1),
    ]
    merged = gap_ms < CROSS_VIEW_TOLERANCE_NS / MS
    assert dns_transactions(table(rows)).height == (1 if merged else 2)


def test_a_and_aaaa_and_case_of_the_name() -> None:
    """Same id, another type: another transaction. Same question in other letter case (DNS 0x20):
    the same one."""
    rows = [
        dns_row(1, 0, POD, 4000, CLUSTER_IP, 7, "Web"),
        dns_row(2, 0, POD, 4000, CLUSTER_IP, 7, "web", qtype=DnsType.AAAA),
        dns_row(3, 1, POD, 4000, CLUSTER_IP, 7, "wEB", response=True),
    ]
    txns = dns_transactions(table(rows)).sort("qtype")
    assert txns["answered"].to_list() == [True, False]
    assert txns["qname"].to_list() == ["Web", "web"]

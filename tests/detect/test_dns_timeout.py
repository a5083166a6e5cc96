"""dns_timeout on the lab (truth: each lookup's duration; glibc re-sends after 5 s, so a lookup
that took 5 s or more was re-sent) and the conntrack race signature on small tables."""

from __future__ import annotations

import dataclasses
import json

import polars as pl
import pytest

from pcapkit.codes import DnsRcode, DnsType
from pcapkit.decode import decode
from pcapkit.decode.dns_message import LLMNR_PORT
from pcapkit.detect import dns_timeout
from pcapkit.detect.config import DEFAULT
from pcapkit.flows import build_tables
from pcapkit.read import read_capture
from tests.conftest import ZEEK_CORPUS, needs_corpus
from tests.detect.samples import extras, needs_sample, tables, truth
from tests.flows.frames import dns_row, table

GLIBC_TIMEOUT_S = 5  # resolv.conf's default `timeout`
POD, DNS = "10.244.1.10", "10.96.0.10"


@needs_sample("dns_timeout")
def test_the_slow_lookups_and_only_them() -> None:
    lookups = [t for t in truth("dns_timeout") if t["kind"] == "lookup"]
    slow = [t for t in lookups if t["duration"] >= GLIBC_TIMEOUT_S or t["outcome"] == "timeout"]
    assert slow, "the sample holds no slow lookup"
    findings = dns_timeout.detect(tables("dns_timeout"), DEFAULT)

    def lookup_of(ts_ns: int) -> float:
        return next(t["ts"] for t in lookups if t["ts"] <= ts_ns / 1e9 <= t["ts"] + t["duration"])

    assert {lookup_of(ts) for ts in findings["first_ts_ns"]} == {t["ts"] for t in slow}
    assert findings.height == len(slow)  # one finding per lookup, whatever sockets it used
    by_ts = {t["ts"]: t for t in lookups}
    for ts, extra in zip(findings["first_ts_ns"], extras(findings), strict=True):
        assert extra["answered_after_resend"] + extra["unanswered"] > 0
        t = by_ts[lookup_of(ts)]
        assert extra["name"] == t["name"]
        assert set(extra["steps"]) <= set(t["search_expansion"])


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=needs_sample(n)) for n in ("healthy", "nxdomain_storm")]
)
def test_nothing_where_every_query_was_answered_at_once(name: str) -> None:
    assert dns_timeout.detect(tables(name), DEFAULT).is_empty()


def _pair(aaaa_after_ms: float, a_answered_first: bool) -> list[dict]:
    """An A and an AAAA query from one socket; one of them re-sent 5 s later and answered."""
    first, second = (DnsType.A, DnsType.AAAA) if a_answered_first else (DnsType.AAAA, DnsType.A)
    ids = {DnsType.A: 10, DnsType.AAAA: 11}
    return [
        dns_row(1, 0, POD, 4000, DNS, 10, "web", qtype=DnsType.A),
        dns_row(2, aaaa_after_ms, POD, 4000, DNS, 11, "web", qtype=DnsType.AAAA),
        dns_row(3, 2, POD, 4000, DNS, ids[first], "web", qtype=first, response=True),
        dns_row(4, 5000, POD, 4000, DNS, ids[second], "web", qtype=second),
        dns_row(5, 5001, POD, 4000, DNS, ids[second], "web", qtype=second, response=True),
    ]


@pytest.mark.parametrize("a_answered_first", [True, False])
def test_conntrack_race_signature(a_answered_first: bool) -> None:
    findings = dns_timeout.detect(build_tables(table(_pair(0.05, a_answered_first))), DEFAULT)
    assert findings.height == 1 and findings["count"][0] == 1
    assert json.loads(findings["extra"][0])["conntrack_race"] is True
    explanation = findings["explanation"][0]
    assert "conntrack" in explanation and "single-request-reopen" in explanation
    assert "NodeLocal DNSCache" in explanation


def test_no_race_when_the_queries_were_not_sent_together() -> None:
    gap_ms = DEFAULT.dns_race_max_gap_ms * 20
    findings = dns_timeout.detect(build_tables(table(_pair(gap_ms, True))), DEFAULT)
    assert json.loads(findings["extra"][0])["conntrack_race"] is False


def test_unanswered_needs_the_capture_to_go_on() -> None:
    """A query in the capture's last instant had no chance: not a timeout."""
    wait_ms = DEFAULT.dns_timeout_min_wait_s * 1000
    last = [dns_row(1, 0, POD, 4000, DNS, 10, "web")]
    assert dns_timeout.detect(build_tables(table(last)), DEFAULT).is_empty()
    later = [*last, dns_row(2, wait_ms + 1, POD, 4001, DNS, 12, "other", response=True)]
    findings = dns_timeout.detect(build_tables(table(later)), DEFAULT)
    assert json.loads(findings["extra"][0])["unanswered"] == 1


def test_one_race_among_many_queries_of_one_socket() -> None:
    """A forwarder's socket sends thousands of A/AAAA pairs, all answered at once but one: only
    that pair is the race (each query is paired with the other type's queries sent near it,
    never with every query of the socket)."""
    rows, frame = [], 0
    for pair in range(2000):
        at = pair * 100.0  # ms: pairs 100 ms apart, far beyond the race gap
        for qtype, txid in ((DnsType.A, 2 * pair), (DnsType.AAAA, 2 * pair + 1)):
            rows.append(dns_row(frame := frame + 1, at, POD, 4000, DNS, txid, "x", qtype=qtype))
            if pair != 700 or qtype == DnsType.A:  # the AAAA of pair 700 is lost, then re-sent
                rows.append(dns_row(frame := frame + 1, at + 1, POD, 4000, DNS, txid, "x",
                                    qtype=qtype, response=True))
    rows.append(dns_row(frame + 1, 70_000 + 5000, POD, 4000, DNS, 1401, "x", qtype=DnsType.AAAA))
    rows.append(dns_row(frame + 2, 70_000 + 5001, POD, 4000, DNS, 1401, "x", qtype=DnsType.AAAA,
                        response=True))
    findings = dns_timeout.detect(build_tables(table(rows)), DEFAULT)
    assert findings.height == 1 and findings["count"][0] == 1
    assert json.loads(findings["extra"][0])["conntrack_race"] is True


def test_one_finding_for_a_lookup_whose_steps_used_several_sockets() -> None:
    """The first search step times out on one socket (sent twice, same id), the resolver moves
    on to the name itself from new sockets: one lookup, one finding listing both steps."""
    step = "blob.team.svc.k8s.test"
    rows = [
        dns_row(1, 0, POD, 4000, DNS, 7, step, qtype=DnsType.A),
        dns_row(2, 0.1, POD, 4000, DNS, 8, step, qtype=DnsType.AAAA),
        dns_row(3, 5000, POD, 4000, DNS, 7, step, qtype=DnsType.A),
        dns_row(4, 5000.1, POD, 4000, DNS, 8, step, qtype=DnsType.AAAA),
        dns_row(5, 10_000, POD, 4100, DNS, 9, "blob", qtype=DnsType.A),
        dns_row(6, 10_001, POD, 4100, DNS, 9, "blob", qtype=DnsType.A, response=True,
                rcode=DnsRcode.NXDOMAIN),
        dns_row(7, 10_000.2, POD, 4200, DNS, 10, "blob", qtype=DnsType.AAAA),
        dns_row(8, 10_001.2, POD, 4200, DNS, 10, "blob", qtype=DnsType.AAAA, response=True,
                rcode=DnsRcode.NXDOMAIN),
        # the application asks again a moment later: a lookup of its own, answered at once
        dns_row(9, 10_100, POD, 4300, DNS, 11, step, qtype=DnsType.A),
        dns_row(10, 10_101, POD, 4300, DNS, 11, step, qtype=DnsType.A, response=True),
    ]
    findings = dns_timeout.detect(build_tables(table(rows)), DEFAULT)
    assert findings.height == 1
    (extra,) = extras(findings)
    assert extra["name"] == "blob" and extra["steps"] == [step, "blob"]
    assert extra["unanswered"] == 2
    assert extra["sockets"] == [f"{POD}:4000", f"{POD}:4100", f"{POD}:4200"]
    assert findings["client_port"][0] == 4000


@needs_corpus()
def test_unanswered_llmnr_query_is_no_timeout() -> None:
    """A multicast name query (LLMNR here, mDNS alike) is answered by whichever host holds the
    name, or by none: it is a transaction, never a resolver's timeout."""
    path = ZEEK_CORPUS / "core.tunnels.gtp.inner_ipv6" / "gtp7_ipv6.pcap"
    built = build_tables(decode(read_capture(path)))
    llmnr = built.dns.filter(pl.col("server_port") == LLMNR_PORT)
    assert llmnr.height == 1 and not llmnr["answered"].any()
    patient = dataclasses.replace(DEFAULT, dns_timeout_min_wait_s=0.0)
    assert dns_timeout.detect(built, patient).is_empty()
    # the same query to a resolver's port would be one
    unicast = built.packets.with_columns(pl.col("dport").replace(LLMNR_PORT, 53))
    assert dns_timeout.detect(build_tables(unicast), patient).height == 1

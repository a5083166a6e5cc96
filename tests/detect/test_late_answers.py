"""late_answers.refused pairs each refusal with one answer, in arrival order, on small tables:
the lab's nodelocal_pod_timeout holds the same shapes, but which one a run records is timing."""

from __future__ import annotations

from typing import Any

from pcapkit.codes import DnsType, IcmpType, IcmpUnreachCode, IpProto
from pcapkit.detect.late_answers import refused
from pcapkit.flows import build_tables
from tests.flows.frames import MS, dns_row, table

POD, DNS = "10.244.1.10", "10.96.0.10"


def _refusal(frame: int, ms: float, port: int) -> dict[str, Any]:
    """The pod's host answering a DNS answer to its closed `port` with a port unreachable."""
    return {
        "capture": 0, "frame": frame, "ts_ns": int(ms * MS), "iface": 0, "status": "ok",
        "ip_version": 4, "ip_proto": IpProto.ICMP, "src": POD, "dst": DNS,
        "icmp_type": IcmpType.DEST_UNREACH, "icmp_code": IcmpUnreachCode.PORT,
        "icmp_q_src": DNS, "icmp_q_dst": POD, "icmp_q_proto": IpProto.UDP,
        "icmp_q_sport": 53, "icmp_q_dport": port,
    }


def _lookup(frame: int, ms: float, answered_ms: float, port: int, dns_id: int,
            qtype: int) -> list[dict[str, Any]]:
    return [dns_row(frame, ms, POD, port, DNS, dns_id, "web", qtype=qtype),
            dns_row(frame + 1, answered_ms, POD, port, DNS, dns_id, "web", qtype=qtype,
                    response=True)]


def _refused_frames(rows: list[dict[str, Any]]) -> dict[int, list[int]]:
    """Each refused transaction's query frame: its refusals' frames."""
    tables = build_tables(table(rows))
    pairs = refused(tables.dns, tables.icmp_errors).join(tables.dns, on="txn")
    return {q[0]["frame"]: [f["frame"] for f in r]
            for q, r in zip(pairs["query_frames"], pairs["refused_frames"], strict=True)}


def test_two_answers_before_the_first_refusal_meet_one_refusal_each() -> None:
    # the A and AAAA answers both reach the closed socket before its host refuses the first
    rows = [*_lookup(1, 0, 5000, 4000, 10, DnsType.A),
            *_lookup(3, 1, 5001, 4000, 11, DnsType.AAAA),
            _refusal(5, 5002, 4000), _refusal(6, 5003, 4000)]
    assert _refused_frames(rows) == {1: [5], 3: [6]}


def test_answers_and_refusals_interleaved() -> None:
    rows = [*_lookup(1, 0, 5000, 4000, 10, DnsType.A), _refusal(3, 5001, 4000),
            *_lookup(4, 1, 5002, 4000, 11, DnsType.AAAA), _refusal(6, 5003, 4000)]
    assert _refused_frames(rows) == {1: [3], 4: [6]}


def test_the_answer_read_before_the_socket_closed_is_not_refused() -> None:
    # the A answer was read; the AAAA answer came after the socket closed, just before the
    # refusal: of the two answers that meet the one refusal, the latest is the refused one
    rows = [*_lookup(1, 0, 70, 4000, 10, DnsType.A), *_lookup(3, 1, 80, 4000, 11, DnsType.AAAA),
            _refusal(5, 81, 4000)]
    assert _refused_frames(rows) == {3: [5]}


def test_a_refusal_long_after_an_answer_or_on_another_socket_refuses_nothing() -> None:
    rows = [*_lookup(1, 0, 10, 4000, 10, DnsType.A), _refusal(3, 5000, 4000),
            *_lookup(4, 0, 10, 4001, 11, DnsType.A), _refusal(6, 11, 4002)]
    assert _refused_frames(rows) == {}

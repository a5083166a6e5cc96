"""unanswered_syn against the lab's truth, and the backoff classification on numbers."""

from __future__ import annotations

import json

import pytest

from pcapkit.detect import unanswered_syn
from pcapkit.detect.findings import FINDINGS_SCHEMA
from tests.detect.tcp_samples import SCENARIOS, attempts, clients, run, tables

#: Linux's initial SYN retransmission timeout: a connect() that lasted longer sent a second SYN
SYN_RTO_S = 1.0


@pytest.mark.parametrize("name", SCENARIOS)
def test_exactly_the_timed_out_attempts(name: str) -> None:
    """Every attempt whose connect() the lab saw wait past the first SYN's retransmission
    timeout (1 s) without an answer, and nothing else: SYNs that timed out (policy_drop), and
    SYNs retried until an ICMP error ended connect() (stale_endpoint's EHOSTUNREACH after ~3 s).
    Prompt refusals by RST or ICMP (not_listening, no_endpoints), transfers that hung after the
    handshake (mtu_blackhole) and healthy connections raise none."""
    found = run(unanswered_syn, name)
    assert found.schema == FINDINGS_SCHEMA
    timed_out = {a["client"] for a in attempts(name, "timeout") if "SYN" in a["detail"]}
    retried = {a["client"] for a in attempts(name) if a["outcome"] in ("error", "refused")
               and "at connect" in a["detail"] and a["duration"] >= SYN_RTO_S}
    assert clients(found) == timed_out | retried


def test_policy_drop_retries_and_intervals() -> None:
    found = run(unanswered_syn, "policy_drop")
    for extra, count, evidence in found.select("extra", "count", "evidence").rows():
        got = json.loads(extra)
        assert got["retries"] == count - 1 == len(got["intervals_s"])
        assert all(i > 0.5 for i in got["intervals_s"])
        # every capture saw them
        assert {e["capture"] for e in evidence} == set(range(len(tables("policy_drop").spans)))


def test_backoff_kinds() -> None:
    assert unanswered_syn.backoff([1.0, 2.01, 3.98], 0.25) == "exponential"
    assert unanswered_syn.backoff([1.02, 1.02], 0.25) == "linear"
    assert unanswered_syn.backoff([1.0, 1.0, 1.0, 1.0, 2.0, 4.0], 0.25) == "linear"
    assert unanswered_syn.backoff([1.0, 1.0, 3.0], 0.25) == "irregular"
    assert unanswered_syn.backoff([0.3, 0.6], 0.25) == "irregular"
    assert unanswered_syn.backoff([], 0.25) is None

"""retransmission against the lab's truth and tshark."""

from __future__ import annotations

import dataclasses
import json

import pytest

from pcapkit.detect import retransmission
from pcapkit.detect.config import DEFAULT
from pcapkit.flows.schema import TcpAnalysis
from tests.conftest import needs_tshark
from tests.detect.tcp_samples import SCENARIOS, attempts, clients, run, scenario
from tests.flows.tcp_oracles import table, tshark_tcp
from tests.lab.captures import tshark


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n not in ("lossy_underlay",
                                                                    "mtu_blackhole")])
def test_no_retransmission_without_loss(name: str) -> None:
    """Healthy and refusal scenarios lose no segment: no finding (SYN retries of unanswered
    attempts are unanswered_syn's)."""
    assert run(retransmission, name).is_empty()


def test_lossy_underlay_is_found_on_a_lab_connection() -> None:
    found = run(retransmission, "lossy_underlay")
    assert not found.is_empty()
    assert clients(found) <= {a["client"] for a in attempts("lossy_underlay")}


@needs_tshark()
def test_counts_are_the_most_any_view_saw_and_equal_tshark_on_the_pod() -> None:
    """In the client pod's own capture (one view) the classes count what tshark flags, but the
    retransmitted SYNs of handshakes that never completed (unanswered_syn's, as the detector's
    docstring says): a completed one is a stream whose client acknowledged the SYN-ACK."""
    pod = sorted(scenario("lossy_underlay").glob("pod-*.pcap"))[0]
    found = retransmission.detect(table([pod]), DEFAULT)
    ts = tshark_tcp(pod)
    completed = {row[0] for row in tshark(
        pod, "tcp.flags.syn==0 && tcp.flags.ack==1 && tcp.seq==1 && tcp.ack==1", "tcp.stream")}
    syns = {int(frame) for frame, stream in tshark(
        pod, "tcp.flags.syn==1 && tcp.flags.ack==0", "frame.number", "tcp.stream")
        if stream not in completed}
    flagged = (ts.flagged["tcp.analysis.retransmission"]
               | ts.flagged["tcp.analysis.out_of_order"]) - syns
    total = sum(json.loads(e)[k] for e in found["extra"] for k in retransmission.CLASSES)
    assert total == int(found["count"].sum()) == len(flagged)
    assert int(found["count"].sum()) == sum(len(e) for e in found["evidence"])
    assert TcpAnalysis.RETRANSMISSION in retransmission.CLASSES.values()


def test_a_late_connection_is_told_whole_when_no_view_saw_its_syn_ack() -> None:
    """The lossy_underlay client's capture with its SYN-ACKs left out (a vantage that saw one
    direction only; the connection table, from every packet, still says the handshake
    completed): the late connection is still reported, with its re-sent SYN and an explanation,
    and no `connect_delay_s`."""
    pod = sorted(scenario("lossy_underlay").glob("pod-*.pcap"))[0]
    tables = table([pod])
    full = retransmission.detect(tables, DEFAULT)
    late = [json.loads(e) for e in full["extra"] if "syn_retries" in json.loads(e)]
    assert late and all(e["connect_delay_s"] >= 1 for e in late)  # the first SYN RTO: 1 s
    one_way = dataclasses.replace(tables, packets=tables.packets.filter(~retransmission.SYN_ACK))
    found = retransmission.detect(one_way, DEFAULT)
    extras = [json.loads(e) for e in found["extra"]]
    assert sum("syn_retries" in e for e in extras) == len(late)
    assert not any("connect_delay_s" in e for e in extras)
    assert found["explanation"].null_count() == 0
    assert found["explanation"].str.contains("re-sent its SYN").sum() == len(late)

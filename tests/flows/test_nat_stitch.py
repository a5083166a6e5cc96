"""Connections whose both ends a NAT rewrote (a NodePort's DNAT plus masquerade), stitched by the
client's ISN, its SYN's IP id and time (tcp.py, rule 4), against tshark and the lab's truth.

tshark gives the SYNs of a node's `-i any` capture with their 5-tuple, raw sequence number and
IP id; each (sequence number, IP id) is one SYN the client sent, seen before and after the node
rewrote it. pcapkit must make each such SYN one connection, and different SYNs different ones.
"""

from __future__ import annotations

import pytest

from pcapkit.codes import TcpFlags
from samples.lab import truth
from tests.conftest import SAMPLES
from tests.flows.tcp_oracles import table
from tests.lab.captures import tshark

SYN = "tcp.flags.syn==1 && tcp.flags.ack==0"


@pytest.mark.parametrize("name", ["nodeport", "healthy"])
def test_each_syn_across_the_nat_is_one_connection(name: str) -> None:
    capture = SAMPLES / name / "node-worker-1-any.pcap"
    if not capture.exists():
        pytest.skip(f"lab sample {name} not recorded")
    # A VXLAN-encapsulated SYN lists the outer header's fields, then the inner's: the inner.
    syns = [[f.split(",")[-1] for f in row] for row in tshark(
        capture, SYN, "frame.number", "ip.src", "tcp.srcport", "tcp.seq_raw", "ip.id")]
    sent: dict[tuple[int, int], set[int]] = {}
    for frame, _, _, seq, ip_id in syns:
        sent.setdefault((int(seq), int(ip_id, 16)), set()).add(int(frame))
    packets = table([capture]).packets.with_row_index("row")
    flags = int(TcpFlags.SYN) | int(TcpFlags.ACK)
    # A copy of a packet within its view carries no `conn` (tcp.py, rule 5): its original does.
    mine = packets.filter(((packets["tcp_flags"] & flags) == int(TcpFlags.SYN))
                          & packets["conn"].is_not_null())
    conn_of = dict(zip(mine["frame"].to_list(), mine["conn"].to_list(), strict=True))
    conns = [{conn_of[f] for f in frames if f in conn_of} for frames in sent.values()]
    assert all(len(c) == 1 for c in conns), conns
    assert len({c.pop() for c in conns}) == len(sent)
    # The SYNs NAT rewrote both ends of are the external client's, as the truth lists them.
    external = {a["client"] for a in truth.load(SAMPLES / name)
                if a["kind"] == "attempt" and a["client_pod"] is None
                and a["resolved"].startswith("172.18.0.11:")}
    rewritten = {f"{src}:{sport}" for _, src, sport, seq, ip_id in syns
                 if len({s for _, s, _, q, i in syns if (q, i) == (seq, ip_id)}) > 1}
    assert external <= rewritten

"""TCP connections against tshark's streams (single-vantage captures) and the lab's truth."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import SAMPLES, needs_tshark
from tests.detect.tcp_samples import SCENARIOS, attempts, tables
from tests.flows.tcp_oracles import CLIENT, SERVER, Seg, table, tshark_tcp, write_pcap
from tests.lab.captures import tshark

SYN, ACK, FIN, RST = 0x02, 0x10, 0x01, 0x04
PODS = sorted(SAMPLES.glob("*/pod-*.pcap"))


def _check_against_tshark(path: Path) -> None:
    """pcapkit's connections are tshark's streams, the two streams of one SYN seen before and
    after a NAT that rewrote both ends (a pod reaching itself through its Service: the same raw
    sequence number and IP id, another 5-tuple) taken as one (tcp.py, rule 4). A view that saw
    such a packet under both 5-tuples (the pod's eth0 sees it leave and come back) counts it
    once (`tcp_copies`): only frames of such joined streams may be left out."""
    packets = table([path]).packets.filter(pl.col("conn").is_not_null())
    ts = tshark_tcp(path)
    ours: dict[int, set[int]] = defaultdict(set)
    theirs: dict[int, set[int]] = defaultdict(set)
    for frame, conn in packets.select("frame", "conn").rows():
        ours[conn].add(frame)
    first: dict[tuple[str, str], int] = {}
    same: dict[int, int] = {}
    for stream, seq, ip_id in tshark(path, "tcp.flags.syn==1 && tcp.flags.ack==0",
                                     "tcp.stream", "tcp.seq_raw", "ip.id"):
        same[int(stream)] = first.setdefault((seq, ip_id), int(stream))
    joined = {root for stream, root in same.items() if stream != root}
    counted = {frame for frames in ours.values() for frame in frames}
    for frame, stream in ts.stream.items():
        root = same.get(stream, stream)
        if frame in counted or root not in joined:
            theirs[root].add(frame)
    assert sorted(map(sorted, ours.values())) == sorted(map(sorted, theirs.values()))


@needs_tshark()
@pytest.mark.parametrize("path", PODS, ids=lambda p: p.parent.name)
def test_connections_are_tsharks_streams(path: Path) -> None:
    _check_against_tshark(path)


@needs_tshark()
@pytest.mark.parametrize("path", PODS[:3], ids=lambda p: p.parent.name)
def test_bytes_and_handshake_rtt_equal_tsharks(path: Path) -> None:
    tabs = table([path])
    ts = tshark_tcp(path)
    by_stream: dict[int, dict[tuple[str, int], int]] = defaultdict(lambda: defaultdict(int))
    for frame, stream in ts.stream.items():
        by_stream[stream][ts.sender[frame]] += ts.length[frame]
    stream_of_frame = ts.stream
    for row in tabs.connections.iter_rows(named=True):  # each row: one 5-tuple of one view
        stream = stream_of_frame[row["first_frame"]]
        sent = by_stream[stream]
        assert row["bytes_c2s"] == sent.get((row["client_ip"], row["client_port"]), 0)
        assert row["bytes_s2c"] == sent.get((row["server_ip"], row["server_port"]), 0)
        if row["syn_count"] == 1 and row["synack_ack_ns"] is not None:
            rtt = (row["syn_synack_ns"] + row["synack_ack_ns"]) / 1e9
            assert rtt == pytest.approx(ts.initial_rtt[stream], abs=1e-6)


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_lab_attempt_is_one_connection_in_every_capture(name: str) -> None:
    """The client's (ip, port) of each attempt: one `conn`, seen in several captures, with the
    client being the pod and the server, in the pod's capture, the Service it resolved."""
    tabs = tables(name)
    for attempt in attempts(name):
        ip, port = attempt["client"].rsplit(":", 1)
        rows = tabs.connections.filter(
            (pl.col("client_ip") == ip) & (pl.col("client_port") == int(port))
        )
        if rows.is_empty():
            continue  # the attempt never got as far as a SYN (name did not resolve)
        assert rows["conn"].n_unique() == 1, attempt["client"]
        pod = rows.filter(pl.col("capture") == rows["capture"].min()).sort("first_ts_ns")
        assert rows["capture"].n_unique() > 1
        if attempt.get("resolved"):
            assert f"{pod['server_ip'][0]}:{pod['server_port'][0]}" in {
                f"{s}:{p}" for s, p in rows.select("server_ip", "server_port").rows()
            }


@needs_tshark()
def test_port_reuse_splits_like_tshark(tmp_path: Path) -> None:
    segs = [
        Seg(0.0, True, SYN, 1000), Seg(0.01, False, SYN | ACK, 5000, 1001),
        Seg(0.02, True, ACK, 1001, 5001), Seg(0.03, True, FIN | ACK, 1001, 5001),
        Seg(0.04, False, FIN | ACK, 5001, 1002), Seg(0.05, True, ACK, 1002, 5002),
        Seg(1.0, True, SYN, 9000), Seg(1.5, True, SYN, 9000),
        Seg(1.51, False, SYN | ACK, 7000, 9001),
    ]
    path = write_pcap(tmp_path / "reuse.pcap", segs)
    _check_against_tshark(path)
    conns = table([path]).connections.sort("conn")
    assert conns["client_isn"].to_list() == [1000, 9000]
    assert conns["syn_count"].to_list() == [1, 2]
    assert conns["syn_synack_ns"].to_list()[1] == 10_000_000  # from the SYN it answered


def test_mid_stream_the_lower_port_is_the_server(tmp_path: Path) -> None:
    segs = [Seg(0.0, False, ACK, 7000, 3000, 10), Seg(0.01, True, ACK, 3000, 7010, 10)]
    row = table([write_pcap(tmp_path / "mid.pcap", segs)]).connections.row(0, named=True)
    assert (row["client_ip"], row["client_port"]) == CLIENT
    assert (row["server_ip"], row["server_port"]) == SERVER
    assert row["client_isn"] is None and row["conn_state"] == "OTH"

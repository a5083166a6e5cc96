"""A client 4-tuple used again: each symptom's path is its own connection's, the one whose time
span meets the symptom's, not the first connection of its 4-tuple (`pcapkit.kube.path._chosen`).

The capture is a lab recording followed by the same packets a minute later, their sequence
numbers moved (a new connection with the same ports: rule 2 of `pcapkit/flows/tcp.py`), written
with dpkt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dpkt
import polars as pl
import pytest

from pcapkit.api import analyze
from tests.conftest import SAMPLES

POD_CAPTURE = SAMPLES / "stale_endpoint" / "pod-client-7c9f8b6d5-h2m4k.pcap"
LATER_S = 60
SEQ_SHIFT = 0x12345678


def _used_again(src: Path, out: Path) -> float:
    """Write `src` then its packets again `LATER_S` later, each TCP segment's sequence and
    acknowledgement numbers moved by `SEQ_SHIFT`; returns when the second run begins."""
    with src.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        link = reader.datalink()
        packets = list(reader)
    with out.open("wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=link, nano=True)
        for ts, buf in packets:
            writer.writepkt(buf, ts)
        for ts, buf in packets:
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP):
                tcp = ip.data
                tcp.seq = (tcp.seq + SEQ_SHIFT) % (1 << 32)
                tcp.ack = (tcp.ack + SEQ_SHIFT) % (1 << 32)
                tcp.sum = ip.sum = 0  # dpkt computes both again as it packs them
                buf = bytes(eth)
            writer.writepkt(buf, ts + LATER_S)
    return packets[0][0] + LATER_S


def test_each_symptom_takes_the_path_of_its_own_connection(tmp_path: Path) -> None:
    once = analyze([POD_CAPTURE])
    capture = tmp_path / "twice.pcap"
    second = _used_again(POD_CAPTURE, capture)
    analysis = analyze([capture])
    conns = analysis.tables.connections
    assert conns.height == 2 * once.tables.connections.height
    symptoms = analysis.to_dict()["symptoms"]
    assert len(symptoms) > len(once.to_dict()["symptoms"])
    for s in symptoms:
        # The connections of its 4-tuple: the one whose span meets the symptom's, else the
        # earliest; its packets all seen at the one place this capture is.
        client_ip, client_port = s["client"].rsplit(":", 1)
        server_ip, server_port = s["server"].rsplit(":", 1)
        spans = sorted(
            (first / 1e9, last / 1e9) for first, last in conns.filter(
                (pl.col("client_ip") == client_ip) & (pl.col("client_port") == int(client_port))
                & (pl.col("server_ip") == server_ip)
                & (pl.col("server_port") == int(server_port)))
            .select("first_ts_ns", "last_ts_ns").rows())
        assert len(spans) == 2
        meets = [(first, last) for first, last in spans
                 if first <= s["last_ts"] and last >= s["first_ts"]]
        # to the millisecond: approx's default, a millionth, is half an hour of an epoch time
        expected = pytest.approx((meets or spans)[0][0], abs=1e-3)
        assert [p["first_ts"] for p in s["path"]] == [expected]
    # The symptoms of each connection (not of its 4-tuple) are each run's own: the first run's
    # have the paths the recording alone has.
    by_conn = [s for s in symptoms if s["kind"] == "unanswered_syn"]
    assert [s["first_ts"] >= second - 1 for s in by_conn].count(True) == len(by_conn) // 2
    alone = [_places(s) for s in once.to_dict()["symptoms"] if s["kind"] == "unanswered_syn"]
    assert [_places(s) for s in by_conn if s["first_ts"] < second - 1] == alone


def _places(symptom: dict[str, Any]) -> list[dict[str, Any]]:
    """What a symptom's path says of each place, less the capture's name and clock."""
    return [{k: p[k] for k in ("place", "label", "c2s", "s2c")} for p in symptom["path"]]

"""bench/copies.py: N port-shifted copies of a capture are N times its flows, not the same ones
N times, and stay a capture other tools read."""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl
import pytest

import pcapkit
from bench.copies import SERVER_PORTS, make, scan
from tests.conftest import SAMPLES, needs_tshark

COPIES = 3
CAPTURES = [
    SAMPLES / "healthy" / "node-worker-1-any.pcap",  # Linux cooked v2, VXLAN 8472 on eth0, DNS
    SAMPLES / "healthy" / "node-worker-1-eth0.pcap",  # Ethernet, the underlay: VXLAN only
    SAMPLES / "vxlan_4789" / "node-worker-1-eth0.pcap",  # VXLAN on 4789
]


def _copies(source: Path, tmp_path: Path, copies: int = COPIES) -> Path:
    out = tmp_path / f"{source.parent.name}-{source.name}"
    packets = scan(source).packets
    assert make(source, out, copies * packets) == copies * packets
    return out


def _flows(frame: pl.DataFrame) -> set[tuple[object, ...]]:
    return set(frame.select("client_ip", "client_port", "server_ip", "server_port").iter_rows())


def _lookups(dns: pl.DataFrame) -> set[tuple[object, ...]]:
    # not server_ip: which view (ClusterIP or pod IP) names the server varies between runs
    return set(dns.select("client_ip", "client_port", "dns_id", "qtype").iter_rows())


@pytest.mark.parametrize("source", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_copies_are_distinct_flows(source: Path, tmp_path: Path) -> None:
    one = pcapkit.analyze([source])
    many = pcapkit.analyze([_copies(source, tmp_path)])
    assert len(many.packets) == COPIES * len(one.packets)
    assert len(one.connections) and len(many.connections) == COPIES * len(one.connections)
    # ... each its own connection: copies do not share initial sequence numbers
    assert many.connections["conn"].n_unique() == COPIES * one.connections["conn"].n_unique()
    assert len(many.dns) == COPIES * len(one.dns)
    assert len(_flows(many.connections)) == COPIES * len(_flows(one.connections))
    assert len(_lookups(many.dns)) == COPIES * len(_lookups(one.dns))
    # server ports and tunnels are kept: only client ports moved
    assert set(many.connections["server_port"]) == set(one.connections["server_port"])
    assert set(many.packets["tunnel"].drop_nulls()) == set(one.packets["tunnel"].drop_nulls())
    assert set(one.packets["outer_dport"].drop_nulls()) <= SERVER_PORTS
    # the file stays in time order, copy after copy
    ts = many.packets["ts_ns"].to_numpy().reshape(COPIES, -1)
    assert (ts[1:].min(axis=1) > ts[:-1].max(axis=1)).all()


def test_icmp_errors_quote_the_copy_ports(tmp_path: Path) -> None:
    """An ICMP error quotes the shifted ports of its own copy's SYN, so it stays linked to it."""
    source = SAMPLES / "no_endpoints" / "pod-client-7c9f8b6d5-h2m4k.pcap"
    n = scan(source).packets
    packets = pcapkit.analyze([_copies(source, tmp_path)]).packets.with_columns(
        copy=(pl.col("frame") - 1) // n)
    syn = packets.filter(pl.col("tcp_flags") == 0x02).group_by("copy").agg(pl.col("sport").unique())
    quoted = packets.filter(pl.col("icmp_q_sport").is_not_null()).group_by("copy").agg(
        pl.col("icmp_q_sport").unique())
    both = syn.join(quoted, on="copy").sort("copy")
    assert both.height == COPIES
    for sports, quoted_sports in zip(both["sport"], both["icmp_q_sport"], strict=True):
        assert set(quoted_sports) == set(sports)
    assert len(set().union(*map(set, both["sport"]))) == COPIES * len(both["sport"][0])


@needs_tshark()
@pytest.mark.tshark
@pytest.mark.parametrize("source", CAPTURES[:2], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_tshark_reads_the_copies(source: Path, tmp_path: Path) -> None:
    """tshark reads every copy as it reads the source: no error, no new malformed packet."""
    def malformed(path: Path) -> int:
        proc = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number",
                               "-e", "_ws.malformed"], capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        rows = [line.split("\t") for line in proc.stdout.splitlines()]
        assert len(rows) == scan(path).packets
        return sum(1 for row in rows if row[1])

    assert malformed(_copies(source, tmp_path)) == COPIES * malformed(source)

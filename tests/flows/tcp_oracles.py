"""What the TCP flow tests compare against: tshark's reading of a capture (one run per file),
Zeek's conn.log baselines, and small captures written here with dpkt for edge cases (read back
by pcapkit's decoder and by tshark alike)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dpkt
import polars as pl

from pcapkit.decode.reference import decode_reference
from pcapkit.flows import Tables, build_tables
from pcapkit.flows.schema import TcpAnalysis
from pcapkit.read import read_capture

#: tshark's analysis fields, and the `TcpAnalysis` bits that make tshark print each: tshark also
#: prints `tcp.analysis.retransmission` on fast and spurious retransmissions.
CLASSES: dict[str, TcpAnalysis] = {
    "tcp.analysis.retransmission": TcpAnalysis.RETRANSMISSION
    | TcpAnalysis.FAST_RETRANSMISSION
    | TcpAnalysis.SPURIOUS_RETRANSMISSION,
    "tcp.analysis.fast_retransmission": TcpAnalysis.FAST_RETRANSMISSION,
    "tcp.analysis.spurious_retransmission": TcpAnalysis.SPURIOUS_RETRANSMISSION,
    "tcp.analysis.out_of_order": TcpAnalysis.OUT_OF_ORDER,
}
OTHER_FIELDS = ("tcp.stream", "tcp.len", "ip.src", "ipv6.src", "tcp.srcport",
                "tcp.analysis.initial_rtt")
OPTIONS = (
    "-o", "tcp.analyze_sequence_numbers:TRUE", "-o", "tcp.relative_sequence_numbers:TRUE",
    "-o", "tcp.desegment_tcp_streams:FALSE", "-d", "udp.port==8472,vxlan",
)


def table(paths: Sequence[Path]) -> Tables:
    """pcapkit's flow tables for captures analysed together (capture index = position)."""
    frames = [decode_reference(read_capture(p), i) for i, p in enumerate(paths)]
    return build_tables(pl.concat(frames))


@dataclass
class TsharkTcp:
    """tshark's per-frame TCP facts for one capture."""

    flagged: dict[str, set[int]] = field(default_factory=dict)  #: field → frames carrying it
    stream: dict[int, int] = field(default_factory=dict)  #: frame → tcp.stream
    length: dict[int, int] = field(default_factory=dict)  #: frame → tcp.len
    sender: dict[int, tuple[str, int]] = field(default_factory=dict)  #: frame → (ip, port)
    initial_rtt: dict[int, float] = field(default_factory=dict)  #: tcp.stream → iRTT, s


def tshark_tcp(path: Path, display_filter: str | None = None) -> TsharkTcp:
    names = [*CLASSES, *OTHER_FIELDS]
    cmd = ["tshark", "-r", str(path), *OPTIONS, "-T", "fields", "-e", "frame.number"]
    for name in names:
        cmd += ["-e", name]
    if display_filter:
        cmd += ["-Y", display_filter]
    # Exit status 2 on a capture cut short: tshark still prints every frame before the cut.
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    result = TsharkTcp(flagged={name: set() for name in CLASSES})
    for line in out.splitlines():
        frame_text, *values = line.split("\t")
        got = dict(zip(names, values, strict=True))
        frame = int(frame_text)
        for name in CLASSES:
            if got[name]:
                result.flagged[name].add(frame)
        if not got["tcp.stream"] or not got["tcp.len"] or "," in got["tcp.stream"]:
            continue
        stream = int(got["tcp.stream"])
        result.stream[frame] = stream
        result.length[frame] = int(got["tcp.len"])
        ip = (got["ip.src"] or got["ipv6.src"]).split(",")[-1]
        result.sender[frame] = (ip, int(got["tcp.srcport"].split(",")[-1]))
        if got["tcp.analysis.initial_rtt"]:
            result.initial_rtt[stream] = float(got["tcp.analysis.initial_rtt"])
    return result


def ours_flagged(packets: pl.DataFrame) -> dict[str, set[int]]:
    """Frames pcapkit marks, keyed like `TsharkTcp.flagged`."""
    rows = packets.filter(pl.col("tcp_analysis") > 0).select("frame", "tcp_analysis").rows()
    return {name: {f for f, a in rows if a & bits} for name, bits in CLASSES.items()}


# --- small captures for edge cases --------------------------------------------------------------

CLIENT = ("10.0.0.1", 40000)
SERVER = ("10.0.0.2", 80)


@dataclass(frozen=True)
class Seg:
    """One TCP segment of a test capture between CLIENT and SERVER."""

    t: float  #: seconds
    from_client: bool
    flags: int
    seq: int
    ack: int = 0
    length: int = 0
    win: int = 500
    wscale: int | None = None
    server: tuple[str, int] = SERVER  #: the server side's address as this segment shows it


def write_pcap(path: Path, segments: Sequence[Seg]) -> Path:
    """An Ethernet pcap of the segments."""
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_EN10MB)
        for s in segments:
            src, dst = (CLIENT, s.server) if s.from_client else (s.server, CLIENT)
            opts = b"" if s.wscale is None else bytes([3, 3, s.wscale, 1])
            tcp = dpkt.tcp.TCP(
                sport=src[1], dport=dst[1], seq=s.seq, ack=s.ack, flags=s.flags, win=s.win,
                opts=opts, data=b"x" * s.length,
            )
            tcp.off = (20 + len(opts)) // 4
            ip = dpkt.ip.IP(
                src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]), p=6, ttl=64,
                data=tcp,
            )
            ip.len = 20 + len(bytes(tcp))
            eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip)
            writer.writepkt(bytes(eth), ts=s.t)
    return path

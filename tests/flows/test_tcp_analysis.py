"""Wireshark's TCP analysis classes, frame for frame against tshark (one run per file).

Single-vantage captures: the lab's pod captures and underlay (VXLAN) captures, each interface
of a node's `-i any` capture on its own, the corpus captures with TCP, and small captures
written here for the edge cases. The one deliberate difference — `-i any` copies — has its test.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import polars as pl
import pytest

from pcapkit.errors import CaptureError
from pcapkit.flows.schema import TcpAnalysis
from pcapkit.flows.tcp import COPY_KEY
from pcapkit.flows.views import COPY_WINDOW_NS
from tests.conftest import SAMPLES, TCPDUMP_CORPUS, ZEEK_CORPUS, needs_corpus, needs_tshark
from tests.flows.tcp_oracles import (
    CLASSES,
    Seg,
    ours_flagged,
    table,
    tshark_tcp,
    write_pcap,
)

pytestmark = needs_tshark()
SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08

#: corpus captures where tshark flags something (found by the full sweep below), kept in the
#: quick run; PCAPKIT_FULL_CORPUS=1 compares every corpus capture with TCP.
FLAGGED_CORPUS = [
    ZEEK_CORPUS / "scripts.base.protocols.ssh.basic/ssh.pcap",
    ZEEK_CORPUS / "scripts.base.protocols.ssh.half-duplex-client/ssh.client-side-half-duplex.pcap",
    ZEEK_CORPUS / "scripts.base.protocols.pop3.basic/pop3.pcap",
    ZEEK_CORPUS / "scripts.base.protocols.http.http-connect/connect-with-smtp.pcap",
    ZEEK_CORPUS / "scripts.base.protocols.http.http-no-crlf/no_crlf.pcap",
    TCPDUMP_CORPUS / "pptp.pcap",
    TCPDUMP_CORPUS / "kday7.pcap",
    TCPDUMP_CORPUS / "bgp-infinite-loop.pcap",
    TCPDUMP_CORPUS / "bgp-as-path-oobr.pcap",
    TCPDUMP_CORPUS / "of10_inv_OFPST_FLOW.pcap",
]
#: encapsulations pcapkit does not remove (PPPoE, GTP): tshark sees TCP inside, pcapkit does not
NOT_DECODED = {"pppoe-over-qinq.pcap", "gtp6_gtp_0x32.pcap", "gtp2_different_udp_port.pcap",
               "gtp1_gn_normal_incl_fragmentation.pcap"}


def _corpus_with_tcp() -> list[Path]:
    from tests.conftest import corpus_captures

    if os.environ.get("PCAPKIT_FULL_CORPUS") != "1":
        return [p for p in FLAGGED_CORPUS if p.exists()]
    return [p for p in corpus_captures() if p.name not in NOT_DECODED]


def _single_vantage_samples() -> list[Path]:
    pods = sorted(SAMPLES.glob("*/pod-*.pcap"))
    return pods + sorted(SAMPLES.glob("lossy_underlay/node-*-eth0.pcap"))


def copies(packets: pl.DataFrame, segments_only: bool = False) -> set[int]:
    """Frames that repeat an earlier packet of their connection in their view, the one before
    them with the same sender, segment and IP id, within 1 ms (pcapkit/flows/tcp.py rule 5).
    tshark calls those with data, SYN or FIN retransmissions (and empty ones duplicate ACKs);
    we call them copies."""
    # By the packet's own headers, not `conn` (which copies do not get): one sender's segment
    # again towards the same receiver.
    tcp = packets.filter(pl.col("tcp_flags").is_not_null() & pl.col("sport").is_not_null()
                         ).sort("view", "capture", "frame")
    group = ["view", "dst", "dport", *COPY_KEY]
    soon = (pl.col("ts_ns") - pl.col("ts_ns").shift(1).over(group)).abs() < COPY_WINDOW_NS
    segment = (pl.col("payload_len") > 0) | ((pl.col("tcp_flags") & (SYN | FIN)) != 0)
    return set(tcp.filter(soon & (segment if segments_only else True))["frame"].to_list())


def _assert_same(path: Path) -> dict[str, int]:
    try:
        packets = table([path]).packets
    except CaptureError as e:
        pytest.skip(f"not a capture pcapkit reads: {e}")
    ts = tshark_tcp(path)
    ours = ours_flagged(packets)
    repeated = copies(packets)
    for name in CLASSES:
        assert ours[name] == ts.flagged[name] - repeated, (path.name, name)
    assert copies(packets, segments_only=True) <= ts.flagged["tcp.analysis.retransmission"]
    return {name: len(frames) for name, frames in ts.flagged.items()}


def test_copies_within_an_interface_are_not_retransmissions() -> None:
    """Deliberate difference: pptp.pcap shows some packets twice in a row (same IP id, same
    segment, microseconds apart: captured twice, not sent twice); tshark calls the second a
    retransmission, we call it a copy."""
    path = TCPDUMP_CORPUS / "pptp.pcap"
    if not path.exists():
        pytest.skip("corpus not found")
    ts = tshark_tcp(path)
    repeated = copies(table([path]).packets, segments_only=True)
    assert repeated and repeated == ts.flagged["tcp.analysis.retransmission"]


@pytest.mark.parametrize("path", _single_vantage_samples(), ids=lambda p: p.parent.name + p.stem)
def test_lab_single_vantage_captures_equal_tshark(path: Path) -> None:
    _assert_same(path)


def test_lossy_underlay_has_real_retransmissions() -> None:
    """The lossy scenario must give the comparison something to compare."""
    pods = sorted(SAMPLES.glob("lossy_underlay/pod-*.pcap"))
    if not pods:
        pytest.skip("no lossy_underlay sample recorded")
    counts = _assert_same(pods[0])
    assert counts["tcp.analysis.retransmission"] + counts["tcp.analysis.out_of_order"] > 0


def _any_captures() -> list[Path]:
    return sorted(SAMPLES.glob("lossy_underlay/node-*-any.pcap"))[:1]


@pytest.mark.parametrize("path", _any_captures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_interface_of_an_any_capture_equals_tshark_on_that_interface(
    path: Path, tmp_path: Path
) -> None:
    """A view is one interface: cut the capture per interface with tshark, compare on each."""
    packets = table([path]).packets
    for (ifindex,), view in packets.group_by(["sll_ifindex"], maintain_order=True):
        part = tmp_path / f"if{ifindex}.pcap"
        subprocess.run(
            ["tshark", "-r", str(path), "-Y", f"sll.ifindex == {ifindex}", "-w", str(part)],
            check=True, capture_output=True,
        )
        frames = view["frame"].to_list()  # frame k of the part is frames[k-1] of the whole
        ts = tshark_tcp(part)
        ours = ours_flagged(view)
        for name in CLASSES:
            assert ours[name] == {frames[f - 1] for f in ts.flagged[name]}, (ifindex, name)


@pytest.mark.parametrize("path", _any_captures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_any_copies_are_not_retransmissions(path: Path) -> None:
    """Deliberate difference: tshark, reading a node's `-i any` capture as one conversation,
    calls the copies of a segment on the next interfaces retransmissions; we do not. Every frame
    tshark flags and we do not is a copy: the same segment (sender, seq, length) was seen
    earlier on another interface."""
    packets = table([path]).packets.filter(pl.col("conn").is_not_null())
    ts = tshark_tcp(path)
    flagged_by_us = set(packets.filter(pl.col("tcp_analysis") > 0)["frame"].to_list())
    extra = ts.flagged["tcp.analysis.retransmission"] - flagged_by_us
    assert extra, "tshark flags -i any copies; this capture should show it"
    seg = ["src", "sport", "tcp_seq", "payload_len", "tcp_flags"]
    copies = (
        packets.filter(pl.col("frame").is_in(list(extra)))
        .join(packets, on=seg, suffix="_other")
        .filter(pl.col("view_other") != pl.col("view"))
        .filter(pl.col("frame_other") < pl.col("frame"))
    )
    assert set(copies["frame"].to_list()) == extra


@needs_corpus()
@pytest.mark.parametrize("path", _corpus_with_tcp(), ids=lambda p: p.name)
def test_corpus_captures_equal_tshark(path: Path) -> None:
    _assert_same(path)


# --- edge cases, written as captures and read by both ---------------------------------------


def _compare(tmp_path: Path, segs: list[Seg]) -> dict[int, TcpAnalysis]:
    path = write_pcap(tmp_path / "case.pcap", segs)
    ts = tshark_tcp(path)
    packets = table([path]).packets
    ours = ours_flagged(packets)
    for name in CLASSES:
        assert ours[name] == ts.flagged[name], name
    return {f: TcpAnalysis(a) for f, a in packets.select("frame", "tcp_analysis").rows()}


def _handshake(rtt: float = 0.01, wscale: int | None = 7) -> list[Seg]:
    return [
        Seg(0.0, True, SYN, 1000, wscale=wscale),
        Seg(rtt / 2, False, SYN | ACK, 5000, 1001, wscale=wscale),
        Seg(rtt, True, ACK, 1001, 5001),
    ]


def test_plain_retransmission_after_timeout(tmp_path: Path) -> None:
    got = _compare(tmp_path, [*_handshake(), Seg(0.02, True, ACK | PSH, 1001, 5001, 100),
                              Seg(0.3, True, ACK | PSH, 1001, 5001, 100)])
    assert got[5] == TcpAnalysis.RETRANSMISSION


def test_out_of_order_within_the_initial_rtt(tmp_path: Path) -> None:
    got = _compare(tmp_path, [*_handshake(0.05), Seg(0.06, True, ACK, 1101, 5001, 100),
                              Seg(0.061, True, ACK, 1001, 5001, 100)])
    assert got[5] & TcpAnalysis.OUT_OF_ORDER


def test_fast_retransmission_after_two_duplicate_acks(tmp_path: Path) -> None:
    segs = [*_handshake(), Seg(0.02, True, ACK, 1001, 5001, 100),
            Seg(0.021, True, ACK, 1101, 5001, 100), Seg(0.022, True, ACK, 1201, 5001, 100),
            Seg(0.03, False, ACK, 5001, 1101), Seg(0.031, False, ACK, 5001, 1101),
            Seg(0.032, False, ACK, 5001, 1101), Seg(0.033, True, ACK, 1101, 5001, 100)]
    got = _compare(tmp_path, segs)
    assert got[10] == TcpAnalysis.FAST_RETRANSMISSION
    assert got[8] & TcpAnalysis.DUPLICATE_ACK


def test_spurious_retransmission_of_acknowledged_data(tmp_path: Path) -> None:
    segs = [*_handshake(), Seg(0.02, True, ACK, 1001, 5001, 100),
            Seg(0.03, False, ACK, 5001, 1101), Seg(0.5, True, ACK, 1001, 5001, 100)]
    assert _compare(tmp_path, segs)[6] == TcpAnalysis.SPURIOUS_RETRANSMISSION


def test_spurious_even_when_the_original_was_not_captured(tmp_path: Path) -> None:
    """The peer acknowledged bytes the capture never showed; a later copy of them is spurious
    although it advances the sequence (tshark 4.0 checks this outside the retransmission test)."""
    segs = [Seg(0.0, True, ACK, 1000, 5000, 100), Seg(0.1, False, ACK, 5000, 1300),
            Seg(0.2, True, ACK, 1150, 5000, 50)]
    got = _compare(tmp_path, segs)
    assert got[3] & TcpAnalysis.SPURIOUS_RETRANSMISSION and got[3] & TcpAnalysis.LOST_SEGMENT


def test_one_byte_overlap_is_not_a_retransmission(tmp_path: Path) -> None:
    segs = [Seg(0.0, True, ACK, 1000, 5000, 100), Seg(1.0, True, ACK, 1099, 5000, 100),
            Seg(2.0, True, ACK, 1197, 5000, 100)]
    got = _compare(tmp_path, segs)
    assert got[2] == 0 and got[3] == TcpAnalysis.RETRANSMISSION


def test_keep_alive_is_not_a_retransmission(tmp_path: Path) -> None:
    segs = [*_handshake(), Seg(0.02, True, ACK, 1001, 5001, 100),
            Seg(0.03, False, ACK, 5001, 1101), Seg(60.0, True, ACK, 1100, 5001, 0),
            Seg(60.01, False, ACK, 5001, 1101), Seg(120.0, True, ACK, 1100, 5001, 1)]
    got = _compare(tmp_path, segs)
    assert got[6] == TcpAnalysis.KEEP_ALIVE and got[8] == TcpAnalysis.KEEP_ALIVE
    assert got[7] == TcpAnalysis.KEEP_ALIVE_ACK


def test_syn_and_fin_retransmissions(tmp_path: Path) -> None:
    segs = [Seg(0.0, True, SYN, 1000), Seg(1.0, True, SYN, 1000),
            Seg(1.01, False, SYN | ACK, 5000, 1001),
            Seg(1.02, True, ACK, 1001, 5001), Seg(2.0, True, FIN | ACK, 1001, 5001),
            Seg(2.5, True, FIN | ACK, 1001, 5001)]
    got = _compare(tmp_path, segs)
    assert got[2] == TcpAnalysis.RETRANSMISSION and got[6] == TcpAnalysis.RETRANSMISSION


def test_sequence_wrap(tmp_path: Path) -> None:
    top = 0xFFFFFFFF - 50
    segs = [Seg(0.0, True, SYN, top), Seg(0.01, False, SYN | ACK, 5000, top + 1),
            Seg(0.02, True, ACK, top + 1, 5001), Seg(0.03, True, ACK, top + 1, 5001, 100),
            Seg(0.04, True, ACK, (top + 101) & 0xFFFFFFFF, 5001, 100),
            Seg(0.5, True, ACK, top + 1, 5001, 100)]
    got = _compare(tmp_path, segs)
    assert got[5] == 0 and got[6] == TcpAnalysis.RETRANSMISSION


def test_gso_super_segments(tmp_path: Path) -> None:
    """64 KB segments (GSO/TSO, far above any MSS) are segments like any other."""
    big = 60000
    segs = [*_handshake(), Seg(0.02, True, ACK, 1001, 5001, big),
            Seg(0.021, True, ACK, 1001 + big, 5001, big),
            Seg(0.4, True, ACK, 1001 + big, 5001, big)]
    got = _compare(tmp_path, segs)
    assert got[5] == 0 and got[6] == TcpAnalysis.RETRANSMISSION


def test_capture_starting_mid_stream(tmp_path: Path) -> None:
    segs = [Seg(0.0, False, ACK, 7000, 3000, 0), Seg(0.01, True, ACK, 3000, 7000, 100),
            Seg(0.02, True, ACK, 3000, 7000, 100)]
    got = _compare(tmp_path, segs)
    assert got[3] & (TcpAnalysis.RETRANSMISSION | TcpAnalysis.OUT_OF_ORDER)


def test_zero_window_and_probe(tmp_path: Path) -> None:
    segs = [*_handshake(wscale=None), Seg(0.02, True, ACK, 1001, 5001, 100),
            Seg(0.03, False, ACK, 5001, 1101, win=0), Seg(0.3, True, ACK, 1101, 5001, 1),
            Seg(0.31, False, ACK, 5001, 1101, win=0)]
    got = _compare(tmp_path, segs)
    assert got[5] & TcpAnalysis.ZERO_WINDOW
    assert got[6] == TcpAnalysis.ZERO_WINDOW_PROBE
    assert got[7] & TcpAnalysis.ZERO_WINDOW_PROBE_ACK

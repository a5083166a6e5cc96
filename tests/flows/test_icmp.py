"""ICMP errors tied to their flows, on the lab's captures (one error per REJECT however many
views saw it, its quoted flow the refused connection of the truth, its TCP connection found) and
against tshark's dissection of the corpus's ICMP errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl
import pytest

from pcapkit.codes import IcmpType, IcmpUnreachCode
from pcapkit.flows.icmp import code_name, icmp_errors, type_name
from samples.lab.cluster import UNDERLAY_MTU, VXLAN_OVERHEAD
from tests.conftest import TCPDUMP_CORPUS, needs_corpus, needs_tshark
from tests.detect.samples import needs_sample, tables, truth
from tests.flows.dns_oracles import packets


@needs_sample("no_endpoints")
def test_one_error_per_reject_across_views_quoting_the_refused_connection() -> None:
    refused = sorted(t["client"] for t in truth("no_endpoints")
                     if t["kind"] == "attempt" and t["outcome"] == "refused")
    t = tables("no_endpoints")
    errors = t.icmp_errors.sort("ts_ns")
    assert [f"{e['q_src']}:{e['q_sport']}" for e in errors.iter_rows(named=True)] == refused
    assert (errors["views"] >= 2).all()  # the pod's capture and the node's `-i any`
    # each tied to the TCP connection of its SYN
    syns = t.packets.filter(pl.col("conn").is_in(errors["conn"].implode()))
    assert set(syns["sport"]) == {int(c.split(":")[1]) for c in refused}
    # the copies are the same packet: every frame is an ICMP port unreachable
    frames = errors["frames"].explode().struct.unnest()
    seen = t.packets.join(frames, on=["capture", "frame"])
    assert seen.height == frames.height
    assert set(zip(seen["icmp_type"], seen["icmp_code"], strict=True)) == {
        (IcmpType.DEST_UNREACH, IcmpUnreachCode.PORT)}


@needs_sample("mtu_blackhole")
def test_frag_needed_carries_the_mtu_and_the_flow_tunnel() -> None:
    errors = tables("mtu_blackhole").icmp_errors
    frag = errors.filter(pl.col("code_name") == "FRAG_NEEDED")
    assert frag.height > 0
    assert set(frag["mtu"]) == {UNDERLAY_MTU - VXLAN_OVERHEAD}
    assert set(frag["flow_tunnel"]) == {"vxlan"}


def test_names() -> None:
    assert (type_name(4, 3), code_name(4, 3, 4)) == ("DEST_UNREACH", "FRAG_NEEDED")
    assert (type_name(6, 2), code_name(6, 2, 0)) == ("PACKET_TOO_BIG", "CODE_0")
    assert (type_name(6, 1), code_name(6, 1, 4)) == ("DEST_UNREACH", "PORT")
    assert (type_name(4, 11), code_name(4, 11, 1)) == ("TIME_EXCEEDED", "REASSEMBLY")
    assert (type_name(4, 99), code_name(4, 3, 99)) == ("TYPE_99", "CODE_99")


#: corpus captures holding ICMP errors, found by running tshark over both corpora
ICMP_ERROR_CAPTURES = [
    "afs.pcap", "dhcp-rfc4388.pcap", "icmp-cksum-oobr-1.pcap", "icmp-cksum-oobr-3.pcapng",
    "icmp-rfc5837.pcap", "icmpv6-rfc7112.pcap", "mpls-traceroute.pcap",
]
TSHARK_ICMP = ("frame.number", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
               "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport",
               "tcp.srcport", "tcp.dstport", "icmp.mtu", "icmpv6.mtu")


def _tshark_errors(path: Path) -> dict[int, dict[str, list[str]]]:
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-Y", ERROR_FILTER, "-T", "fields",
         "-E", "occurrence=a", "-E", "aggregator=|", *(x for f in TSHARK_ICMP for x in ("-e", f))],
        capture_output=True, text=True, check=False,
    ).stdout
    frames = {}
    for line in out.splitlines():
        values = dict(zip(TSHARK_ICMP, (v.split("|") if v else [] for v in line.split("\t")),
                          strict=True))
        frames[int(values["frame.number"][0])] = values
    return frames


ERROR_FILTER = " or ".join(
    [f"icmp.type=={t}" for t in (3, 4, 11, 12)] + [f"icmpv6.type=={t}" for t in (1, 2, 3, 4)]
)


@needs_corpus()
@needs_tshark()
@pytest.mark.parametrize("name", ICMP_ERROR_CAPTURES)
def test_errors_match_tshark(name: str) -> None:
    """Each error tshark dissects is one of pcapkit's, with its type, code, quoted addresses
    (tshark's second IP header), quoted ports and MTU."""
    path = TCPDUMP_CORPUS / name
    theirs = _tshark_errors(path)
    table = packets(path)
    decoded = set(table.filter(pl.col("status") == "ok")["frame"])
    errors = icmp_errors(table)
    mine = {f["frame"]: e for e in errors.iter_rows(named=True) for f in e["frames"]}
    compared = 0
    for frame, ts in theirs.items():
        e = mine.get(frame)
        if e is None:
            assert frame not in decoded, f"frame {frame}: tshark sees an ICMP error"
            continue
        v6 = bool(ts["icmpv6.type"])
        prefix = "icmpv6" if v6 else "icmp"
        assert (e["icmp_type"], e["icmp_code"]) == (int(ts[f"{prefix}.type"][0]),
                                                    int(ts[f"{prefix}.code"][0]))
        src, dst = ts["ipv6.src" if v6 else "ip.src"], ts["ipv6.dst" if v6 else "ip.dst"]
        if len(src) > 1 and e["q_src"] is not None:
            assert (e["q_src"], e["q_dst"]) == (src[-1], dst[-1])
        for proto in ("udp", "tcp"):
            if ts[f"{proto}.srcport"] and e["q_sport"] is not None:
                assert (e["q_sport"], e["q_dport"]) == (int(ts[f"{proto}.srcport"][-1]),
                                                        int(ts[f"{proto}.dstport"][-1]))
        if ts[f"{prefix}.mtu"]:
            assert e["mtu"] == int(ts[f"{prefix}.mtu"][0])
        compared += 1
    assert compared or not decoded & set(theirs)

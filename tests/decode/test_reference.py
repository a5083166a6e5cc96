"""The reference decoder, rule by rule of docs/packet-table.md, on packets built with dpkt (an
encoder independent of our decoder): the values expected are the ones put into the headers.
The tshark oracle (test_tshark_oracle.py) covers real captures; these cover the rules tshark
cannot judge (statuses, nulls, the depth limit, option corner cases, DNS name text).
"""

from __future__ import annotations

import struct
from typing import Any

import dpkt
import pytest

from pcapkit.codes import LinkType
from pcapkit.decode import tunnels
from pcapkit.decode.reference import decode_packet, decode_reference
from pcapkit.decode.schema import PACKET_SCHEMA, Tunnel
from pcapkit.read import read_capture
from tests.conftest import TCPDUMP_CORPUS, needs_corpus

A, B = bytes([10, 244, 1, 5]), bytes([10, 244, 2, 7])
A6, B6 = bytes.fromhex("fd00" + "00" * 13 + "01"), bytes.fromhex("fd00" + "00" * 13 + "02")
MAC1, MAC2 = b"\x02" * 6, b"\x04" * 6


def tcp(opts: bytes = b"", flags: int = dpkt.tcp.TH_SYN, data: bytes = b"",
        sport: int = 40000) -> bytes:
    header = dpkt.tcp.TCP(sport=sport, dport=80, seq=1000, ack=0, flags=flags, win=64240,
                          opts=opts, data=data)
    header.off = (20 + len(opts)) // 4
    return bytes(header)


def ipv4(payload: bytes, p: int = 6, src: bytes = A, dst: bytes = B, **kw: Any) -> bytes:
    return bytes(dpkt.ip.IP(src=src, dst=dst, p=p, ttl=63, id=0x1234, data=payload, **kw))


def ipv6(payload: bytes, nxt: int = 6, ext: bytes = b"", hlim: int = 64) -> bytes:
    header = struct.pack(">IHBB", 6 << 28, len(ext) + len(payload), nxt, hlim) + A6 + B6
    return header + ext + payload


def ether(payload: bytes, etype: int = 0x0800, tags: list[tuple[int, int]] | None = None) -> bytes:
    out = MAC2 + MAC1
    for tpid, vid in tags or []:
        out += struct.pack(">HH", tpid, vid)
    return out + struct.pack(">H", etype) + payload


def udp(payload: bytes, sport: int = 5353, dport: int = 53) -> bytes:
    return bytes(dpkt.udp.UDP(sport=sport, dport=dport, data=payload))


def vxlan(inner: bytes, vni: int) -> bytes:
    return struct.pack(">II", 0x08000000, vni << 8) + inner


def row_of(pkt: bytes, link: int = LinkType.EN10MB, **kw: Any) -> dict[str, Any]:
    return decode_packet(pkt, link, **kw)


# --- link layer -----------------------------------------------------------------------------


def test_ethernet_ipv4_tcp_columns() -> None:
    opts = b"\x02\x04\x05\xb4" + b"\x01\x03\x03\x07" + b"\x04\x02" + b"\x08\x0a" + \
        struct.pack(">II", 111, 222)
    row = row_of(ether(ipv4(tcp(opts, data=b"hello"))))
    assert row["status"] == "ok" and "status_layer" not in row
    assert (row["src"], row["dst"], row["ip_proto"], row["ip_ttl"], row["ip_id"]) == \
        ("10.244.1.5", "10.244.2.7", 6, 63, 0x1234)
    assert (row["sport"], row["dport"], row["tcp_flags"], row["tcp_seq"], row["tcp_win"]) == \
        (40000, 80, 0x02, 1000, 64240)
    assert (row["tcp_mss"], row["tcp_wscale"], row["tcp_sack_perm"], row["tcp_ts_val"],
            row["tcp_ts_ecr"]) == (1460, 7, True, 111, 222)
    assert row["tcp_hdr_len"] == 40 and row["payload_len"] == 5
    assert row["l3_proto"] == 0x0800 and row.get("vlan") is None


def test_qinq_first_tag_is_the_vlan() -> None:
    pkt = ether(ipv4(tcp()), tags=[(0x88A8, 0x2000 | 100), (0x8100, 200)])
    row = row_of(pkt)
    assert (row["vlan"], row["l3_proto"], row["src"]) == (100, 0x0800, "10.244.1.5")
    cut = row_of(ether(b"", etype=0x8100)[:14] + b"\x00")
    assert (cut["status"], cut["status_layer"]) == ("truncated", "link")


def test_8023_length_and_arp_end_decoding_ok() -> None:
    llc = row_of(ether(b"\xaa" * 40, etype=40))
    assert llc["status"] == "ok" and llc.get("l3_proto") is None
    arp = row_of(ether(b"\x00" * 28, etype=0x0806))
    assert arp["status"] == "ok" and arp["l3_proto"] == 0x0806 and arp.get("src") is None


def test_sll_and_sll2_direction_and_ifindex() -> None:
    sll = struct.pack(">HHH8sH", 4, 1, 6, MAC1, 0x0800) + ipv4(tcp())
    row = row_of(sll, LinkType.LINUX_SLL, direction=1)
    assert (row["sll_pkttype"], row["direction"], row["src"]) == (4, 2, "10.244.1.5")
    sll2 = struct.pack(">HHiHBB8s", 0x86DD, 0, 7, 1, 0, 6, MAC1) + ipv6(tcp())
    row = row_of(sll2, LinkType.LINUX_SLL2)
    assert (row["sll_ifindex"], row["sll_pkttype"], row["direction"], row["src"]) == \
        (7, 0, 1, "fd00::1")
    # Packet types beyond 4 take the pcapng direction; an SLL u16 above 255 is no u8 value.
    odd = struct.pack(">HHH8sH", 0x0105, 1, 6, MAC1, 0x0800) + ipv4(tcp())
    row = row_of(odd, LinkType.LINUX_SLL, direction=1)
    assert row.get("sll_pkttype") is None and row["direction"] == 1


@pytest.mark.parametrize(("link", "big", "header"), [
    (LinkType.NULL, False, struct.pack("<I", 2)),
    (LinkType.NULL, True, struct.pack(">I", 2)),
    (LinkType.NULL, False, struct.pack(">I", 2)),  # written by a host of the other order
    (LinkType.LOOP, False, struct.pack(">I", 2)),
])
def test_null_and_loop_address_family(link: int, big: bool, header: bytes) -> None:
    row = row_of(header + ipv4(tcp()), link, big_endian=big)
    assert (row["status"], row["l3_proto"], row["src"]) == ("ok", 0x0800, "10.244.1.5")


def test_raw_link_types_and_unknown_ones() -> None:
    for link in (LinkType.RAW, LinkType.RAW_12, LinkType.RAW_14, LinkType.IPV6):
        pkt = ipv6(tcp()) if link == LinkType.IPV6 else ipv4(tcp())
        assert row_of(pkt, link)["status"] == "ok"
    assert row_of(b"\x50" + b"\x00" * 30, LinkType.RAW)["status_layer"] == "ip"
    assert row_of(b"", LinkType.RAW)["status"] == "truncated"
    unknown = row_of(b"\x00" * 40, 147)
    assert (unknown["status"], unknown["status_layer"]) == ("unsupported", "link")
    af = row_of(struct.pack("<I", 7) + ipv4(tcp()), LinkType.NULL)
    assert (af["status"], af["status_layer"]) == ("unsupported", "link")


# --- IP -------------------------------------------------------------------------------------


def test_ipv4_statuses_and_tso_length_zero() -> None:
    pkt = ipv4(tcp(data=b"x" * 100))
    assert row_of(pkt[:19], LinkType.RAW)["status_layer"] == "ip"
    bad_ihl = bytes([0x44]) + pkt[1:]
    assert row_of(bad_ihl, LinkType.RAW)["status"] == "malformed"
    short_total = pkt[:2] + struct.pack(">H", 12) + pkt[4:]
    assert row_of(short_total, LinkType.RAW)["status"] == "malformed"
    tso = pkt[:2] + b"\x00\x00" + pkt[4:]
    row = row_of(tso, LinkType.RAW)
    assert (row["status"], row["ip_len"], row["payload_len"]) == ("ok", 0, 100)
    # Snaplen cut: the payload length still follows the header.
    row = row_of(pkt[:60], LinkType.RAW)
    assert (row["status"], row["payload_len"]) == ("ok", 100)


def test_ipv4_fragments() -> None:
    first = row_of(ipv4(udp(b"\x00" * 40), p=17, mf=1), LinkType.RAW)
    assert (first["ip_mf"], first["sport"], first.get("dns_id")) == (True, 5353, None)
    later = row_of(ipv4(b"\x00" * 40, p=17, offset=185), LinkType.RAW)
    assert (later["ip_frag_offset"], later.get("sport"), later["status"]) == (1480, None, "ok")


def test_ipv6_extension_headers_and_fragment() -> None:
    hop = bytes([60, 0]) + b"\x01\x04\x00\x00\x00\x00"  # hop-by-hop → destination options
    dst = bytes([44, 0]) + b"\x00" * 6
    frag = bytes([6, 0]) + struct.pack(">HI", 0 | 1, 0xABCDEF)
    row = row_of(ipv6(tcp(), nxt=0, ext=hop + dst + frag), LinkType.IPV6)
    assert (row["ip_proto"], row["ip_mf"], row["ip_id"], row["sport"]) == (6, True, 0xABCDEF, 40000)
    assert row["ip_len"] == 40 + 24 + 20 and row.get("ip_df") is None
    plain = row_of(ipv6(tcp()), LinkType.IPV6)
    assert (plain["ip_mf"], plain["ip_frag_offset"], plain.get("ip_id")) == (False, 0, None)
    cut = row_of(ipv6(b"", nxt=0, ext=bytes([6, 1]) + b"\x00" * 6), LinkType.IPV6)
    assert (cut["status"], cut["status_layer"], cut.get("src")) == ("truncated", "ip", None)


# --- transport ------------------------------------------------------------------------------


def test_tcp_option_walk_rules() -> None:
    sack = b"\x05\x12" + struct.pack(">IIII", 10, 20, 30, 40)
    repeated = b"\x02\x04\x05\xb4" + b"\x02\x04\x02\x00" + b"\x01\x01" + sack
    row = row_of(ipv4(tcp(repeated)), LinkType.RAW)
    assert (row["tcp_mss"], row["tcp_sack_blocks"], row["tcp_sack_left"],
            row["tcp_sack_right"]) == (1460, 2, 10, 20)
    # A known kind with another length is skipped; a length < 2 ends the walk.
    odd = b"\x02\x03\x05" + b"\x01" + b"\x03\x01" + b"\x03\x03\x07" + b"\x00" * 3
    row = row_of(ipv4(tcp(odd)), LinkType.RAW)
    assert row.get("tcp_mss") is None and row.get("tcp_wscale") is None
    assert (row["tcp_sack_perm"], row["tcp_sack_blocks"]) == (False, 0)


def test_tcp_statuses() -> None:
    pkt = ipv4(tcp())
    bad_offset = pkt[:32] + bytes([0x40]) + pkt[33:]
    assert row_of(bad_offset, LinkType.RAW)["status"] == "malformed"
    row = row_of(ipv4(tcp(b"\x01" * 8))[:45], LinkType.RAW)
    assert (row["status"], row["status_layer"], row.get("sport")) == ("truncated", "tcp", None)
    assert row["src"] == "10.244.1.5"


def test_icmp_errors_quote_the_offending_header() -> None:
    quoted = ipv4(udp(b"\x00" * 20, sport=33000, dport=53), p=17, src=B, dst=A)[:28]
    frag_needed = struct.pack(">BBHHH", 3, 4, 0, 0, 1400) + quoted
    row = row_of(ipv4(frag_needed, p=1), LinkType.RAW)
    assert (row["icmp_type"], row["icmp_code"], row["icmp_mtu"]) == (3, 4, 1400)
    assert (row["icmp_q_src"], row["icmp_q_dst"], row["icmp_q_proto"], row["icmp_q_sport"],
            row["icmp_q_dport"]) == ("10.244.2.7", "10.244.1.5", 17, 33000, 53)
    short = row_of(ipv4(frag_needed[:8 + 20 + 3], p=1), LinkType.RAW)
    assert short["icmp_q_proto"] == 17 and short.get("icmp_q_sport") is None
    assert short["status"] == "ok"
    too_big = struct.pack(">BBHI", 2, 0, 0, 1280) + ipv6(tcp())[:44]
    row = row_of(ipv6(too_big, nxt=58), LinkType.IPV6)
    assert (row["icmp_mtu"], row["icmp_q_src"], row["icmp_q_proto"], row["icmp_q_sport"]) == \
        (1280, "fd00::1", 6, 40000)
    echo = row_of(ipv4(struct.pack(">BBHHH", 8, 0, 0, 1, 1) + b"x" * 56, p=1), LinkType.RAW)
    assert echo.get("icmp_q_src") is None and echo["payload_len"] == 56
    # ICMPv4 inside IPv6 is not decoded.
    assert row_of(ipv6(b"\x08" * 8, nxt=1), LinkType.IPV6).get("icmp_type") is None


# --- encapsulations -------------------------------------------------------------------------


def test_vxlan_on_the_linux_port() -> None:
    inner = ether(ipv4(tcp(), src=bytes([10, 0, 0, 1]), dst=bytes([10, 0, 0, 2])),
                  tags=[(0x8100, 42)])
    outer = ether(ipv4(udp(vxlan(inner, 1), sport=51000, dport=8472), p=17), tags=[(0x8100, 7)])
    row = row_of(outer)
    assert (row["tunnel"], row["tunnel_depth"], row["vni"]) == (Tunnel.VXLAN, 1, 1)
    assert (row["outer_src"], row["outer_dst"], row["outer_sport"], row["outer_dport"]) == \
        ("10.244.1.5", "10.244.2.7", 51000, 8472)
    assert (row["src"], row["dst"], row["sport"], row["vlan"]) == \
        ("10.0.0.1", "10.0.0.2", 40000, 42)
    cut = row_of(ether(ipv4(udp(b"\x08\x00\x00", dport=4789), p=17)))
    assert (cut["status"], cut["status_layer"], cut.get("tunnel"), cut["sport"]) == \
        ("truncated", "tunnel", None, 5353)
    inner_cut = row_of(ether(ipv4(udp(vxlan(inner[:16], 9), dport=4789), p=17)))
    assert (inner_cut["status"], inner_cut["status_layer"], inner_cut["vni"]) == \
        ("truncated", "link", 9)
    assert inner_cut.get("sport") is None and inner_cut["outer_src"] == "10.244.1.5"


def test_registered_port_is_decapsulated() -> None:
    pkt = ether(ipv4(udp(vxlan(ether(ipv4(tcp())), 3), dport=9999), p=17))
    assert row_of(pkt).get("tunnel") is None
    tunnels.register(9999, Tunnel.VXLAN)
    try:
        assert row_of(pkt)["vni"] == 3
    finally:
        del tunnels.UDP_TUNNELS[9999]


def test_geneve_options_gpe_gre_and_ipip() -> None:
    options = b"\x01\x32\x01\x01" + b"\x00" * 4  # one 8-byte option
    geneve = struct.pack(">BBHI", 2, 0, 0x0800, 77 << 8) + options + ipv6(tcp())[:0] + \
        ipv4(tcp(), src=bytes([192, 168, 0, 1]))
    row = row_of(ether(ipv4(udp(geneve, dport=6081), p=17)))
    assert (row["tunnel"], row["vni"], row["src"], row["l3_proto"]) == \
        (Tunnel.GENEVE, 77, "192.168.0.1", 0x0800)
    gpe = struct.pack(">BBBBI", 0x0C, 0, 0, 2, 5 << 8) + ipv6(tcp())
    row = row_of(ether(ipv4(udp(gpe, dport=4790), p=17)))
    assert (row["tunnel"], row["vni"], row["src"]) == (Tunnel.VXLAN_GPE, 5, "fd00::1")
    nsh = struct.pack(">BBBBI", 0x0C, 0, 0, 4, 5 << 8) + b"\x00" * 40
    row = row_of(ether(ipv4(udp(nsh, dport=4790), p=17)))
    assert (row.get("tunnel"), row["dport"], row["status"]) == (None, 4790, "ok")
    gre = struct.pack(">HHI", 0x2000, 0x6558, 0xDEADBEEF) + ether(ipv4(tcp()))
    row = row_of(ipv4(gre, p=47, src=bytes([1, 1, 1, 1])), LinkType.RAW)
    assert (row["tunnel"], row["vni"], row["outer_src"], row["src"], row.get("outer_sport")) == \
        (Tunnel.GRE, 0xDEADBEEF, "1.1.1.1", "10.244.1.5", None)
    pptp = struct.pack(">HH", 0x3001, 0x880B) + b"\x00" * 12
    assert row_of(ipv4(pptp, p=47), LinkType.RAW).get("tunnel") is None
    row = row_of(ipv4(ipv6(tcp()), p=41), LinkType.RAW)
    assert (row["tunnel"], row["src"], row["ip_version"], row["l3_proto"]) == \
        (Tunnel.IPIP, "fd00::1", 6, 0x86DD)


def test_depth_limit_leaves_the_fifth_encapsulated() -> None:
    pkt = ipv4(tcp())
    for depth in range(tunnels.MAX_DEPTH + 1):
        pkt = ipv4(pkt, p=4, src=bytes([1, 1, 1, depth]))
    row = row_of(pkt, LinkType.RAW)
    assert row["tunnel_depth"] == tunnels.MAX_DEPTH
    assert (row["outer_src"], row["ip_proto"], row.get("sport")) == ("1.1.1.4", 4, None)


# --- DNS ------------------------------------------------------------------------------------


def dns_message(**kw: Any) -> bytes:
    return bytes(dpkt.dns.DNS(**kw))


def test_dns_query_and_answers() -> None:
    answer_a = dpkt.dns.DNS.RR(name="svc.ns.svc.cluster.local", type=dpkt.dns.DNS_A, ttl=5,
                               rdata=bytes([10, 96, 0, 10]))
    answer_cname = dpkt.dns.DNS.RR(name="www.example.com", type=dpkt.dns.DNS_CNAME, ttl=30,
                                   cname="web.example.net")
    msg = dns_message(id=0xBEEF, qr=dpkt.dns.DNS_R, rcode=dpkt.dns.DNS_RCODE_NXDOMAIN,
                      qd=[dpkt.dns.DNS.Q(name="svc.ns.svc.cluster.local", type=dpkt.dns.DNS_A)],
                      an=[answer_a, answer_cname])
    row = row_of(ipv4(udp(msg, sport=53, dport=41000), p=17), LinkType.RAW)
    assert (row["dns_id"], row["dns_qr"], row["dns_rcode"], row["dns_qdcount"],
            row["dns_ancount"]) == (0xBEEF, True, 3, 1, 2)
    assert (row["dns_qname"], row["dns_qtype"]) == ("svc.ns.svc.cluster.local", 1)
    assert row["dns_answers"] == [
        {"name": "svc.ns.svc.cluster.local", "type": 1, "ttl": 5, "data": "10.96.0.10"},
        {"name": "www.example.com", "type": 5, "ttl": 30, "data": "web.example.net"},
    ]
    # Over TCP: a 2-byte length prefix; a bare ACK carries no DNS.
    seg = row_of(ipv4(tcp(data=struct.pack(">H", len(msg)) + msg, sport=53)), LinkType.RAW)
    assert (seg["dns_id"], seg["dns_qname"]) == (0xBEEF, "svc.ns.svc.cluster.local")
    ack = row_of(ipv4(tcp(flags=dpkt.tcp.TH_ACK, sport=53)), LinkType.RAW)
    assert ack.get("dns_id") is None and ack["status"] == "ok"
    short = row_of(ipv4(udp(msg[:11]), p=17), LinkType.RAW)
    assert (short["status"], short["status_layer"], short.get("dns_id")) == \
        ("truncated", "dns", None)


def test_dns_name_text_and_malformed_names() -> None:
    header = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0)
    # Labels "a.b", "c\\d", "e f", "\x00", then the root; type A, class IN.
    name = b"\x03a.b\x03c\\d\x03e f\x01\x00\x00"
    row = row_of(ipv4(udp(header + name + b"\x00\x01\x00\x01"), p=17), LinkType.RAW)
    assert row["dns_qname"] == "a\\046b.c\\092d.e\\032f.\\000"
    root = row_of(ipv4(udp(header + b"\x00\x00\x02\x00\x01"), p=17), LinkType.RAW)
    assert root["dns_qname"] == "." and root["dns_answers"] == []
    forward = header + b"\xc0\x0e" + b"\x00\x01\x00\x01"
    row = row_of(ipv4(udp(forward), p=17), LinkType.RAW)
    assert (row["status"], row["dns_id"], row.get("dns_qname"), row.get("dns_answers")) == \
        ("malformed", 7, None, None)
    label_type = header + b"\x41abc" + b"\x00\x00\x01\x00\x01"
    assert row_of(ipv4(udp(label_type), p=17), LinkType.RAW)["status"] == "malformed"
    cut = row_of(ipv4(udp(header + b"\x05abc"), p=17), LinkType.RAW)
    assert (cut["status"], cut["status_layer"]) == ("truncated", "dns")


def test_dns_answer_cut_short_keeps_the_ones_before() -> None:
    answers = [dpkt.dns.DNS.RR(name="a.example", type=dpkt.dns.DNS_A, ttl=1,
                               rdata=bytes([1, 2, 3, i])) for i in range(3)]
    msg = dns_message(id=1, qr=dpkt.dns.DNS_R,
                      qd=[dpkt.dns.DNS.Q(name="a.example")], an=answers)
    row = row_of(ipv4(udp(msg[:-2], sport=53), p=17), LinkType.RAW)
    assert (row["status"], row["status_layer"]) == ("truncated", "dns")
    assert [a["data"] for a in row["dns_answers"]] == ["1.2.3.0", "1.2.3.1"]


# --- the table ------------------------------------------------------------------------------


@needs_corpus()
def test_table_has_the_schema_and_the_record_columns() -> None:
    capture = read_capture(TCPDUMP_CORPUS / "vxlan.pcap")
    table = decode_reference(capture, capture_index=3)
    assert table.schema == PACKET_SCHEMA
    assert table["capture"].unique().to_list() == [3]
    assert table["ts_ns"].to_list() == capture.records.ts_ns.tolist()
    assert table["caplen"].to_list() == capture.records.caplen.tolist()
    assert set(table["link_type"].to_list()) == {LinkType.EN10MB}

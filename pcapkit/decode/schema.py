"""The packet table: one row per captured packet, the decode stage's output.

Primary columns describe the *innermost* packet: for a packet in any of the `Tunnel`
encapsulations they are the pod-to-pod headers, and the underlay's appear in the `outer_*`
columns, so that later stages see pod traffic the same way whatever the vantage. The exact
decoding rules are in docs/packet-table.md; every decoder follows them to the byte.
"""

from __future__ import annotations

from enum import StrEnum

import polars as pl


class Status(StrEnum):
    """How far decoding got."""

    OK = "ok"  #: every header pcapkit decodes was present and sane
    TRUNCATED = "truncated"  #: the captured bytes end inside a header (`status_layer` says which)
    MALFORMED = "malformed"  #: a header's values are impossible (e.g. IPv4 IHL < 5)
    UNSUPPORTED = "unsupported"  #: a link type or link-layer family pcapkit does not decode


class Layer(StrEnum):
    """Where decoding stopped, for rows whose status is not `ok`."""

    LINK = "link"
    IP = "ip"
    TCP = "tcp"
    UDP = "udp"
    ICMP = "icmp"
    TUNNEL = "tunnel"
    DNS = "dns"
    ARP = "arp"


class Tunnel(StrEnum):
    """Encapsulations pcapkit removes."""

    VXLAN = "vxlan"
    VXLAN_GPE = "vxlan_gpe"
    GENEVE = "geneve"
    GRE = "gre"
    IPIP = "ipip"
    FLANNEL_UDP = "flannel_udp"  #: flannel's UDP backend: a bare IP packet in UDP 8285
    GTP_U = "gtp_u"
    TEREDO = "teredo"
    MPLS = "mpls"  #: a label stack after EtherType 0x8847, or in UDP 6635
    VNTAG = "vntag"
    PPPOE = "pppoe"  #: PPPoE session carrying PPP
    ERSPAN = "erspan"  #: types I, II and III, in GRE
    PPTP = "pptp"  #: PPTP's enhanced GRE (version 1) carrying PPP


DNS_ANSWER = pl.Struct(
    {"name": pl.String, "type": pl.UInt16, "ttl": pl.UInt32, "data": pl.String}
)

#: (column, dtype, meaning). The order here is the order of the table.
COLUMNS: list[tuple[str, pl.DataType, str]] = [
    ("capture", pl.UInt16(), "index of the capture among those analysed together"),
    ("frame", pl.UInt32(), "1-based frame number within the capture, as Wireshark shows it"),
    ("ts_ns", pl.Int64(), "capture timestamp, nanoseconds since the Unix epoch"),
    ("iface", pl.UInt16(), "interface index in the file (pcapng IDB order; 0 for pcap)"),
    ("link_type", pl.UInt16(), "link-layer header type of that interface (LINKTYPE_*)"),
    ("caplen", pl.UInt32(), "bytes captured"),
    ("origlen", pl.UInt32(), "bytes on the wire"),
    ("direction", pl.UInt8(), "0 unknown, 1 inbound, 2 outbound (SLL packet type, epb_flags)"),
    ("sll_ifindex", pl.Int32(), "LINUX_SLL2 interface index (null for other link types)"),
    ("sll_pkttype", pl.UInt8(), "LINUX_SLL/SLL2 packet type: 0 host … 4 outgoing"),
    ("vlan", pl.UInt16(), "VLAN id of the first 802.1Q/802.1ad tag of the innermost frame"),
    ("l3_proto", pl.UInt16(), "EtherType of the innermost frame's payload (0x0800, 0x86DD…)"),
    ("status", pl.Enum([s.value for s in Status]), "how far decoding got"),
    ("status_layer", pl.Enum([v.value for v in Layer]), "where decoding stopped (null if ok)"),
    ("tunnel", pl.Enum([t.value for t in Tunnel]), "outermost encapsulation removed, if any"),
    ("tunnel_depth", pl.UInt8(), "number of encapsulations removed"),
    ("outer_src", pl.String(), "source address of the outermost (underlay) IP header"),
    ("outer_dst", pl.String(), "destination address of the outermost IP header"),
    ("outer_sport", pl.UInt16(), "outermost UDP source port (UDP tunnels)"),
    ("outer_dport", pl.UInt16(), "outermost UDP destination port (UDP tunnels)"),
    ("vni", pl.UInt32(), "VNI of the outermost VXLAN/GPE/Geneve header, or its key: GRE key, "
                          "GTP TEID, MPLS label, ERSPAN session, PPPoE session, PPTP call id"),
    ("ip_version", pl.UInt8(), "4 or 6"),
    ("src", pl.String(), "source address (inet_ntop text)"),
    ("dst", pl.String(), "destination address"),
    ("ip_proto", pl.UInt8(), "transport protocol (IPv6: after extension headers)"),
    ("ip_ttl", pl.UInt8(), "TTL / hop limit"),
    ("ip_id", pl.UInt32(), "IPv4 identification, or IPv6 fragment-header identification"),
    ("ip_len", pl.UInt32(), "IP length from the header (IPv6: 40 + payload length)"),
    ("ip_df", pl.Boolean(), "IPv4 don't-fragment bit (null for IPv6)"),
    ("ip_mf", pl.Boolean(), "more-fragments bit"),
    ("ip_frag_offset", pl.UInt16(), "fragment offset in bytes"),
    ("sport", pl.UInt16(), "TCP/UDP source port"),
    ("dport", pl.UInt16(), "TCP/UDP destination port"),
    ("tcp_flags", pl.UInt16(), "TCP flags (FIN 0x01 … CWR 0x80, AE 0x100)"),
    ("tcp_seq", pl.UInt32(), "sequence number"),
    ("tcp_ack", pl.UInt32(), "acknowledgement number"),
    ("tcp_win", pl.UInt16(), "window field, unscaled"),
    ("tcp_hdr_len", pl.UInt8(), "TCP header length in bytes"),
    ("tcp_mss", pl.UInt16(), "MSS option"),
    ("tcp_wscale", pl.UInt8(), "window-scale option shift"),
    ("tcp_sack_perm", pl.Boolean(), "SACK-permitted option present"),
    ("tcp_sack_blocks", pl.UInt8(), "number of SACK blocks"),
    ("tcp_sack_left", pl.UInt32(), "left edge of the first SACK block"),
    ("tcp_sack_right", pl.UInt32(), "right edge of the first SACK block"),
    ("tcp_ts_val", pl.UInt32(), "timestamp option TSval"),
    ("tcp_ts_ecr", pl.UInt32(), "timestamp option TSecr"),
    ("payload_len", pl.UInt32(), "transport payload length per the IP header (not the capture)"),
    ("icmp_type", pl.UInt8(), "ICMP or ICMPv6 type"),
    ("icmp_code", pl.UInt8(), "ICMP or ICMPv6 code"),
    ("icmp_mtu", pl.UInt32(), "next-hop MTU (frag-needed) or ICMPv6 packet-too-big MTU"),
    ("icmp_q_src", pl.String(), "source address of the IP header quoted in an ICMP error"),
    ("icmp_q_dst", pl.String(), "destination address of the quoted header"),
    ("icmp_q_proto", pl.UInt8(), "protocol of the quoted header"),
    ("icmp_q_sport", pl.UInt16(), "quoted TCP/UDP source port"),
    ("icmp_q_dport", pl.UInt16(), "quoted TCP/UDP destination port"),
    ("icmp_echo_id", pl.UInt16(), "identifier of an ICMP/ICMPv6 echo request or reply"),
    ("icmp_echo_seq", pl.UInt16(), "sequence number of an echo request or reply"),
    ("icmp_nd_target", pl.String(), "target address of an IPv6 neighbour solicitation or "
                                    "advertisement"),
    ("arp_op", pl.UInt16(), "ARP operation: 1 request, 2 reply"),
    ("arp_sender", pl.String(), "ARP sender protocol address (IPv4)"),
    ("arp_target", pl.String(), "ARP target protocol address (IPv4): the address asked for"),
    ("dns_id", pl.UInt16(), "DNS transaction id"),
    ("dns_flags", pl.UInt16(), "DNS flags word (QR 0x8000, opcode, AA, TC, RD, RA, rcode)"),
    ("dns_qr", pl.Boolean(), "true for a response"),
    ("dns_rcode", pl.UInt8(), "response code (low 4 bits of the flags)"),
    ("dns_qname", pl.String(), "first question's name, without the trailing dot"),
    ("dns_qtype", pl.UInt16(), "first question's type"),
    ("dns_qdcount", pl.UInt16(), "question count from the header"),
    ("dns_ancount", pl.UInt16(), "answer count from the header"),
    ("dns_answers", pl.List(DNS_ANSWER), "answer records: name, type, TTL, data as text"),
]

PACKET_SCHEMA: pl.Schema = pl.Schema([(name, dtype) for name, dtype, _ in COLUMNS])

#: where a packet was seen: one interface of one capture, its encapsulated packets apart (a
#: view, `pcapkit.flows.views`)
SEEN_AT = ["capture", "iface", "sll_ifindex", "tunnel"]
#: what the DNS transactions read of a DNS message, one row each: a packet table's DNS rows, or
#: the messages `pcapkit.decode.reassembly` puts together (in the row of the packet that
#: completed them)
DNS_MESSAGE_COLUMNS = [*SEEN_AT, "frame", "ts_ns", "ip_proto", "status", "src", "dst", "sport",
                       "dport", "dns_id", "dns_qr", "dns_flags", "dns_rcode", "dns_qname",
                       "dns_qtype", "dns_answers", "ip_id"]
DNS_MESSAGES: pl.Schema = pl.Schema((c, PACKET_SCHEMA[c]) for c in DNS_MESSAGE_COLUMNS)


def empty_packets() -> pl.DataFrame:
    """A packet table with no rows."""
    return pl.DataFrame(schema=PACKET_SCHEMA)


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Put a frame's columns in schema order and types; missing columns become null."""
    return df.select(
        [
            (pl.col(name) if name in df.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in PACKET_SCHEMA.items()
        ]
    )

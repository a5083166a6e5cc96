"""The reference decoder: one packet at a time, header by header, following docs/packet-table.md.

It serves twice: as the decoder of the long tail (link types and encapsulations the fast
vectorised decoder leaves aside) and as the oracle the fast decoder is held identical to. So it
is written for exactness first: every rule of the doc is one visible `if` on the bytes, with
`struct` rather than dpkt, whose parsers decode payloads eagerly, raise on truncation and walk
IPv6 extension headers by their own rules (see the doc for ours).

Each layer function fills the columns of its layer into the packet's row (a dict: a missing key
is a null column) only once the layer's header has passed its checks, so that the layer where
decoding stops leaves its own columns null, as the doc requires.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import polars as pl

from pcapkit.codes import LinkType
from pcapkit.decode import (
    arp,
    erspan,
    geneve,
    gre,
    gtp,
    mpls,
    ppp,
    pppoe,
    teredo,
    tunnels,
    vntag,
    vxlan,
)
from pcapkit.decode.addresses import ipv4_text, ipv6_text
from pcapkit.decode.dns_message import DNS_PORTS, decode_dns
from pcapkit.decode.dns_message import HEADER_LEN as DNS_HEADER_LEN
from pcapkit.decode.schema import PACKET_SCHEMA, Layer, Status, Tunnel
from pcapkit.read.records import Capture

Row = dict[str, Any]

OK, TRUNCATED, MALFORMED, UNSUPPORTED = (s.value for s in Status)

U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
I32 = struct.Struct(">i")
IPV4_FIELDS = struct.Struct(">HHHBB")  #: total length, id, flags+offset, TTL, protocol (at +2)
IPV6_FIELDS = struct.Struct(">HBB")  #: payload length, next header, hop limit (at +4)
TCP_FIELDS = struct.Struct(">HHIIHH")  #: ports, seq, ack, offset+flags, window
UDP_PORTS = struct.Struct(">HH")
TS_OPTION = struct.Struct(">II")
SACK_BLOCK = struct.Struct(">II")

ETH_IPV4, ETH_IPV6, ETH_TEB = 0x0800, 0x86DD, 0x6558
VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
MIN_ETHERTYPE = 0x0600  #: below: an 802.3 length field
ETHER_LEN, SLL_LEN, SLL2_LEN, NULL_LEN, TAG_LEN = 14, 16, 20, 4, 4
RAW_TYPES = (LinkType.RAW, LinkType.RAW_12, LinkType.RAW_14)
NULL_AF = {2: ETH_IPV4, 10: ETH_IPV6, 23: ETH_IPV6, 24: ETH_IPV6, 28: ETH_IPV6, 30: ETH_IPV6}
SLL_OUTGOING = 4

IPV4_MIN, IPV6_LEN = 20, 40
IPV6_EXT_8 = (0, 43, 60)  #: hop-by-hop, routing, destination options: (len + 1) × 8 bytes
IPV6_AH, IPV6_FRAGMENT = 51, 44
IPV6_FRAGMENT_LEN = 8

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
TCP_MIN, UDP_LEN, ICMP_LEN, PORT_LEN = 20, 8, 8, 4
OPT_END, OPT_NOP, OPT_MSS, OPT_WSCALE, OPT_SACK_PERM, OPT_SACK, OPT_TS = 0, 1, 2, 3, 4, 5, 8
SACK_LENGTHS = (10, 18, 26, 34)
ICMP_ERRORS = (3, 4, 5, 11, 12)
ICMP6_ERRORS = (1, 2, 3, 4)
ICMP_ECHO = (0, 8)  #: reply, request: identifier and sequence at +4
ICMP6_ECHO = (128, 129)
ICMP6_ND = (135, 136)  #: neighbour solicitation, advertisement: target address at +8
ND_LEN = 24
DNS_TCP_PREFIX = 2

#: columns that describe the innermost packet: emptied when an encapsulation is removed
PRIMARY = frozenset((
    "vlan", "l3_proto", "ip_version", "src", "dst", "ip_proto", "ip_ttl", "ip_id", "ip_len",
    "ip_df", "ip_mf", "ip_frag_offset", "sport", "dport", "tcp_flags", "tcp_seq", "tcp_ack",
    "tcp_win", "tcp_hdr_len", "tcp_mss", "tcp_wscale", "tcp_sack_perm", "tcp_sack_blocks",
    "tcp_sack_left", "tcp_sack_right", "tcp_ts_val", "tcp_ts_ecr", "payload_len", "icmp_type",
    "icmp_code", "icmp_mtu", "icmp_q_src", "icmp_q_dst", "icmp_q_proto", "icmp_q_sport",
    "icmp_q_dport", "icmp_echo_id", "icmp_echo_seq", "icmp_nd_target", "arp_op", "arp_sender",
    "arp_target", "dns_id", "dns_flags", "dns_qr", "dns_rcode", "dns_qname", "dns_qtype",
    "dns_qdcount", "dns_ancount", "dns_answers",
))
#: the row key `_network` records its position under: not a column (see `network_offset`)
NETWORK_AT = "network_at"
#: the row key the innermost IP header records its payload's (start, parse end, declared end)
#: under: not a column (see `ip_payload`)
PAYLOAD_AT = "payload_at"
#: columns taken from the record rather than from the packet bytes
RECORD_COLUMNS = ("capture", "frame", "ts_ns", "iface", "link_type", "caplen", "origlen")
DECODED_SCHEMA = pl.Schema((k, v) for k, v in PACKET_SCHEMA.items() if k not in RECORD_COLUMNS)


def _stop(row: Row, status: str, layer: Layer) -> None:
    row["status"] = status
    row["status_layer"] = layer.value


# --- link layer -----------------------------------------------------------------------------


def _ethertype(pkt: bytes, type_at: int, pos: int, limit: int, row: Row) -> tuple[int, int]:
    """Walk VLAN tags and link-layer shims (MPLS, VNTag, PPPoE) from the EtherType at
    `type_at`; the final EtherType and its payload start.

    Returns EtherType -1 when decoding ends here (a tag or shim cut short, an 802.3 length).
    """
    ethertype = U16.unpack_from(pkt, type_at)[0]
    vlan = None
    while True:
        shim = tunnels.ETHER_TUNNELS.get(ethertype)
        if ethertype in VLAN_TAGS:
            if pos + TAG_LEN > limit:
                _stop(row, TRUNCATED, Layer.LINK)
                return -1, pos
            tci, ethertype = UDP_PORTS.unpack_from(pkt, pos)
            if vlan is None:
                vlan = tci & 0x0FFF
            pos += TAG_LEN
        elif shim is not None and row["tunnel_depth"] < tunnels.MAX_DEPTH:
            inner, after, key = SHIMS[shim](pkt, pos, limit)
            if inner is None:  # a payload not decoded: the shim's EtherType is the last
                break
            if inner < 0:
                row["vlan"] = vlan
                row["l3_proto"] = ethertype
                _stop(row, TRUNCATED, Layer.TUNNEL)
                return -1, pos
            _mark(row, shim, key, None)
            ethertype, pos = inner, after
        else:
            break
    row["vlan"] = vlan
    if ethertype < MIN_ETHERTYPE:
        return -1, pos
    row["l3_proto"] = ethertype
    return ethertype, pos


def _ethernet(pkt: bytes, pos: int, limit: int, row: Row) -> tuple[int, int]:
    if limit - pos < ETHER_LEN:
        _stop(row, TRUNCATED, Layer.LINK)
        return -1, pos
    return _ethertype(pkt, pos + 12, pos + ETHER_LEN, limit, row)


def _sll_pkttype(row: Row, pkttype: int) -> None:
    if pkttype <= 0xFF:
        row["sll_pkttype"] = pkttype
    if pkttype == SLL_OUTGOING:
        row["direction"] = 2
    elif pkttype < SLL_OUTGOING:
        row["direction"] = 1


def _link(pkt: bytes, link_type: int, big_endian: bool, row: Row) -> tuple[int, int]:
    """The EtherType (or -1: stop) and position of what follows the link-layer header."""
    n = len(pkt)
    if link_type == LinkType.EN10MB:
        return _ethernet(pkt, 0, n, row)
    if link_type == LinkType.LINUX_SLL:
        if n < SLL_LEN:
            _stop(row, TRUNCATED, Layer.LINK)
            return -1, 0
        _sll_pkttype(row, U16.unpack_from(pkt, 0)[0])
        return _ethertype(pkt, 14, SLL_LEN, n, row)
    if link_type == LinkType.LINUX_SLL2:
        if n < SLL2_LEN:
            _stop(row, TRUNCATED, Layer.LINK)
            return -1, 0
        row["sll_ifindex"] = I32.unpack_from(pkt, 4)[0]
        _sll_pkttype(row, pkt[10])
        return _ethertype(pkt, 0, SLL2_LEN, n, row)
    if link_type in RAW_TYPES:
        if n == 0:
            _stop(row, TRUNCATED, Layer.IP)
            return -1, 0
        version = pkt[0] >> 4
        ethertype = ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else -1
        if ethertype < 0:
            _stop(row, MALFORMED, Layer.IP)
            return -1, 0
        row["l3_proto"] = ethertype
        return ethertype, 0
    if link_type == LinkType.IPV4 or link_type == LinkType.IPV6:
        row["l3_proto"] = ETH_IPV4 if link_type == LinkType.IPV4 else ETH_IPV6
        return row["l3_proto"], 0
    if link_type == LinkType.NULL or link_type == LinkType.LOOP:
        if n < NULL_LEN:
            _stop(row, TRUNCATED, Layer.LINK)
            return -1, 0
        big = big_endian or link_type == LinkType.LOOP
        family = int.from_bytes(pkt[:4], "big" if big else "little")
        if family > 0xFFFF:  # written by a host of the other byte order
            family = int.from_bytes(pkt[:4], "little" if big else "big")
        ethertype = NULL_AF.get(family, -1)
        if ethertype < 0:
            _stop(row, UNSUPPORTED, Layer.LINK)
            return -1, 0
        row["l3_proto"] = ethertype
        return ethertype, NULL_LEN
    _stop(row, UNSUPPORTED, Layer.LINK)
    return -1, 0


# --- network layer --------------------------------------------------------------------------


def _network(pkt: bytes, pos: int, limit: int, ethertype: int, row: Row, depth: int) -> None:
    row[NETWORK_AT] = pos  # the innermost wins: each decapsulation calls this again
    row.pop(PAYLOAD_AT, None)
    if ethertype == ETH_IPV4:
        _ipv4(pkt, pos, limit, row, depth)
    elif ethertype == ETH_IPV6:
        _ipv6(pkt, pos, limit, row, depth)
    elif ethertype == arp.ETHERTYPE:
        _arp(pkt, pos, limit, row)


def _arp(pkt: bytes, pos: int, limit: int, row: Row) -> None:
    if limit - pos < arp.FIXED_LEN:
        return _stop(row, TRUNCATED, Layer.ARP)
    hlen = pkt[pos + arp.HLEN_OFFSET]
    ipv4 = (U16.unpack_from(pkt, pos + arp.PROTOCOL_OFFSET)[0] == arp.IPV4
            and pkt[pos + arp.PLEN_OFFSET] == arp.IPV4_LEN)
    if ipv4:
        sender = pos + arp.ADDRESSES_AT + hlen
        target = sender + arp.IPV4_LEN + hlen
        if limit - target < arp.IPV4_LEN:
            return _stop(row, TRUNCATED, Layer.ARP)
        row["arp_sender"] = ipv4_text(pkt[sender : sender + arp.IPV4_LEN])
        row["arp_target"] = ipv4_text(pkt[target : target + arp.IPV4_LEN])
    row["arp_op"] = U16.unpack_from(pkt, pos + arp.OP_OFFSET)[0]
    return None


def _ipv4(pkt: bytes, pos: int, limit: int, row: Row, depth: int) -> None:
    if limit - pos < IPV4_MIN:
        return _stop(row, TRUNCATED, Layer.IP)
    first = pkt[pos]
    ihl = (first & 0x0F) * 4
    if first >> 4 != 4 or ihl < IPV4_MIN:
        return _stop(row, MALFORMED, Layer.IP)
    if limit - pos < ihl:
        return _stop(row, TRUNCATED, Layer.IP)
    total, ident, frag, ttl, proto = IPV4_FIELDS.unpack_from(pkt, pos + 2)
    if total == 0:  # TSO/GSO super-packet: the packet is what was captured
        declared = limit
    elif total < ihl:
        return _stop(row, MALFORMED, Layer.IP)
    else:
        declared = pos + total
    offset = (frag & 0x1FFF) * 8
    mf = bool(frag & 0x2000)
    row.update(
        ip_version=4, src=ipv4_text(pkt[pos + 12 : pos + 16]),
        dst=ipv4_text(pkt[pos + 16 : pos + 20]), ip_proto=proto, ip_ttl=ttl, ip_id=ident,
        ip_len=total, ip_df=bool(frag & 0x4000), ip_mf=mf, ip_frag_offset=offset,
    )
    end = min(declared, limit)
    row[PAYLOAD_AT] = (pos + ihl, end, declared)
    if offset:
        return None
    return _transport(pkt, pos + ihl, end, declared, proto, 4, row, depth, not mf)


def _ipv6(pkt: bytes, pos: int, limit: int, row: Row, depth: int) -> None:
    if limit - pos < IPV6_LEN:
        return _stop(row, TRUNCATED, Layer.IP)
    if pkt[pos] >> 4 != 6:
        return _stop(row, MALFORMED, Layer.IP)
    plen, proto, hlim = IPV6_FIELDS.unpack_from(pkt, pos + 4)
    declared = limit if plen == 0 else pos + IPV6_LEN + plen  # 0: jumbogram / BIG TCP
    end = min(declared, limit)
    p = pos + IPV6_LEN
    ident = None
    offset = 0
    mf = False
    while True:
        if proto in IPV6_EXT_8 or proto == IPV6_AH:
            if p + 2 > end:
                return _stop(row, TRUNCATED, Layer.IP)
            size = (pkt[p + 1] + 1) * 8 if proto != IPV6_AH else (pkt[p + 1] + 2) * 4
        elif proto == IPV6_FRAGMENT:
            size = IPV6_FRAGMENT_LEN
        else:
            break
        if p + size > end:
            return _stop(row, TRUNCATED, Layer.IP)
        if proto == IPV6_FRAGMENT:
            frag = U16.unpack_from(pkt, p + 2)[0]
            offset, mf, ident = frag & 0xFFF8, bool(frag & 1), U32.unpack_from(pkt, p + 4)[0]
        proto = pkt[p]
        p += size
    row.update(
        ip_version=6, src=ipv6_text(pkt[pos + 8 : pos + 24]),
        dst=ipv6_text(pkt[pos + 24 : pos + 40]), ip_proto=proto, ip_ttl=hlim, ip_id=ident,
        ip_len=IPV6_LEN + plen, ip_mf=mf, ip_frag_offset=offset,
    )
    row[PAYLOAD_AT] = (p, end, declared)
    if offset:
        return None
    return _transport(pkt, p, end, declared, proto, 6, row, depth, not mf)


# --- transport layer ------------------------------------------------------------------------


def _transport(
    pkt: bytes, pos: int, end: int, declared: int, proto: int, version: int, row: Row,
    depth: int, whole: bool,
) -> None:
    """`end`: where parsing stops (captured or IP end); `declared`: the IP header's end;
    `whole`: not a fragment, so DNS and tunnels may be decoded."""
    if proto == TCP:
        _tcp(pkt, pos, end, declared, row, whole)
    elif proto == UDP:
        _udp(pkt, pos, end, declared, row, depth, whole)
    elif (proto == ICMP and version == 4) or (proto == ICMPV6 and version == 6):
        _icmp(pkt, pos, end, declared, version, row)
    elif whole and depth < tunnels.MAX_DEPTH and proto in tunnels.IP_TUNNELS:
        if tunnels.IP_TUNNELS[proto] == Tunnel.GRE:
            _enter(pkt, _gre(pkt, pos, end), end, row, None)
        else:
            inner = ETH_IPV4 if proto == 4 else ETH_IPV6
            _decapsulate(pkt, pos, end, inner, row, Tunnel.IPIP, None, None)


def _tcp_options(pkt: bytes, pos: int, end: int, row: Row) -> None:
    """Walk the options between `pos` and the header's `end` (see the doc's TCP rules)."""
    while pos < end:
        kind = pkt[pos]
        if kind == OPT_END:
            break
        if kind == OPT_NOP:
            pos += 1
            continue
        if pos + 2 > end:
            break
        size = pkt[pos + 1]
        if size < 2 or pos + size > end:
            break
        if kind == OPT_MSS and size == 4:
            if "tcp_mss" not in row:
                row["tcp_mss"] = U16.unpack_from(pkt, pos + 2)[0]
        elif kind == OPT_WSCALE and size == 3:
            if "tcp_wscale" not in row:
                row["tcp_wscale"] = pkt[pos + 2]
        elif kind == OPT_SACK_PERM and size == 2:
            row["tcp_sack_perm"] = True
        elif kind == OPT_SACK and size in SACK_LENGTHS:
            if not row["tcp_sack_blocks"]:
                row["tcp_sack_blocks"] = (size - 2) // 8
                row["tcp_sack_left"], row["tcp_sack_right"] = SACK_BLOCK.unpack_from(pkt, pos + 2)
        elif kind == OPT_TS and size == 10 and "tcp_ts_val" not in row:
            row["tcp_ts_val"], row["tcp_ts_ecr"] = TS_OPTION.unpack_from(pkt, pos + 2)
        pos += size


def _tcp(pkt: bytes, pos: int, end: int, declared: int, row: Row, whole: bool) -> None:
    if end - pos < TCP_MIN:
        return _stop(row, TRUNCATED, Layer.TCP)
    sport, dport, seq, ack, off_flags, win = TCP_FIELDS.unpack_from(pkt, pos)
    hdr_len = (off_flags >> 12) * 4
    if hdr_len < TCP_MIN:
        return _stop(row, MALFORMED, Layer.TCP)
    if end - pos < hdr_len:
        return _stop(row, TRUNCATED, Layer.TCP)
    row["sport"] = sport
    row["dport"] = dport
    row["tcp_flags"] = off_flags & 0x01FF
    row["tcp_seq"] = seq
    row["tcp_ack"] = ack
    row["tcp_win"] = win
    row["tcp_hdr_len"] = hdr_len
    row["tcp_sack_perm"] = False
    row["tcp_sack_blocks"] = 0
    data = pos + hdr_len
    if hdr_len > TCP_MIN:
        _tcp_options(pkt, pos + TCP_MIN, data, row)
    row["payload_len"] = max(declared - data, 0)
    # A segment is taken to start a message; one too short for a header is a continuation.
    dns = whole and (sport in DNS_PORTS or dport in DNS_PORTS)
    if dns and end - data >= DNS_TCP_PREFIX + DNS_HEADER_LEN:
        decode_dns(pkt[data + DNS_TCP_PREFIX : end], row)
    return None


def _udp(pkt: bytes, pos: int, end: int, declared: int, row: Row, depth: int,
         whole: bool) -> None:
    if end - pos < UDP_LEN:
        return _stop(row, TRUNCATED, Layer.UDP)
    sport, dport = UDP_PORTS.unpack_from(pkt, pos)
    row["sport"] = sport
    row["dport"] = dport
    data = pos + UDP_LEN
    row["payload_len"] = max(declared - data, 0)
    if not whole:
        return None
    tunnel = tunnels.UDP_TUNNELS.get(dport)
    dns = sport in DNS_PORTS or dport in DNS_PORTS
    if tunnel is None and not dns:
        tunnel = tunnels.UDP_SOURCE_TUNNELS.get(sport)
        if tunnel is None and _teredo_like(pkt, data, end, declared):
            tunnel = Tunnel.TEREDO
    if tunnel is not None:
        if depth < tunnels.MAX_DEPTH:
            parsed = _gre(pkt, data, end) if tunnel == Tunnel.GRE else (
                tunnel, *UDP_PARSERS[tunnel](pkt, data, end, tunnel))
            _enter(pkt, parsed, end, row, (sport, dport))
        return None
    if dns:
        if end - data < DNS_HEADER_LEN:
            return _stop(row, TRUNCATED, Layer.DNS)
        decode_dns(pkt[data:end], row)
    return None


def _icmp(pkt: bytes, pos: int, end: int, declared: int, version: int, row: Row) -> None:
    if end - pos < ICMP_LEN:
        return _stop(row, TRUNCATED, Layer.ICMP)
    icmp_type, code = pkt[pos], pkt[pos + 1]
    row["icmp_type"] = icmp_type
    row["icmp_code"] = code
    row["payload_len"] = max(declared - pos - ICMP_LEN, 0)
    if icmp_type in (ICMP_ECHO if version == 4 else ICMP6_ECHO):
        row["icmp_echo_id"], row["icmp_echo_seq"] = UDP_PORTS.unpack_from(pkt, pos + 4)
    quote = pos + ICMP_LEN
    if version == 4:
        if icmp_type == 3 and code == 4:
            row["icmp_mtu"] = U16.unpack_from(pkt, pos + 6)[0]
        if icmp_type in ICMP_ERRORS and end - quote >= IPV4_MIN:
            first = pkt[quote]
            ihl = (first & 0x0F) * 4
            if first >> 4 == 4 and ihl >= IPV4_MIN and end - quote >= ihl:
                _quoted(pkt, quote, quote + ihl, end, pkt[quote + 9], 12, 4, ipv4_text, row)
    else:
        if icmp_type == 2:
            row["icmp_mtu"] = U32.unpack_from(pkt, pos + 4)[0]
        if icmp_type in ICMP6_ND and end - pos >= ND_LEN:
            row["icmp_nd_target"] = ipv6_text(pkt[quote : quote + ND_LEN - ICMP_LEN])
        if icmp_type in ICMP6_ERRORS and end - quote >= IPV6_LEN and pkt[quote] >> 4 == 6:
            _quoted(pkt, quote, quote + IPV6_LEN, end, pkt[quote + 6], 8, 16, ipv6_text, row)
    return None


def _quoted(
    pkt: bytes, start: int, after: int, end: int, proto: int, src_at: int, size: int,
    text: Any, row: Row,
) -> None:
    """The addresses, protocol and (TCP/UDP) ports of the IP header quoted in an ICMP error."""
    src = start + src_at
    row["icmp_q_src"] = text(pkt[src : src + size])
    row["icmp_q_dst"] = text(pkt[src + size : src + 2 * size])
    row["icmp_q_proto"] = proto
    if proto in (TCP, UDP) and end - after >= PORT_LEN:
        row["icmp_q_sport"], row["icmp_q_dport"] = UDP_PORTS.unpack_from(pkt, after)


# --- encapsulations -------------------------------------------------------------------------


#: what a tunnel parser found: the inner packet's EtherType (None: a payload not decoded, the
#: row stays the outer packet; CUT: the header is cut short), where it starts, and the key
#: that goes to `vni`
Found = tuple[int | None, int, int | None]
CUT = -1
KEEP: Found = (None, 0, None)
CUT_SHORT: Found = (CUT, 0, None)


def _by_version(pkt: bytes, pos: int, end: int) -> int | None:
    """A payload whose type no header gives: IPv4 or IPv6 by its version nibble."""
    if pos >= end:
        return CUT
    version = pkt[pos] >> 4
    return ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else None


def _vxlan_geneve(pkt: bytes, pos: int, end: int, tunnel: Tunnel) -> Found:
    if end - pos < vxlan.HEADER_LEN:  # also Geneve's fixed header: both are 8 bytes
        return CUT_SHORT
    vni = U32.unpack_from(pkt, pos + vxlan.VNI_OFFSET)[0] >> 8
    if tunnel == Tunnel.VXLAN:
        return ETH_TEB, pos + vxlan.HEADER_LEN, vni
    if tunnel == Tunnel.VXLAN_GPE:
        inner = vxlan.GPE_NEXT_PROTO.get(pkt[pos + vxlan.GPE_NEXT_PROTO_OFFSET])
        return inner, pos + vxlan.HEADER_LEN, vni
    size = geneve.HEADER_LEN + (pkt[pos] & geneve.OPTLEN_MASK) * 4
    if end - pos < size:
        return CUT_SHORT
    proto = U16.unpack_from(pkt, pos + geneve.PROTOCOL_OFFSET)[0]
    return (proto if proto in (ETH_TEB, ETH_IPV4, ETH_IPV6) else None), pos + size, vni


def _flannel(pkt: bytes, pos: int, end: int, tunnel: Tunnel) -> Found:
    return _by_version(pkt, pos, end), pos, None


def _mpls(pkt: bytes, pos: int, end: int, tunnel: Tunnel = Tunnel.MPLS) -> Found:
    """The label stack down to its bottom entry; the top label is the key."""
    label = None
    while True:
        if end - pos < mpls.ENTRY_LEN:
            return CUT_SHORT
        entry = U32.unpack_from(pkt, pos)[0]
        if label is None:
            label = entry >> mpls.LABEL_SHIFT
        pos += mpls.ENTRY_LEN
        if pkt[pos - mpls.ENTRY_LEN + mpls.BOTTOM_BYTE] & mpls.BOTTOM_MASK:
            return _by_version(pkt, pos, end), pos, label


def _vntag(pkt: bytes, pos: int, end: int) -> Found:
    if end - pos < vntag.HEADER_LEN:
        return CUT_SHORT
    return U16.unpack_from(pkt, pos + vntag.HEADER_LEN - 2)[0], pos + vntag.HEADER_LEN, None


def _ppp(pkt: bytes, pos: int, end: int) -> tuple[int | None, int]:
    """The PPP protocol field (after address and control bytes, if sent), as an EtherType."""
    if pkt[pos : min(pos + 2, end)] == ppp.ADDRESS_CONTROL:
        pos += 2
    if pos >= end:
        return CUT, pos
    if pkt[pos] & 1:  # a compressed, one-byte protocol field
        return ppp.INNER.get(pkt[pos]), pos + 1
    if end - pos < 2:
        return CUT, pos
    return ppp.INNER.get(U16.unpack_from(pkt, pos)[0]), pos + 2


def _pppoe(pkt: bytes, pos: int, end: int) -> Found:
    if end - pos < pppoe.HEADER_LEN:
        return CUT_SHORT
    inner, after = _ppp(pkt, pos + pppoe.HEADER_LEN, end)
    return inner, after, U16.unpack_from(pkt, pos + pppoe.SESSION_OFFSET)[0]


def _gtp(pkt: bytes, pos: int, end: int, tunnel: Tunnel) -> Found:
    """A G-PDU's header and extension headers; the TEID is the key."""
    if end - pos < gtp.HEADER_LEN:
        return CUT_SHORT
    flags = pkt[pos]
    if (flags >> gtp.VERSION_SHIFT != gtp.VERSION or not flags & gtp.FLAG_PT
            or pkt[pos + gtp.MESSAGE_OFFSET] != gtp.G_PDU):
        return KEEP
    teid = U32.unpack_from(pkt, pos + gtp.TEID_OFFSET)[0]
    p = pos + gtp.HEADER_LEN
    if flags & gtp.OPTIONAL_FLAGS:
        p += gtp.OPTIONAL_LEN
        if p > end:
            return CUT_SHORT
        next_type = pkt[pos + gtp.NEXT_TYPE_OFFSET]
        while next_type:
            if p >= end:
                return CUT_SHORT
            size = pkt[p] * 4
            if size == 0:  # an extension of length 0 cannot be walked past
                return KEEP
            if p + size > end:
                return CUT_SHORT
            next_type = pkt[p + size - 1]
            p += size
    return _by_version(pkt, p, end), p, teid


def _teredo_headers(pkt: bytes, pos: int, end: int) -> int:
    """Where the IPv6 packet starts, past the optional headers; -1 when they are cut short."""
    if end - pos >= 2 and U16.unpack_from(pkt, pos)[0] == teredo.AUTH:
        if end - pos < 4:
            return CUT
        pos += teredo.AUTH_FIXED_LEN + pkt[pos + 2] + pkt[pos + 3]
    if end - pos >= 2 and U16.unpack_from(pkt, pos)[0] == teredo.ORIGIN:
        pos += teredo.ORIGIN_LEN
    return pos if pos <= end else CUT


def _teredo(pkt: bytes, pos: int, end: int, tunnel: Tunnel) -> Found:
    after = _teredo_headers(pkt, pos, end)
    if after < 0:
        return CUT_SHORT
    inner = _by_version(pkt, after, end)
    return (None if inner == ETH_IPV4 else inner), after, None


def _teredo_like(pkt: bytes, pos: int, end: int, declared: int) -> bool:
    """A whole IPv6 packet to or from a Teredo address filling the datagram (see `teredo`)."""
    at = _teredo_headers(pkt, pos, end)
    if at < 0 or end - at < IPV6_LEN or pkt[at] >> 4 != teredo.IP_VERSION:
        return False
    if at + IPV6_LEN + U16.unpack_from(pkt, at + 4)[0] != declared:
        return False
    return teredo.PREFIX in (pkt[at + 8 : at + 12], pkt[at + 24 : at + 28])


def _erspan(pkt: bytes, pos: int, end: int, proto: int, sequenced: bool) -> Found:
    """The ERSPAN header of a type I, II or III packet; the session id is the key."""
    if proto == erspan.TYPE_II_PROTO:
        if not sequenced:  # type I: the mirrored frame right after GRE
            return ETH_TEB, pos, None
        size = erspan.TYPE_II_LEN
    else:
        size = erspan.TYPE_III_LEN
        if end - pos >= size and pkt[pos + erspan.FLAGS_OFFSET] & erspan.SUBHEADER_BIT:
            size += erspan.SUBHEADER_LEN
    if end - pos < size:
        return CUT_SHORT
    # the frame type is type III's alone: a type II header ends before its offset
    if proto == erspan.TYPE_III_PROTO and (
            pkt[pos + erspan.FRAME_TYPE_OFFSET] >> erspan.FRAME_TYPE_SHIFT
            & erspan.FRAME_TYPE_MASK):
        return KEEP
    session = U16.unpack_from(pkt, pos + erspan.SESSION_OFFSET)[0] & erspan.SESSION_MASK
    return ETH_TEB, pos + size, session


def _pptp(pkt: bytes, pos: int, end: int, flags: int, proto: int) -> Found:
    """PPTP's enhanced GRE header and the PPP frame in it; the call id is the key."""
    if proto != gre.PPTP_PROTO or not flags & gre.FLAG_KEY:
        return KEEP
    size = gre.HEADER_LEN + 4 + (4 if flags & gre.FLAG_SEQUENCE else 0) + (
        4 if flags & gre.FLAG_ACK else 0)
    if end - pos < size:
        return CUT_SHORT
    call = U16.unpack_from(pkt, pos + gre.HEADER_LEN + gre.CALL_ID_OFFSET)[0]
    if U16.unpack_from(pkt, pos + gre.HEADER_LEN)[0] == 0:  # an acknowledgment alone
        return KEEP
    inner, after = _ppp(pkt, pos + size, end)
    return inner, after, call


def _gre(pkt: bytes, pos: int, end: int) -> tuple[Tunnel, int | None, int, int | None]:
    """What a GRE packet carries, as (tunnel kind, *`Found`)."""
    if end - pos < gre.HEADER_LEN:
        return (Tunnel.GRE, *CUT_SHORT)
    flags, proto = UDP_PORTS.unpack_from(pkt, pos)
    version = flags & gre.VERSION_MASK
    if version == gre.PPTP_VERSION:
        return (Tunnel.PPTP, *_pptp(pkt, pos, end, flags, proto))
    if version:
        return (Tunnel.GRE, *KEEP)
    key_at = pos + gre.HEADER_LEN + (4 if flags & gre.FLAG_CHECKSUM else 0)
    after_key = key_at + (4 if flags & gre.FLAG_KEY else 0)
    size = after_key - pos + (4 if flags & gre.FLAG_SEQUENCE else 0)
    if end - pos < size:
        return (Tunnel.GRE, *CUT_SHORT)
    kind = tunnels.GRE_TUNNELS.get(proto)
    if kind == Tunnel.ERSPAN:
        sequenced = bool(flags & gre.FLAG_SEQUENCE)
        return (kind, *_erspan(pkt, pos + size, end, proto, sequenced))
    if proto not in gre.INNER:
        return (Tunnel.GRE, *KEEP)
    key = U32.unpack_from(pkt, key_at)[0] if flags & gre.FLAG_KEY else None
    return Tunnel.GRE, proto, pos + size, key


UDP_PARSERS = {
    Tunnel.VXLAN: _vxlan_geneve, Tunnel.VXLAN_GPE: _vxlan_geneve, Tunnel.GENEVE: _vxlan_geneve,
    Tunnel.FLANNEL_UDP: _flannel, Tunnel.GTP_U: _gtp, Tunnel.TEREDO: _teredo,
    Tunnel.MPLS: _mpls,
}
#: link-layer shims, by `tunnels.ETHER_TUNNELS`: the next EtherType and where its payload starts
SHIMS = {Tunnel.MPLS: _mpls, Tunnel.VNTAG: _vntag, Tunnel.PPPOE: _pppoe}


def _enter(pkt: bytes, found: tuple[Tunnel, int | None, int, int | None], end: int, row: Row,
           ports: tuple[int, int] | None) -> None:
    """Remove the encapsulation a parser found, or leave the row the outer packet."""
    tunnel, inner, pos, key = found
    if inner is None:
        return None
    if inner < 0:
        return _stop(row, TRUNCATED, Layer.TUNNEL)
    return _decapsulate(pkt, pos, end, inner, row, tunnel, key, ports)


def _mark(row: Row, tunnel: Tunnel, key: int | None, ports: tuple[int, int] | None) -> None:
    """Count one encapsulation removed; the first one removed fills the `outer_*`, `vni` and
    `tunnel` columns (the underlay's addresses: none for a link-layer shim)."""
    depth = row["tunnel_depth"]
    if depth == 0:
        row["tunnel"] = tunnel.value
        row["outer_src"] = row.get("src")
        row["outer_dst"] = row.get("dst")
        row["vni"] = key
        if ports is not None:
            row["outer_sport"], row["outer_dport"] = ports
    row["tunnel_depth"] = depth + 1


def _decapsulate(
    pkt: bytes, pos: int, end: int, inner: int, row: Row, tunnel: Tunnel, key: int | None,
    ports: tuple[int, int] | None,
) -> None:
    """Remove one encapsulation: the primary columns are emptied to describe the inner packet
    (an Ethernet frame or an IP packet, by `inner`'s EtherType)."""
    _mark(row, tunnel, key, ports)
    kept = {k: v for k, v in row.items() if k not in PRIMARY}
    row.clear()
    row.update(kept)
    if inner == ETH_TEB:
        inner, pos = _ethernet(pkt, pos, end, row)
    else:
        row["l3_proto"] = inner
    _network(pkt, pos, end, inner, row, row["tunnel_depth"])


# --- the table ------------------------------------------------------------------------------


def _decode(pkt: bytes, link_type: int, big_endian: bool, direction: int) -> Row:
    row: Row = {"status": OK, "tunnel_depth": 0, "direction": direction}
    ethertype, pos = _link(pkt, link_type, big_endian, row)
    if ethertype >= 0:
        _network(pkt, pos, len(pkt), ethertype, row, row["tunnel_depth"])
    return row


def decode_packet(pkt: bytes, link_type: int, big_endian: bool = False,
                  direction: int = 0) -> Row:
    """The columns of one packet (record columns aside) as a dict; a missing key is null.

    `big_endian`: the file's byte order (for LINKTYPE_NULL); `direction`: from `epb_flags`.
    """
    row = _decode(pkt, link_type, big_endian, direction)
    row.pop(NETWORK_AT, None)
    row.pop(PAYLOAD_AT, None)
    return row


def network_offset(pkt: bytes, link_type: int, big_endian: bool = False) -> tuple[int, Row]:
    """Where the innermost network header (IP, ARP) starts in `pkt`, once the encapsulations
    pcapkit removes are removed (on its ports: `tunnels`), with the packet's columns; -1 when
    decoding stops before one. What `pcapkit show` hands a dissector of the inner packet."""
    row = _decode(pkt, link_type, big_endian, 0)
    row.pop(PAYLOAD_AT, None)
    return row.pop(NETWORK_AT, -1), row


def ip_payload(pkt: bytes, link_type: int, big_endian: bool = False) -> tuple[bytes, int]:
    """The payload of the innermost IP packet in `pkt` (after IPv4 options and IPv6 extension
    headers: a fragment's data) as captured, up to the IP header's end, and its length per that
    header (more than the bytes given when the capture cut it short); empty when decoding
    stops before an IP header. What `pcapkit.decode.reassembly` puts together."""
    start, end, declared = _decode(pkt, link_type, big_endian, 0).get(PAYLOAD_AT, (0, 0, 0))
    return pkt[start:end], declared - start


def decode_reference(capture: Capture, capture_index: int = 0) -> pl.DataFrame:
    """The packet table of `capture`: one row per record, columns as `PACKET_SCHEMA`."""
    recs = capture.records
    buf = capture.buffer
    links = [i.link_type for i in capture.interfaces]
    big = capture.big_endian
    rows = [
        decode_packet(bytes(buf[off : off + cap]), links[iface], big, d)
        for off, cap, iface, d in zip(
            recs.offset.tolist(), recs.caplen.tolist(), recs.iface.tolist(),
            recs.direction.tolist(), strict=True,
        )
    ]
    n = len(rows)
    record_columns = pl.DataFrame({
        "capture": np.full(n, capture_index),
        "frame": recs.frame,
        "ts_ns": recs.ts_ns,
        "iface": recs.iface,
        "link_type": np.array(links, np.int64)[recs.iface] if n else np.zeros(0, np.int64),
        "caplen": recs.caplen,
        "origlen": recs.origlen,
    })
    decoded = pl.from_dicts(rows, schema=DECODED_SCHEMA) if n else pl.DataFrame(
        schema=DECODED_SCHEMA)
    return pl.concat([record_columns, decoded], how="horizontal").select(
        pl.col(name).cast(dtype) for name, dtype in PACKET_SCHEMA.items()
    )

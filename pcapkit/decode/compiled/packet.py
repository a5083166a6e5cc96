"""The compiled kernel: every record of a chunk walked header by header, in one loop.

One function per layer, as in the reference decoder and after the rules of
docs/packet-table.md; values go to the `layout.Out` arrays, addresses and names to `texts`.
Encapsulations other than VXLAN (the other UDP tunnels, by either port; a datagram that may be
Teredo off its port; GRE, IP-in-IP; link-layer shims) and names longer than `texts.MAX_TEXT`
mark the row deferred: the reference decoder does those rows.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pcapkit.codes import LinkType
from pcapkit.decode import arp, teredo, tunnels, vxlan
from pcapkit.decode.compiled import layout as L
from pcapkit.decode.compiled.dns import decode_message
from pcapkit.decode.compiled.jit import Int, inlined, kernel
from pcapkit.decode.compiled.layout import PRIMARY_NUMERIC, PRIMARY_TEXT, Out, get, put, setv
from pcapkit.decode.compiled.texts import (
    ANSWERS,
    FULL,
    KIND_V4,
    KIND_V6,
    Texts,
    intern,
)
from pcapkit.decode.dns_message import DNS_PORTS
from pcapkit.decode.dns_message import HEADER_LEN as DNS_HEADER_LEN
from pcapkit.decode.fast.columns import LAYER_CODE, STATUS_CODE
from pcapkit.decode.reference import (
    DNS_TCP_PREFIX,
    ETH_IPV4,
    ETH_IPV6,
    ETHER_LEN,
    ICMP,
    ICMP_LEN,
    ICMPV6,
    IPV4_MIN,
    IPV6_AH,
    IPV6_FRAGMENT,
    IPV6_FRAGMENT_LEN,
    IPV6_LEN,
    MIN_ETHERTYPE,
    ND_LEN,
    NULL_LEN,
    OPT_END,
    OPT_MSS,
    OPT_NOP,
    OPT_SACK,
    OPT_SACK_PERM,
    OPT_TS,
    OPT_WSCALE,
    PORT_LEN,
    SLL2_LEN,
    SLL_LEN,
    SLL_OUTGOING,
    TAG_LEN,
    TCP,
    TCP_MIN,
    UDP,
    UDP_LEN,
)
from pcapkit.decode.schema import Layer, Status, Tunnel
from pcapkit.decode.tunnels import MAX_DEPTH
from pcapkit.read.prefetch import AHEAD, LINE, LINES, prefetch

OK, TRUNCATED = STATUS_CODE[Status.OK], STATUS_CODE[Status.TRUNCATED]
MALFORMED, UNSUPPORTED = STATUS_CODE[Status.MALFORMED], STATUS_CODE[Status.UNSUPPORTED]
LINK, IP, TCP_LAYER = LAYER_CODE[Layer.LINK], LAYER_CODE[Layer.IP], LAYER_CODE[Layer.TCP]
UDP_LAYER, ICMP_LAYER = LAYER_CODE[Layer.UDP], LAYER_CODE[Layer.ICMP]
ARP_LAYER = LAYER_CODE[Layer.ARP]
ARP_ETHERTYPE, ARP_IPV4, ARP_IPV4_LEN = arp.ETHERTYPE, arp.IPV4, arp.IPV4_LEN
TUNNEL_LAYER, DNS_LAYER = LAYER_CODE[Layer.TUNNEL], LAYER_CODE[Layer.DNS]
VXLAN_CODE = list(Tunnel).index(Tunnel.VXLAN)
#: `udp_tunnels` values: what a UDP destination port carries (low bits), and a flag for a
#: source port that carries a tunnel
NOT_TUNNEL, VXLAN_PORT, OTHER_TUNNEL, DESTINATION_BITS, SOURCE_TUNNEL = 0, 1, 2, 3, 4
IP_TUNNEL_4, IP_TUNNEL_41, IP_TUNNEL_47 = sorted(tunnels.IP_TUNNELS)
SHIM_MPLS, SHIM_PPPOE, SHIM_VNTAG = sorted(tunnels.ETHER_TUNNELS)
EN10MB, LINUX_SLL, LINUX_SLL2 = int(LinkType.EN10MB), int(LinkType.LINUX_SLL), \
    int(LinkType.LINUX_SLL2)
RAW, RAW_12, RAW_14 = int(LinkType.RAW), int(LinkType.RAW_12), int(LinkType.RAW_14)
LT_IPV4, LT_IPV6 = int(LinkType.IPV4), int(LinkType.IPV6)
LT_NULL, LT_LOOP = int(LinkType.NULL), int(LinkType.LOOP)
TAG_8100, TAG_88A8, TAG_9100 = 0x8100, 0x88A8, 0x9100
SACK_10, SACK_18, SACK_26, SACK_34 = 10, 18, 26, 34
TEREDO_VERSION = teredo.IP_VERSION

Bytes = npt.NDArray[np.uint8]


def udp_tunnel_ports() -> npt.NDArray[np.int8]:
    """`tunnels.UDP_TUNNELS` (which may have been extended) as a table by port."""
    table = np.zeros(1 << 16, np.int8)
    for port, kind in tunnels.UDP_TUNNELS.items():
        table[port] = VXLAN_PORT if kind == Tunnel.VXLAN else OTHER_TUNNEL
    for port in tunnels.UDP_SOURCE_TUNNELS:
        table[port] |= SOURCE_TUNNEL
    return table


@inlined
def _dns_port(port: Int) -> bool:
    return port in DNS_PORTS


@inlined
def _u16(buf: Bytes, a: Int) -> Int:
    return (np.int64(buf[a]) << 8) | np.int64(buf[a + 1])


@inlined
def _u32(buf: Bytes, a: Int) -> Int:
    return (_u16(buf, a) << 16) | _u16(buf, a + 2)


@inlined
def _stop(o: Out, i: Int, status: Int, layer: Int) -> None:
    o.status[i] = status
    o.layer[i] = layer


# --- link layer -----------------------------------------------------------------------------


@inlined
def _ethertype(buf: Bytes, base: Int, type_at: Int, pos: Int, limit: Int, i: Int,
               o: Out) -> tuple[Int, Int]:
    """VLAN tags from the EtherType at `type_at`: the final EtherType (-1: stop) and where its
    payload starts."""
    ethertype = _u16(buf, base + type_at)
    vlan: Int = -1
    while ethertype in (TAG_8100, TAG_88A8, TAG_9100):
        if pos + TAG_LEN > limit:
            _stop(o, i, TRUNCATED, LINK)
            return -1, pos
        if vlan < 0:
            vlan = _u16(buf, base + pos) & 0x0FFF
        ethertype = _u16(buf, base + pos + 2)
        pos += TAG_LEN
    if ethertype in (SHIM_MPLS, SHIM_PPPOE, SHIM_VNTAG):
        o.deferred[i] = True
        return -1, pos
    if vlan >= 0:
        put(o, L.VLAN, i, vlan)
    if ethertype < MIN_ETHERTYPE:
        return -1, pos
    put(o, L.L3_PROTO, i, ethertype)
    return ethertype, pos


@inlined
def _ethernet(buf: Bytes, base: Int, pos: Int, limit: Int, i: Int, o: Out) -> tuple[Int, Int]:
    if limit - pos < ETHER_LEN:
        _stop(o, i, TRUNCATED, LINK)
        return -1, pos
    return _ethertype(buf, base, pos + 12, pos + ETHER_LEN, limit, i, o)


@inlined
def _sll_pkttype(o: Out, i: Int, pkttype: Int) -> None:
    if pkttype <= 0xFF:
        put(o, L.SLL_PKTTYPE, i, pkttype)
    if pkttype == SLL_OUTGOING:
        put(o, L.DIRECTION, i, 2)
    elif pkttype < SLL_OUTGOING:
        put(o, L.DIRECTION, i, 1)


@inlined
def _family(buf: Bytes, base: Int, big: bool) -> Int:
    """The 4-byte address family of NULL/LOOP, in whichever byte order makes it small."""
    as_big = _u32(buf, base)
    as_little = (np.int64(buf[base]) | (np.int64(buf[base + 1]) << 8)
                 | (np.int64(buf[base + 2]) << 16) | (np.int64(buf[base + 3]) << 24))
    family = as_big if big else as_little
    if family > 0xFFFF:
        family = as_little if big else as_big
    return family


@inlined
def _link(buf: Bytes, base: Int, n: Int, link_type: Int, big_endian: bool, i: Int,
          o: Out) -> tuple[Int, Int]:
    """The EtherType (-1: stop) and position of what follows the link-layer header."""
    if link_type == EN10MB:
        return _ethernet(buf, base, 0, n, i, o)
    if link_type in (LINUX_SLL, LINUX_SLL2):
        v2 = link_type == LINUX_SLL2
        if n < (SLL2_LEN if v2 else SLL_LEN):
            _stop(o, i, TRUNCATED, LINK)
            return -1, 0
        if v2:
            put(o, L.SLL_IFINDEX, i, _u32(buf, base + 4))
            _sll_pkttype(o, i, np.int64(buf[base + 10]))
            return _ethertype(buf, base, 0, SLL2_LEN, n, i, o)
        _sll_pkttype(o, i, _u16(buf, base))
        return _ethertype(buf, base, 14, SLL_LEN, n, i, o)
    if link_type in (RAW, RAW_12, RAW_14):
        if n == 0:
            _stop(o, i, TRUNCATED, IP)
            return -1, 0
        version = buf[base] >> 4
        if version != 4 and version != 6:
            _stop(o, i, MALFORMED, IP)
            return -1, 0
        ethertype = ETH_IPV4 if version == 4 else ETH_IPV6
        put(o, L.L3_PROTO, i, ethertype)
        return ethertype, 0
    if link_type in (LT_IPV4, LT_IPV6):
        ethertype = ETH_IPV4 if link_type == LT_IPV4 else ETH_IPV6
        put(o, L.L3_PROTO, i, ethertype)
        return ethertype, 0
    if link_type in (LT_NULL, LT_LOOP):
        if n < NULL_LEN:
            _stop(o, i, TRUNCATED, LINK)
            return -1, 0
        family = _family(buf, base, big_endian or link_type == LT_LOOP)
        if family == 2:
            ethertype = ETH_IPV4
        elif family == 10 or family == 23 or family == 24 or family == 28 or family == 30:
            ethertype = ETH_IPV6
        else:
            _stop(o, i, UNSUPPORTED, LINK)
            return -1, 0
        put(o, L.L3_PROTO, i, ethertype)
        return ethertype, NULL_LEN
    _stop(o, i, UNSUPPORTED, LINK)
    return -1, 0


# --- transport layer ------------------------------------------------------------------------


@inlined
def _tcp_options(buf: Bytes, base: Int, pos: Int, end: Int, i: Int, o: Out) -> None:
    while pos < end:
        kind = buf[base + pos]
        if kind == OPT_END:
            break
        if kind == OPT_NOP:
            pos += 1
            continue
        if pos + 2 > end:
            break
        size = np.int64(buf[base + pos + 1])
        if size < 2 or pos + size > end:
            break
        a = base + pos + 2
        if kind == OPT_MSS and size == 4:
            if not o.valid[L.TCP_MSS, i]:
                put(o, L.TCP_MSS, i, _u16(buf, a))
        elif kind == OPT_WSCALE and size == 3:
            if not o.valid[L.TCP_WSCALE, i]:
                put(o, L.TCP_WSCALE, i, buf[a])
        elif kind == OPT_SACK_PERM and size == 2:
            setv(o, L.TCP_SACK_PERM, i, 1)
        elif kind == OPT_SACK and (size in (SACK_10, SACK_18, SACK_26, SACK_34)):
            if get(o, L.TCP_SACK_BLOCKS, i) == 0:
                setv(o, L.TCP_SACK_BLOCKS, i, (size - 2) // 8)
                put(o, L.TCP_SACK_LEFT, i, _u32(buf, a))
                put(o, L.TCP_SACK_RIGHT, i, _u32(buf, a + 4))
        elif kind == OPT_TS and size == 10 and not o.valid[L.TCP_TS_VAL, i]:
            put(o, L.TCP_TS_VAL, i, _u32(buf, a))
            put(o, L.TCP_TS_ECR, i, _u32(buf, a + 4))
        pos += size


@inlined
def _tcp(buf: Bytes, base: Int, pos: Int, end: Int, declared: Int, whole: bool, i: Int, o: Out,
         t: Texts, scratch: Bytes) -> None:
    if end - pos < TCP_MIN:
        return _stop(o, i, TRUNCATED, TCP_LAYER)
    a = base + pos
    off_flags = _u16(buf, a + 12)
    hdr_len = (off_flags >> 12) * 4
    if hdr_len < TCP_MIN:
        return _stop(o, i, MALFORMED, TCP_LAYER)
    if end - pos < hdr_len:
        return _stop(o, i, TRUNCATED, TCP_LAYER)
    sport, dport = _u16(buf, a), _u16(buf, a + 2)
    put(o, L.SPORT, i, sport)
    put(o, L.DPORT, i, dport)
    put(o, L.TCP_FLAGS, i, off_flags & 0x01FF)
    put(o, L.TCP_SEQ, i, _u32(buf, a + 4))
    put(o, L.TCP_ACK, i, _u32(buf, a + 8))
    put(o, L.TCP_WIN, i, _u16(buf, a + 14))
    put(o, L.TCP_HDR_LEN, i, hdr_len)
    put(o, L.TCP_SACK_PERM, i, 0)
    put(o, L.TCP_SACK_BLOCKS, i, 0)
    data = pos + hdr_len
    if hdr_len > TCP_MIN:
        _tcp_options(buf, base, pos + TCP_MIN, data, i, o)
    put(o, L.PAYLOAD_LEN, i, max(declared - data, 0))
    # A segment is taken to start a message; one too short for a header is a continuation.
    dns = whole and (_dns_port(sport) or _dns_port(dport))
    if dns and end - data >= DNS_TCP_PREFIX + DNS_HEADER_LEN:
        start = data + DNS_TCP_PREFIX
        decode_message(buf, base + start, end - start, i, o, t, scratch)
    return None


@inlined
def _udp(buf: Bytes, base: Int, pos: Int, end: Int, declared: Int, whole: bool, depth: Int,
         i: Int, o: Out, t: Texts, scratch: Bytes, udp_tunnels: npt.NDArray[np.int8]) -> Int:
    """The UDP header; returns where a VXLAN header to remove starts, else -1."""
    if end - pos < UDP_LEN:
        _stop(o, i, TRUNCATED, UDP_LAYER)
        return -1
    sport, dport = _u16(buf, base + pos), _u16(buf, base + pos + 2)
    put(o, L.SPORT, i, sport)
    put(o, L.DPORT, i, dport)
    data = pos + UDP_LEN
    put(o, L.PAYLOAD_LEN, i, max(declared - data, 0))
    if not whole:
        return -1
    tunnel = udp_tunnels[dport] & DESTINATION_BITS
    if tunnel != NOT_TUNNEL:
        if depth >= MAX_DEPTH:
            return -1
        if tunnel != VXLAN_PORT:
            o.deferred[i] = True
            return -1
        if end - data < vxlan.HEADER_LEN:
            _stop(o, i, TRUNCATED, TUNNEL_LAYER)
            return -1
        return data
    dns = _dns_port(sport) or _dns_port(dport)
    if not dns and (udp_tunnels[sport] & SOURCE_TUNNEL or _teredo_candidate(
            buf, base, data, end, declared)):
        o.deferred[i] = True
        return -1
    if dns:
        if end - data < DNS_HEADER_LEN:
            _stop(o, i, TRUNCATED, DNS_LAYER)
        else:
            decode_message(buf, base + data, end - data, i, o, t, scratch)
    return -1


@inlined
def _teredo_candidate(buf: Bytes, base: Int, data: Int, end: Int, declared: Int) -> bool:
    """A payload that may be Teredo off its port (a superset: the reference decoder decides):
    IPv6-sized, starting with an IPv6 version nibble or an optional header's zero byte."""
    if declared - data < IPV6_LEN or end <= data:
        return False
    first = np.int64(buf[base + data])
    return bool(first >> 4 == TEREDO_VERSION or first == 0)


@inlined
def _quoted(buf: Bytes, base: Int, after: Int, end: Int, proto: Int, src: Int, size: Int,
            i: Int, o: Out, t: Texts) -> None:
    """The IP header quoted in an ICMP error: addresses, protocol, TCP/UDP ports."""
    kind = KIND_V4 if size == 4 else KIND_V6
    o.text[L.ICMP_Q_SRC, i] = intern(t, kind, buf, base + src, size)
    o.text[L.ICMP_Q_DST, i] = intern(t, kind, buf, base + src + size, size)
    put(o, L.ICMP_Q_PROTO, i, proto)
    if (proto in (TCP, UDP)) and end - after >= PORT_LEN:
        put(o, L.ICMP_Q_SPORT, i, _u16(buf, base + after))
        put(o, L.ICMP_Q_DPORT, i, _u16(buf, base + after + 2))


@inlined
def _icmp(buf: Bytes, base: Int, pos: Int, end: Int, declared: Int, v4: bool, i: Int, o: Out,
          t: Texts) -> None:
    if end - pos < ICMP_LEN:
        return _stop(o, i, TRUNCATED, ICMP_LAYER)
    kind, code = np.int64(buf[base + pos]), np.int64(buf[base + pos + 1])
    put(o, L.ICMP_TYPE, i, kind)
    put(o, L.ICMP_CODE, i, code)
    put(o, L.PAYLOAD_LEN, i, max(declared - pos - ICMP_LEN, 0))
    if (v4 and (kind == 0 or kind == 8)) or (not v4 and (kind == 128 or kind == 129)):
        put(o, L.ICMP_ECHO_ID, i, _u16(buf, base + pos + 4))
        put(o, L.ICMP_ECHO_SEQ, i, _u16(buf, base + pos + 6))
    quote = pos + ICMP_LEN
    if v4:
        if kind == 3 and code == 4:
            put(o, L.ICMP_MTU, i, _u16(buf, base + pos + 6))
        error = kind == 3 or kind == 4 or kind == 5 or kind == 11 or kind == 12
        if error and end - quote >= IPV4_MIN:
            first = buf[base + quote]
            ihl = np.int64(first & 0x0F) * 4
            if first >> 4 == 4 and ihl >= IPV4_MIN and end - quote >= ihl:
                _quoted(buf, base, quote + ihl, end, np.int64(buf[base + quote + 9]),
                        quote + 12, 4, i, o, t)
    else:
        if kind == 2:
            put(o, L.ICMP_MTU, i, _u32(buf, base + pos + 4))
        if (kind == 135 or kind == 136) and end - pos >= ND_LEN:
            o.text[L.ICMP_ND_TARGET, i] = intern(t, KIND_V6, buf, base + quote, 16)
        if 1 <= kind <= 4 and end - quote >= IPV6_LEN and buf[base + quote] >> 4 == 6:
            _quoted(buf, base, quote + IPV6_LEN, end, np.int64(buf[base + quote + 6]),
                    quote + 8, 16, i, o, t)
    return None


@inlined
def _transport(buf: Bytes, base: Int, pos: Int, end: Int, declared: Int, proto: Int, v4: bool,
               whole: bool, depth: Int, i: Int, o: Out, t: Texts, scratch: Bytes,
               udp_tunnels: npt.NDArray[np.int8]) -> Int:
    """The transport header; returns where a VXLAN header to remove starts, else -1."""
    if proto == TCP:
        _tcp(buf, base, pos, end, declared, whole, i, o, t, scratch)
    elif proto == UDP:
        return _udp(buf, base, pos, end, declared, whole, depth, i, o, t, scratch, udp_tunnels)
    elif (proto == ICMP and v4) or (proto == ICMPV6 and not v4):
        _icmp(buf, base, pos, end, declared, v4, i, o, t)
    elif whole and (proto in (IP_TUNNEL_4, IP_TUNNEL_41, IP_TUNNEL_47)):
        o.deferred[i] = True
    return -1


# --- network layer --------------------------------------------------------------------------


@inlined
def _ipv4(buf: Bytes, base: Int, pos: Int, limit: Int, depth: Int, i: Int, o: Out, t: Texts,
          scratch: Bytes, udp_tunnels: npt.NDArray[np.int8]) -> tuple[Int, Int]:
    if limit - pos < IPV4_MIN:
        _stop(o, i, TRUNCATED, IP)
        return -1, 0
    a = base + pos
    first = buf[a]
    ihl = np.int64(first & 0x0F) * 4
    if first >> 4 != 4 or ihl < IPV4_MIN:
        _stop(o, i, MALFORMED, IP)
        return -1, 0
    if limit - pos < ihl:
        _stop(o, i, TRUNCATED, IP)
        return -1, 0
    total = _u16(buf, a + 2)
    if total == 0:  # TSO/GSO super-packet: the packet is what was captured
        declared = limit
    elif total < ihl:
        _stop(o, i, MALFORMED, IP)
        return -1, 0
    else:
        declared = pos + total
    frag = _u16(buf, a + 6)
    proto = np.int64(buf[a + 9])
    offset = (frag & 0x1FFF) * 8
    mf = (frag & 0x2000) != 0
    put(o, L.IP_VERSION, i, 4)
    o.text[L.SRC, i] = intern(t, KIND_V4, buf, a + 12, 4)
    o.text[L.DST, i] = intern(t, KIND_V4, buf, a + 16, 4)
    put(o, L.IP_PROTO, i, proto)
    put(o, L.IP_TTL, i, buf[a + 8])
    put(o, L.IP_ID, i, _u16(buf, a + 4))
    put(o, L.IP_LEN, i, total)
    put(o, L.IP_DF, i, (frag >> 14) & 1)
    put(o, L.IP_MF, i, 1 if mf else 0)
    put(o, L.IP_FRAG_OFFSET, i, offset)
    if offset:
        return -1, 0
    end = min(declared, limit)
    return _transport(buf, base, pos + ihl, end, declared, proto, True, not mf, depth, i, o, t,
                      scratch, udp_tunnels), end


@inlined
def _ipv6(buf: Bytes, base: Int, pos: Int, limit: Int, depth: Int, i: Int, o: Out, t: Texts,
          scratch: Bytes, udp_tunnels: npt.NDArray[np.int8]) -> tuple[Int, Int]:
    if limit - pos < IPV6_LEN:
        _stop(o, i, TRUNCATED, IP)
        return -1, 0
    a = base + pos
    if buf[a] >> 4 != 6:
        _stop(o, i, MALFORMED, IP)
        return -1, 0
    plen, proto = _u16(buf, a + 4), np.int64(buf[a + 6])
    declared = limit if plen == 0 else pos + IPV6_LEN + plen  # 0: jumbogram / BIG TCP
    end = min(declared, limit)
    p = pos + IPV6_LEN
    ident: Int = -1
    offset: Int = 0
    mf = False
    while True:
        if proto == 0 or proto == 43 or proto == 60 or proto == IPV6_AH:
            if p + 2 > end:
                _stop(o, i, TRUNCATED, IP)
                return -1, 0
            length = np.int64(buf[base + p + 1])
            size: Int = (length + 2) * 4 if proto == IPV6_AH else (length + 1) * 8
        elif proto == IPV6_FRAGMENT:
            size = IPV6_FRAGMENT_LEN
        else:
            break
        if p + size > end:
            _stop(o, i, TRUNCATED, IP)
            return -1, 0
        if proto == IPV6_FRAGMENT:
            frag = _u16(buf, base + p + 2)
            offset, mf, ident = frag & 0xFFF8, (frag & 1) != 0, _u32(buf, base + p + 4)
        proto = np.int64(buf[base + p])
        p += size
    put(o, L.IP_VERSION, i, 6)
    o.text[L.SRC, i] = intern(t, KIND_V6, buf, a + 8, 16)
    o.text[L.DST, i] = intern(t, KIND_V6, buf, a + 24, 16)
    put(o, L.IP_PROTO, i, proto)
    put(o, L.IP_TTL, i, buf[a + 7])
    if ident >= 0:
        put(o, L.IP_ID, i, ident)
    put(o, L.IP_LEN, i, IPV6_LEN + plen)
    put(o, L.IP_MF, i, 1 if mf else 0)
    put(o, L.IP_FRAG_OFFSET, i, offset)
    if offset:
        return -1, 0
    return _transport(buf, base, p, end, declared, proto, False, not mf, depth, i, o, t,
                      scratch, udp_tunnels), end


# --- ARP --------------------------------------------------------------------------------------


@inlined
def _arp(buf: Bytes, base: Int, pos: Int, limit: Int, i: Int, o: Out, t: Texts) -> None:
    if limit - pos < arp.FIXED_LEN:
        return _stop(o, i, TRUNCATED, ARP_LAYER)
    a = base + pos
    hlen = np.int64(buf[a + arp.HLEN_OFFSET])
    if (_u16(buf, a + arp.PROTOCOL_OFFSET) == ARP_IPV4
            and buf[a + arp.PLEN_OFFSET] == ARP_IPV4_LEN):
        sender = pos + arp.ADDRESSES_AT + hlen
        target = sender + ARP_IPV4_LEN + hlen
        if limit - target < ARP_IPV4_LEN:
            return _stop(o, i, TRUNCATED, ARP_LAYER)
        o.text[L.ARP_SENDER, i] = intern(t, KIND_V4, buf, base + sender, ARP_IPV4_LEN)
        o.text[L.ARP_TARGET, i] = intern(t, KIND_V4, buf, base + target, ARP_IPV4_LEN)
    put(o, L.ARP_OP, i, _u16(buf, a + arp.OP_OFFSET))
    return None


# --- the rows -------------------------------------------------------------------------------


@inlined
def _decapsulate_vxlan(buf: Bytes, base: Int, at: Int, depth: Int, i: Int, o: Out) -> None:
    """The VXLAN header at `at` is removed: the first removal fills the outer columns, then
    the primary columns are emptied for the inner packet."""
    if depth == 0:
        put(o, L.TUNNEL, i, VXLAN_CODE)
        o.text[L.OUTER_SRC, i] = o.text[L.SRC, i]
        o.text[L.OUTER_DST, i] = o.text[L.DST, i]
        put(o, L.VNI, i, _u32(buf, base + at + vxlan.VNI_OFFSET) >> 8)
        put(o, L.OUTER_SPORT, i, get(o, L.SPORT, i))
        put(o, L.OUTER_DPORT, i, get(o, L.DPORT, i))
    for slot in PRIMARY_NUMERIC:
        o.valid[slot, i] = False
    for slot in PRIMARY_TEXT:
        o.text[slot, i] = -1
    put(o, L.TUNNEL_DEPTH, i, depth + 1)


@inlined
def _row(buf: Bytes, base: Int, caplen: Int, link_type: Int, direction: Int, big_endian: bool,
         i: Int, o: Out, t: Texts, scratch: Bytes, udp_tunnels: npt.NDArray[np.int8]) -> None:
    put(o, L.DIRECTION, i, direction)
    put(o, L.TUNNEL_DEPTH, i, 0)
    ethertype, pos = _link(buf, base, caplen, link_type, big_endian, i, o)
    end = caplen
    depth = 0
    while ethertype in (ETH_IPV4, ETH_IPV6):
        if ethertype == ETH_IPV4:
            at, end = _ipv4(buf, base, pos, end, depth, i, o, t, scratch, udp_tunnels)
        else:
            at, end = _ipv6(buf, base, pos, end, depth, i, o, t, scratch, udp_tunnels)
        if at < 0:
            return
        _decapsulate_vxlan(buf, base, at, depth, i, o)
        depth += 1
        ethertype, pos = _ethernet(buf, base, at + vxlan.HEADER_LEN, end, i, o)
    if ethertype == ARP_ETHERTYPE:
        _arp(buf, base, pos, end, i, o, t)


@kernel
def decode_rows(buf: Bytes, offset: npt.NDArray[np.int64], caplen: npt.NDArray[np.uint32],
                link_type: npt.NDArray[np.int64], direction: npt.NDArray[np.uint8],
                big_endian: bool, udp_tunnels: npt.NDArray[np.int8], start: Int, o: Out,
                t: Texts) -> tuple[Int, Int]:
    """Decode rows from `start` on. Returns (n, 0) when done, or, when `t` ran out of room,
    the row to decode again and the answer count to restore first."""
    n = len(offset)
    for i in range(start, n):
        if i + AHEAD < n:  # the headers of a record ahead, fetched while this one is decoded
            for line in range(LINES):
                prefetch(buf, offset[i + AHEAD] + line * LINE)
        answers = t.meta[ANSWERS]
        _row(buf, offset[i], np.int64(caplen[i]), link_type[i], np.int64(direction[i]),
             big_endian, i, o, t, t.scratch, udp_tunnels)
        if t.meta[FULL]:
            return i, answers
    return len(offset), 0

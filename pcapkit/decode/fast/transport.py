"""TCP, UDP, ICMP and ICMPv6 headers, and ICMP errors' quoted IP header."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapkit.decode.dns_message import DNS_PORTS
from pcapkit.decode.fast.columns import Columns, Ints, Mask, require
from pcapkit.decode.fast.gather import Headers
from pcapkit.decode.fast.ip import Transport
from pcapkit.decode.fast.tcp_options import walk_options
from pcapkit.decode.schema import Layer, Status

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
TCP_MIN, UDP_LEN, ICMP_LEN, PORT_LEN = 20, 8, 8, 4
ICMP_ERRORS = (3, 4, 5, 11, 12)
ICMP6_ERRORS = (1, 2, 3, 4)
ICMP_ECHO, ICMP6_ECHO, ICMP6_ND = (0, 8), (128, 129), (135, 136)
ND_LEN = 24  #: a neighbour solicitation or advertisement up to its target address
IPV4_MIN, IPV6_LEN, IPV4_MAX = 20, 40, 60


@dataclass
class Payload:
    """Rows whose transport header was decoded: where the payload starts and ends, the ports."""

    rows: Ints
    start: Ints
    end: Ints  #: parse end
    declared: Ints  #: the IP header's end
    sport: Ints
    dport: Ints
    whole: Mask

    def dns_port(self) -> Mask:
        """Rows to or from a port whose payload is a DNS message (`DNS_PORTS`)."""
        ports = np.array(DNS_PORTS, np.int64)
        mine: Mask = np.isin(self.sport, ports) | np.isin(self.dport, ports)
        return mine


def _tcp(hdr: Headers, cols: Columns, t: Transport) -> Payload:
    rows, start, end = t.rows, t.start, t.end
    ok = require(cols, hdr.k, rows, start, end, TCP_MIN, Layer.TCP)
    t = t.take(ok)
    rows, start, end = t.rows, t.start, t.end
    hdr_len = (hdr.uint(rows, start + 12, 1) >> 4) * 4
    bad = hdr_len < TCP_MIN
    cols.stop(rows[bad], Status.MALFORMED, Layer.TCP)
    t = t.take(~bad)
    rows, start, end, hdr_len = t.rows, t.start, t.end, hdr_len[~bad]
    ok = require(cols, hdr.k, rows, start, end, hdr_len, Layer.TCP)
    t = t.take(ok)
    rows, start, end, hdr_len = t.rows, t.start, t.end, hdr_len[ok]
    sport, dport = hdr.uint(rows, start, 2), hdr.uint(rows, start + 2, 2)
    cols.put("sport", rows, sport)
    cols.put("dport", rows, dport)
    cols.put("tcp_flags", rows, hdr.uint(rows, start + 12, 2) & 0x01FF)
    cols.put("tcp_seq", rows, hdr.uint(rows, start + 4, 4))
    cols.put("tcp_ack", rows, hdr.uint(rows, start + 8, 4))
    cols.put("tcp_win", rows, hdr.uint(rows, start + 14, 2))
    cols.put("tcp_hdr_len", rows, hdr_len)
    cols.put("tcp_sack_perm", rows, False)
    cols.put("tcp_sack_blocks", rows, 0)
    data = start + hdr_len
    cols.put("payload_len", rows, np.maximum(t.declared - data, 0))
    opts = hdr_len > TCP_MIN
    walk_options(hdr, cols, rows[opts], start[opts] + TCP_MIN, data[opts])
    return Payload(rows, data, end, t.declared, sport, dport, t.whole)


def _udp(hdr: Headers, cols: Columns, t: Transport) -> Payload:
    ok = require(cols, hdr.k, t.rows, t.start, t.end, UDP_LEN, Layer.UDP)
    t = t.take(ok)
    rows, start = t.rows, t.start
    sport, dport = hdr.uint(rows, start, 2), hdr.uint(rows, start + 2, 2)
    cols.put("sport", rows, sport)
    cols.put("dport", rows, dport)
    data = start + UDP_LEN
    cols.put("payload_len", rows, np.maximum(t.declared - data, 0))
    return Payload(rows, data, t.end, t.declared, sport, dport, t.whole)


def _icmp(hdr: Headers, cols: Columns, t: Transport) -> None:
    ok = require(cols, hdr.k, t.rows, t.start, t.end, ICMP_LEN, Layer.ICMP)
    t = t.take(ok)
    rows, start, end = t.rows, t.start, t.end
    kind, code = hdr.uint(rows, start, 1), hdr.uint(rows, start + 1, 1)
    cols.put("icmp_type", rows, kind)
    cols.put("icmp_code", rows, code)
    cols.put("payload_len", rows, np.maximum(t.declared - start - ICMP_LEN, 0))
    v4 = t.version == 4
    mtu4 = v4 & (kind == 3) & (code == 4)
    cols.put("icmp_mtu", rows[mtu4], hdr.uint(rows[mtu4], start[mtu4] + 6, 2))
    mtu6 = ~v4 & (kind == 2)
    cols.put("icmp_mtu", rows[mtu6], hdr.uint(rows[mtu6], start[mtu6] + 4, 4))
    echo = np.where(v4, np.isin(kind, ICMP_ECHO), np.isin(kind, ICMP6_ECHO))
    cols.put("icmp_echo_id", rows[echo], hdr.uint(rows[echo], start[echo] + 4, 2))
    cols.put("icmp_echo_seq", rows[echo], hdr.uint(rows[echo], start[echo] + 6, 2))
    nd = ~v4 & np.isin(kind, ICMP6_ND) & (end - start >= ND_LEN)
    far = nd & (start + ND_LEN > hdr.k)
    cols.defer(rows[far])
    nd &= ~far
    cols.put_v6("icmp_nd_target", rows[nd], hdr.block(rows[nd], start[nd] + ICMP_LEN, 16))
    errors = np.where(v4, np.isin(kind, ICMP_ERRORS), np.isin(kind, ICMP6_ERRORS))
    quote = start + ICMP_LEN
    # the quote is read only as far as its ports: past the gathered bytes, defer the row
    far = errors & (quote + IPV4_MAX + PORT_LEN > hdr.k) & (hdr.caplen[rows] > hdr.k)
    cols.defer(rows[far])
    errors &= ~far
    _quote4(hdr, cols, rows[errors & v4], quote[errors & v4], end[errors & v4])
    _quote6(hdr, cols, rows[errors & ~v4], quote[errors & ~v4], end[errors & ~v4])


def _quote4(hdr: Headers, cols: Columns, rows: Ints, quote: Ints, end: Ints) -> None:
    first = hdr.uint(rows, quote, 1)
    ihl = (first & 0x0F) * 4
    ok = (end - quote >= IPV4_MIN) & ((first >> 4) == 4) & (ihl >= IPV4_MIN) & (end - quote >= ihl)
    rows, quote, end, ihl = rows[ok], quote[ok], end[ok], ihl[ok]
    cols.put("icmp_q_src", rows, hdr.uint(rows, quote + 12, 4))
    cols.put("icmp_q_dst", rows, hdr.uint(rows, quote + 16, 4))
    _quoted_ports(hdr, cols, rows, hdr.uint(rows, quote + 9, 1), quote + ihl, end)


def _quote6(hdr: Headers, cols: Columns, rows: Ints, quote: Ints, end: Ints) -> None:
    ok = (end - quote >= IPV6_LEN) & ((hdr.uint(rows, quote, 1) >> 4) == 6)
    rows, quote, end = rows[ok], quote[ok], end[ok]
    cols.put_v6("icmp_q_src", rows, hdr.block(rows, quote + 8, 16))
    cols.put_v6("icmp_q_dst", rows, hdr.block(rows, quote + 24, 16))
    _quoted_ports(hdr, cols, rows, hdr.uint(rows, quote + 6, 1), quote + IPV6_LEN, end)


def _quoted_ports(hdr: Headers, cols: Columns, rows: Ints, proto: Ints, after: Ints,
                  end: Ints) -> None:
    cols.put("icmp_q_proto", rows, proto)
    ported = np.isin(proto, (TCP, UDP)) & (end - after >= PORT_LEN)
    rows, after = rows[ported], after[ported]
    cols.put("icmp_q_sport", rows, hdr.uint(rows, after, 2))
    cols.put("icmp_q_dport", rows, hdr.uint(rows, after + 2, 2))


def decode_transport(hdr: Headers, cols: Columns, t: Transport) -> tuple[Payload, Payload]:
    """The transport header of each row of `t`; the TCP and the UDP rows with their payload."""
    _icmp(hdr, cols, t.take(((t.proto == ICMP) & (t.version == 4))
                            | ((t.proto == ICMPV6) & (t.version == 6))))
    return _tcp(hdr, cols, t.take(t.proto == TCP)), _udp(hdr, cols, t.take(t.proto == UDP))

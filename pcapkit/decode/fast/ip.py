"""IPv4 (any IHL) and IPv6 with up to four extension headers: the IP columns and where the
transport header starts. Whole packets carrying IP-in-IP or GRE are deferred."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcapkit.decode.fast.columns import Columns, Ints, Mask, require
from pcapkit.decode.fast.gather import Headers
from pcapkit.decode.fast.link import ETH_IPV4, Network
from pcapkit.decode.schema import Layer, Status

IPV4_MIN, IPV6_LEN = 20, 40
IPV6_EXTENSIONS = (0, 43, 44, 51, 60)  #: hop-by-hop, routing, fragment, AH, destination options
IPV6_FRAGMENT, IPV6_AH, IPV6_FRAGMENT_LEN = 44, 51, 8
MAX_EXTENSIONS = 4  #: walked here; a fifth defers the row
IP_TUNNELS = (4, 41, 47)


@dataclass
class Transport:
    """Rows whose transport header is to be decoded."""

    rows: Ints
    start: Ints
    end: Ints  #: parse end: the lesser of the captured end and the declared end
    declared: Ints  #: the IP header's end
    proto: Ints
    version: Ints
    whole: Mask  #: not a fragment: DNS and tunnels may be decoded

    def take(self, keep: Mask) -> Transport:
        return Transport(*(getattr(self, f)[keep] for f in
                           ("rows", "start", "end", "declared", "proto", "version", "whole")))


def _ipv4(hdr: Headers, cols: Columns, net: Network) -> Transport:
    rows, start, end = net.rows, net.start, net.end
    ok = require(cols, hdr.k, rows, start, end, IPV4_MIN, Layer.IP)
    rows, start, end = rows[ok], start[ok], end[ok]
    first = hdr.uint(rows, start, 1)
    ihl = (first & 0x0F) * 4
    bad = ((first >> 4) != 4) | (ihl < IPV4_MIN)
    cols.stop(rows[bad], Status.MALFORMED, Layer.IP)
    rows, start, end, ihl = rows[~bad], start[~bad], end[~bad], ihl[~bad]
    ok = require(cols, hdr.k, rows, start, end, ihl, Layer.IP)
    rows, start, end, ihl = rows[ok], start[ok], end[ok], ihl[ok]
    total = hdr.uint(rows, start + 2, 2)
    bad = (total != 0) & (total < ihl)
    cols.stop(rows[bad], Status.MALFORMED, Layer.IP)
    ok = ~bad
    rows, start, end, ihl, total = rows[ok], start[ok], end[ok], ihl[ok], total[ok]
    frag = hdr.uint(rows, start + 6, 2)
    proto = hdr.uint(rows, start + 9, 1)
    offset = (frag & 0x1FFF) * 8
    mf = (frag & 0x2000) != 0
    cols.put("ip_version", rows, 4)
    cols.put("src", rows, hdr.uint(rows, start + 12, 4))
    cols.put("dst", rows, hdr.uint(rows, start + 16, 4))
    cols.put("ip_proto", rows, proto)
    cols.put("ip_ttl", rows, hdr.uint(rows, start + 8, 1))
    cols.put("ip_id", rows, hdr.uint(rows, start + 4, 2))
    cols.put("ip_len", rows, total)
    cols.put("ip_df", rows, (frag & 0x4000) != 0)
    cols.put("ip_mf", rows, mf)
    cols.put("ip_frag_offset", rows, offset)
    declared = np.where(total == 0, end, start + total)
    n = len(rows)
    return Transport(rows, start + ihl, np.minimum(declared, end), declared, proto,
                     np.full(n, 4, np.int64), ~mf).take(offset == 0)


def _extensions(hdr: Headers, cols: Columns, rows: Ints, proto: Ints, pos: Ints,
                end: Ints) -> tuple[Mask, Ints, Ints, Ints, Ints, Mask]:
    """Walk the IPv6 extension headers from `pos`: which rows are whole, and for those the
    final next header, the transport start, the fragment id (-1: none), offset and MF bit."""
    keep = np.ones(len(rows), np.bool_)
    ident = np.full(len(rows), -1, np.int64)
    offset = np.zeros(len(rows), np.int64)
    mf = np.zeros(len(rows), np.bool_)
    for _ in range(MAX_EXTENSIONS):
        walking = np.flatnonzero(keep & np.isin(proto, IPV6_EXTENSIONS))
        if not len(walking):
            break
        r, p, e, kind = rows[walking], pos[walking], end[walking], proto[walking]
        fragment = kind == IPV6_FRAGMENT
        whole = require(cols, hdr.k, r, p, e, np.where(fragment, IPV6_FRAGMENT_LEN, 2), Layer.IP)
        length = hdr.uint(r, p + 1, 1)
        size = np.where(kind == IPV6_AH, (length + 2) * 4, (length + 1) * 8)
        size = np.where(fragment, IPV6_FRAGMENT_LEN, size)
        whole[whole] = require(cols, hdr.k, r[whole], p[whole], e[whole], size[whole], Layer.IP)
        keep[walking[~whole]] = False
        walking, r, p, fragment, size = (a[whole] for a in (walking, r, p, fragment, size))
        field = hdr.uint(r[fragment], p[fragment] + 2, 2)
        at = walking[fragment]
        offset[at], mf[at] = field & 0xFFF8, (field & 1) != 0
        ident[at] = hdr.uint(r[fragment], p[fragment] + 4, 4)
        proto[walking] = hdr.uint(r, p, 1)
        pos[walking] = p + size
    deep = keep & np.isin(proto, IPV6_EXTENSIONS)
    cols.defer(rows[deep])
    keep &= ~deep
    return keep, proto[keep], pos[keep], ident[keep], offset[keep], mf[keep]


def _ipv6(hdr: Headers, cols: Columns, net: Network) -> Transport:
    rows, start, end = net.rows, net.start, net.end
    ok = require(cols, hdr.k, rows, start, end, IPV6_LEN, Layer.IP)
    rows, start, end = rows[ok], start[ok], end[ok]
    bad = (hdr.uint(rows, start, 1) >> 4) != 6
    cols.stop(rows[bad], Status.MALFORMED, Layer.IP)
    rows, start, end = rows[~bad], start[~bad], end[~bad]
    plen = hdr.uint(rows, start + 4, 2)
    declared = np.where(plen == 0, end, start + IPV6_LEN + plen)
    parse_end = np.minimum(declared, end)
    keep, proto, pos, ident, offset, mf = _extensions(
        hdr, cols, rows, hdr.uint(rows, start + 6, 1), start + IPV6_LEN, parse_end)
    rows, start, plen, declared, parse_end = (
        a[keep] for a in (rows, start, plen, declared, parse_end))
    cols.put("ip_version", rows, 6)
    cols.put_v6("src", rows, hdr.block(rows, start + 8, 16))
    cols.put_v6("dst", rows, hdr.block(rows, start + 24, 16))
    cols.put("ip_proto", rows, proto)
    cols.put("ip_ttl", rows, hdr.uint(rows, start + 7, 1))
    fragmented = ident >= 0
    cols.put("ip_id", rows[fragmented], ident[fragmented])
    cols.put("ip_len", rows, IPV6_LEN + plen)
    cols.put("ip_mf", rows, mf)
    cols.put("ip_frag_offset", rows, offset)
    n = len(rows)
    return Transport(rows, pos, parse_end, declared, proto, np.full(n, 6, np.int64),
                     ~mf).take(offset == 0)


def decode_ip(hdr: Headers, cols: Columns, net: Network) -> Transport:
    """The IP header of each row of `net`; the rows that go on to a transport header."""
    v4 = net.ethertype == ETH_IPV4
    a, b = _ipv4(hdr, cols, net.take(v4)), _ipv6(hdr, cols, net.take(~v4))
    both = Transport(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in
                       ("rows", "start", "end", "declared", "proto", "version", "whole")))
    tunnel = both.whole & np.isin(both.proto, IP_TUNNELS)
    cols.defer(both.rows[tunnel])
    return both.take(~tunnel)

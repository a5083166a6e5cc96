"""Link layers: where the network header starts in each row, and its EtherType.

EN10MB, LINUX_SLL, LINUX_SLL2 (each with up to two VLAN tags), RAW/IPV4/IPV6, NULL/LOOP and
unknown link types are decoded here; a frame with a third VLAN tag or a link-layer shim
(`pcapkit.decode.tunnels.ETHER_TUNNELS`) is deferred.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pcapkit.codes import LinkType
from pcapkit.decode import arp, tunnels
from pcapkit.decode.fast.arp import decode_arp
from pcapkit.decode.fast.columns import Columns, Ints, Mask, require
from pcapkit.decode.fast.gather import Headers
from pcapkit.decode.schema import Layer, Status

ETHER_LEN, SLL_LEN, SLL2_LEN, NULL_LEN, TAG_LEN = 14, 16, 20, 4, 4
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
MIN_ETHERTYPE = 0x0600
MAX_TAGS = 2  #: tags walked here; a third one defers the row
SHIMS = np.array(sorted(tunnels.ETHER_TUNNELS), np.int64)
RAW_TYPES = (LinkType.RAW, LinkType.RAW_12, LinkType.RAW_14)
NULL_IPV6 = (10, 23, 24, 28, 30)
SLL_OUTGOING = 4


@dataclass
class Network:
    """Rows whose network header is to be decoded: where it starts and ends, its EtherType."""

    rows: Ints
    start: Ints
    end: Ints  #: end of the bytes available to it (captured end, or the outer packet's end)
    ethertype: Ints

    def take(self, keep: Mask) -> Network:
        return Network(self.rows[keep], self.start[keep], self.end[keep], self.ethertype[keep])


def _concat(parts: list[Network]) -> Network:
    return Network(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                     ("rows", "start", "end", "ethertype")))


def ethertype_walk(hdr: Headers, cols: Columns, rows: Ints, type_at: Ints | int, pos: Ints,
                   end: Ints) -> Network:
    """From the EtherType at `type_at` through VLAN tags (payload at `pos`): the IPv4/IPv6 rows.

    Sets `vlan` and `l3_proto`, and decodes ARP; 802.3 lengths and other EtherTypes end the row
    with `ok`."""
    ethertype = hdr.uint(rows, type_at, 2)
    vlan = np.full(len(rows), -1, np.int64)
    for _ in range(MAX_TAGS):
        tagged = np.isin(ethertype, VLAN_TAGS)
        if not tagged.any():
            break
        whole = require(cols, hdr.k, rows[tagged], pos[tagged], end[tagged], TAG_LEN, Layer.LINK)
        keep = np.ones(len(rows), np.bool_)
        keep[np.flatnonzero(tagged)[~whole]] = False
        tag_rows = rows[tagged][whole]
        tag_pos = pos[tagged][whole]
        walked = tagged.copy()
        walked[tagged] = whole
        tci = np.zeros(len(rows), np.int64)
        tci[walked] = hdr.uint(tag_rows, tag_pos, 2) & 0x0FFF
        vlan = np.where(walked & (vlan < 0), tci, vlan)
        ethertype[walked] = hdr.uint(tag_rows, tag_pos + 2, 2)
        pos = np.where(walked, pos + TAG_LEN, pos)
        rows, ethertype, vlan, pos, end = (a[keep] for a in (rows, ethertype, vlan, pos, end))
    # a third tag, or a shim (MPLS, VNTag, PPPoE): the reference decoder walks on
    deep = np.isin(ethertype, VLAN_TAGS) | np.isin(ethertype, SHIMS)
    if deep.any():
        cols.defer(rows[deep])
        rows, ethertype, vlan, pos, end = (a[~deep] for a in (rows, ethertype, vlan, pos, end))
    tagged = vlan >= 0
    cols.put("vlan", rows[tagged], vlan[tagged])
    typed = ethertype >= MIN_ETHERTYPE
    cols.put("l3_proto", rows[typed], ethertype[typed])
    is_arp = ethertype == arp.ETHERTYPE
    decode_arp(hdr, cols, rows[is_arp], pos[is_arp], end[is_arp])
    ip = (ethertype == ETH_IPV4) | (ethertype == ETH_IPV6)
    return Network(rows[ip], pos[ip], end[ip], ethertype[ip])


def ethernet(hdr: Headers, cols: Columns, rows: Ints, start: Ints, end: Ints) -> Network:
    """An Ethernet frame at `start` in each row (outer, or inside a tunnel)."""
    whole = require(cols, hdr.k, rows, start, end, ETHER_LEN, Layer.LINK)
    rows, start, end = rows[whole], start[whole], end[whole]
    return ethertype_walk(hdr, cols, rows, start + 12, start + ETHER_LEN, end)


def _sll(cols: Columns, rows: Ints, pkttype: Ints) -> None:
    small = pkttype <= 0xFF
    cols.put("sll_pkttype", rows[small], pkttype[small])
    out = pkttype == SLL_OUTGOING
    cols.put("direction", rows[out], 2)
    inbound = pkttype < SLL_OUTGOING
    cols.put("direction", rows[inbound], 1)


def _cooked(hdr: Headers, cols: Columns, rows: Ints, v2: bool) -> Network:
    size = SLL2_LEN if v2 else SLL_LEN
    zero = np.zeros(len(rows), np.int64)
    whole = require(cols, hdr.k, rows, zero, hdr.caplen[rows], size, Layer.LINK)
    rows = rows[whole]
    if v2:
        cols.put("sll_ifindex", rows, hdr.uint(rows, 4, 4).astype(np.uint32).view(np.int32))
        _sll(cols, rows, hdr.uint(rows, 10, 1))
    else:
        _sll(cols, rows, hdr.uint(rows, 0, 2))
    pos = np.full(len(rows), size, np.int64)
    return ethertype_walk(hdr, cols, rows, 0 if v2 else 14, pos, hdr.caplen[rows])


def _raw(hdr: Headers, cols: Columns, rows: Ints, fixed: int | None) -> Network:
    """RAW (version from the first nibble: `fixed` None), IPV4 or IPV6 (`fixed` EtherType)."""
    zero = np.zeros(len(rows), np.int64)
    if fixed is None:
        whole = require(cols, hdr.k, rows, zero, hdr.caplen[rows], 1, Layer.IP)
        rows = rows[whole]
        version = hdr.uint(rows, 0, 1) >> 4
        ethertype = np.where(version == 4, ETH_IPV4, np.where(version == 6, ETH_IPV6, -1))
        bad = ethertype < 0
        cols.stop(rows[bad], Status.MALFORMED, Layer.IP)
        rows, ethertype = rows[~bad], ethertype[~bad]
    else:
        ethertype = np.full(len(rows), fixed, np.int64)
    cols.put("l3_proto", rows, ethertype)
    return Network(rows, np.zeros(len(rows), np.int64), hdr.caplen[rows], ethertype)


def _null(hdr: Headers, cols: Columns, rows: Ints, big_endian: bool) -> Network:
    zero = np.zeros(len(rows), np.int64)
    whole = require(cols, hdr.k, rows, zero, hdr.caplen[rows], NULL_LEN, Layer.LINK)
    rows = rows[whole]
    as_big = hdr.uint(rows, 0, 4)
    as_little = hdr.block(rows, 0, 4).copy().view("<u4")[:, 0].astype(np.int64)
    family = as_big if big_endian else as_little
    swapped = as_little if big_endian else as_big
    family = np.where(family > 0xFFFF, swapped, family)
    ethertype = np.where(family == 2, ETH_IPV4, np.where(np.isin(family, NULL_IPV6), ETH_IPV6, -1))
    bad = ethertype < 0
    cols.stop(rows[bad], Status.UNSUPPORTED, Layer.LINK)
    rows, ethertype = rows[~bad], ethertype[~bad]
    cols.put("l3_proto", rows, ethertype)
    n = len(rows)
    return Network(rows, np.full(n, NULL_LEN, np.int64), hdr.caplen[rows], ethertype)


def decode_link(hdr: Headers, cols: Columns, link_type: npt.NDArray[np.int64],
                big_endian: bool) -> Network:
    """The link layer of every row, by the row's link type."""
    parts: list[Network] = []
    for value in np.unique(link_type).tolist():
        rows = np.flatnonzero(link_type == value).astype(np.int64)
        if value == LinkType.EN10MB:
            parts.append(ethernet(hdr, cols, rows, np.zeros(len(rows), np.int64),
                                  hdr.caplen[rows]))
        elif value in (LinkType.LINUX_SLL, LinkType.LINUX_SLL2):
            parts.append(_cooked(hdr, cols, rows, value == LinkType.LINUX_SLL2))
        elif value in RAW_TYPES:
            parts.append(_raw(hdr, cols, rows, None))
        elif value in (LinkType.IPV4, LinkType.IPV6):
            parts.append(_raw(hdr, cols, rows, ETH_IPV4 if value == LinkType.IPV4 else ETH_IPV6))
        elif value in (LinkType.NULL, LinkType.LOOP):
            parts.append(_null(hdr, cols, rows, big_endian or value == LinkType.LOOP))
        else:
            cols.stop(rows, Status.UNSUPPORTED, Layer.LINK)
    empty = np.zeros(0, np.int64)
    return _concat(parts) if parts else Network(empty, empty, empty, empty)

"""ARP: the operation and, for IPv4, the sender and target addresses (`pcapkit.decode.arp`)."""

from __future__ import annotations

import numpy as np

from pcapkit.decode import arp
from pcapkit.decode.fast.columns import Columns, Ints, require
from pcapkit.decode.fast.gather import Headers
from pcapkit.decode.schema import Layer


def decode_arp(hdr: Headers, cols: Columns, rows: Ints, start: Ints, end: Ints) -> None:
    """The ARP message at `start` of each row (its bytes end at `end`)."""
    whole = require(cols, hdr.k, rows, start, end, arp.FIXED_LEN, Layer.ARP)
    rows, start, end = rows[whole], start[whole], end[whole]
    hlen = hdr.uint(rows, start + arp.HLEN_OFFSET, 1)
    ipv4 = ((hdr.uint(rows, start + arp.PROTOCOL_OFFSET, 2) == arp.IPV4)
            & (hdr.uint(rows, start + arp.PLEN_OFFSET, 1) == arp.IPV4_LEN))
    sender = start + arp.ADDRESSES_AT + hlen
    target = sender + arp.IPV4_LEN + hlen
    # the addresses' bytes are required from the sender's on: the target's end is the last
    need = target + arp.IPV4_LEN - start
    keep = np.ones(len(rows), np.bool_)
    keep[ipv4] = require(cols, hdr.k, rows[ipv4], start[ipv4], end[ipv4], need[ipv4], Layer.ARP)
    at = ipv4 & keep
    cols.put("arp_sender", rows[at], hdr.uint(rows[at], sender[at], 4))
    cols.put("arp_target", rows[at], hdr.uint(rows[at], target[at], 4))
    cols.put("arp_op", rows[keep], hdr.uint(rows[keep], start[keep] + arp.OP_OFFSET, 2))

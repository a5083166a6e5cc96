"""The tally of a packet table: its distinct kinds of packet, with how many of each.

A chunk returns five sums besides its spilled rows: packets per view (`view_counts`), per
direction and address pair (`source_counts`), the flows and protocols of the summary
(`PacketCounts`), the addresses the vantage is read from (`address_kinds`) and the sending
sockets of the ICMP errors (`socket_counts`). Each grouped the packets on its own, hashing every
packet five times (~300 ns a packet on bulk TCP). They read a handful of the same columns, so
the packets are grouped once by all of them, and each sum is taken from the tally's rows: a few
dozen for a bulk TCP chunk of 65k packets, a quarter of the packets for a DNS-heavy one (each
query has a client port of its own). On so few rows the sums are eager queries: polars' default
(streaming) engine spends ~0.7 ms setting up a lazy one, whatever its size.

The kinds are in the order of their first packet, so that a sum taken in packet order (the
first link type of a view, the first tunnel of a socket, tuples in order of appearance) is the
same taken over the tally.
"""

from __future__ import annotations

import polars as pl

from pcapkit.decode.schema import SEEN_AT

#: the packet columns the sums read, as they are
KEY = [*SEEN_AT, "link_type", "sll_pkttype", "direction", "status", "src", "dst", "sport",
       "dport", "ip_proto", "outer_src", "outer_dst", "outer_dport"]


def tally(packets: pl.DataFrame) -> pl.DataFrame:
    """The packets' distinct kinds, in order of first appearance, with `n` packets each: the
    `KEY` columns, and whether they hold an ICMP header (`icmp`), an IP header (`ip`) and a
    DNS message (`dns`)."""
    return packets.group_by(
        *KEY,
        icmp=pl.col("icmp_type").is_not_null(),
        ip=pl.col("ip_version").is_not_null(),
        dns=pl.col("dns_id").is_not_null(),
        maintain_order=True,
    ).agg(n=pl.len())


def packets_where(condition: pl.Expr) -> pl.Expr:
    """The packets of the kinds where `condition` holds (not where it is null)."""
    return pl.col("n").filter(condition).sum()

"""Views: the places where each packet is seen at most once.

A pod's capture is one view. A node's `tcpdump -i any` (LINUX_SLL2) shows one packet once per
interface it crossed (the pod's veth, cni0, flannel.1, and eth0 VXLAN-encapsulated, which
decodes to the same inner packet), so each interface index is its own view. A pcapng file's
interfaces are views too. Per-segment analysis compares packets only within a view.
"""

from __future__ import annotations

import polars as pl

from pcapkit.decode.schema import empty_packets
from pcapkit.flows.schema import DNS_VIEW_ROWS, VIEW_SOURCES, VIEWS
from pcapkit.read.records import Direction

VIEW_KEY = ["capture", "iface", "sll_ifindex"]
#: SLL packet type: received, addressed to another host's link address
OTHERHOST = 3


def add_views(packets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The packets with a `view` column, the VIEWS table and the VIEW_SOURCES table."""
    views = views_table([view_counts(packets)])
    return with_views(packets, views), views, sources_table([source_counts(packets)], views)


def view_counts(packets: pl.DataFrame) -> pl.DataFrame:
    """Packets per view key, with the view's link type: what `views_table` adds up."""
    return packets.group_by(VIEW_KEY, maintain_order=True).agg(
        pl.col("link_type").first(), pl.len().alias("packets"),
        tunneled=pl.col("tunnel").is_not_null().sum(),
        other_host=((pl.col("sll_pkttype") == OTHERHOST) & pl.col("src").is_not_null()).sum())


def views_table(counts: list[pl.DataFrame]) -> pl.DataFrame:
    """The VIEWS table from `view_counts` of every part of the packets, in packet order."""
    return (
        pl.concat(counts or [view_counts(empty_packets())]).group_by(VIEW_KEY,
                                                                     maintain_order=True)
        .agg(pl.col("link_type").first(), pl.col("packets", "tunneled", "other_host").sum())
        .sort(VIEW_KEY, nulls_last=False)
        .with_row_index("view")
        .select(VIEWS.names())
        .cast(VIEWS)
    )


def source_counts(packets: pl.DataFrame) -> pl.DataFrame:
    """Unencapsulated IP packets per view key, direction, source and destination: what
    `sources_table` adds up (only where the capture records directions)."""
    known = pl.col("direction").is_in([Direction.INBOUND, Direction.OUTBOUND])
    return (packets.filter(pl.col("tunnel").is_null() & pl.col("src").is_not_null() & known)
            .group_by(*VIEW_KEY, "direction", "src", "dst").agg(packets=pl.len()))


def sources_table(counts: list[pl.DataFrame], views: pl.DataFrame) -> pl.DataFrame:
    """The VIEW_SOURCES table from `source_counts` of every part of the packets."""
    parts = counts or [source_counts(empty_packets())]
    summed = pl.concat(parts).group_by(*VIEW_KEY, "direction", "src", "dst").agg(
        pl.col("packets").sum())
    return (with_views(summed, views).select(VIEW_SOURCES.names()).cast(VIEW_SOURCES)
            .sort("view", "direction", "src", "dst"))


def dns_views_table(rows: list[pl.DataFrame], views: pl.DataFrame) -> pl.DataFrame:
    """DNS_VIEW_ROWS from `pcapkit.flows.dns.view_rows` of parts of the packets whose DNS client
    sides do not overlap."""
    return (with_views(pl.concat(rows), views).select(DNS_VIEW_ROWS.names()).cast(DNS_VIEW_ROWS)
            .sort("client_ip", "client_port", "view", "server_ip", "server_port", "proto"))


def with_views(packets: pl.DataFrame, views: pl.DataFrame) -> pl.DataFrame:
    """The packets with the `view` column of their view key."""
    # `nulls_equal` because sll_ifindex is null for every link type but LINUX_SLL2.
    return packets.join(
        views.select([*VIEW_KEY, "view"]), on=VIEW_KEY, how="left", nulls_equal=True,
        maintain_order="left",
    )

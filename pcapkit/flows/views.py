"""Views: the places where each packet is seen at most once.

A pod's capture is one view. A node's `tcpdump -i any` (LINUX_SLL2) shows one packet once per
interface it crossed (the pod's veth, cni0, flannel.1, and eth0 VXLAN-encapsulated, which
decodes to the same inner packet), so each interface index is its own view. A pcapng file's
interfaces are views too. Per-segment analysis compares packets only within a view.
"""

from __future__ import annotations

import polars as pl

from pcapkit.decode.schema import empty_packets
from pcapkit.flows.schema import VIEWS

VIEW_KEY = ["capture", "iface", "sll_ifindex"]


def add_views(packets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The packets with a `view` column, and the VIEWS table."""
    views = views_table([view_counts(packets)])
    return with_views(packets, views), views


def view_counts(packets: pl.DataFrame) -> pl.DataFrame:
    """Packets per view key, with the view's link type: what `views_table` adds up."""
    return packets.group_by(VIEW_KEY, maintain_order=True).agg(
        pl.col("link_type").first(), pl.len().alias("packets"))


def views_table(counts: list[pl.DataFrame]) -> pl.DataFrame:
    """The VIEWS table from `view_counts` of every part of the packets, in packet order."""
    return (
        pl.concat(counts or [view_counts(empty_packets())]).group_by(VIEW_KEY,
                                                                     maintain_order=True)
        .agg(pl.col("link_type").first(), pl.col("packets").sum())
        .sort(VIEW_KEY, nulls_last=False)
        .with_row_index("view")
        .select(VIEWS.names())
        .cast(VIEWS)
    )


def with_views(packets: pl.DataFrame, views: pl.DataFrame) -> pl.DataFrame:
    """The packets with the `view` column of their view key."""
    # `nulls_equal` because sll_ifindex is null for every link type but LINUX_SLL2.
    return packets.join(
        views.select([*VIEW_KEY, "view"]), on=VIEW_KEY, how="left", nulls_equal=True,
        maintain_order="left",
    )

"""Views: the places where each packet is seen at most once.

A pod's capture is one view. A node's `tcpdump -i any` (LINUX_SLL2) shows one packet once per
interface it crossed (the pod's veth, cni0, flannel.1, and eth0 VXLAN-encapsulated, which
decodes to the same inner packet), so each interface index is its own view. A pcapng file's
interfaces are views too. Per-segment analysis compares packets only within a view.
"""

from __future__ import annotations

import polars as pl

from pcapkit.flows.schema import VIEWS

VIEW_KEY = ["capture", "iface", "sll_ifindex"]


def add_views(packets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The packets with a `view` column, and the VIEWS table."""
    views = (
        packets.group_by(VIEW_KEY)
        .agg(pl.col("link_type").first(), pl.len().alias("packets"))
        .sort(VIEW_KEY, nulls_last=False)
        .with_row_index("view")
        .select(VIEWS.names())
        .cast(VIEWS)
    )
    # `nulls_equal` because sll_ifindex is null for every link type but LINUX_SLL2.
    with_view = packets.join(
        views.select([*VIEW_KEY, "view"]), on=VIEW_KEY, how="left", nulls_equal=True,
        maintain_order="left",
    )
    return with_view, views

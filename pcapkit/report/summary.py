"""The numbers a report opens with, computed from the packet table and findings."""

from __future__ import annotations

from typing import Any

import polars as pl

#: IP protocol numbers named in summaries; others print as `ip-proto-N`.
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 58: "icmpv6", 132: "sctp"}


def flow_count(packets: pl.DataFrame) -> int:
    """Distinct bidirectional 5-tuples (innermost headers) over all captures: a connection seen
    in several captures, or on several interfaces of one, counts once."""
    ip = packets.filter(pl.col("src").is_not_null() & pl.col("ip_proto").is_not_null())
    if ip.is_empty():
        return 0
    a = pl.format("{}|{}", "src", pl.col("sport").fill_null(0))
    b = pl.format("{}|{}", "dst", pl.col("dport").fill_null(0))
    key = ip.select(pl.min_horizontal(a, b).alias("lo"), pl.max_horizontal(a, b).alias("hi"),
                    "ip_proto")
    return key.unique().height


def protocol_counts(packets: pl.DataFrame) -> dict[str, int]:
    """Packets per transport protocol, plus `dns`, `non-ip` and `undecoded`."""
    counts: dict[str, int] = {}
    by_proto = packets.group_by("ip_proto").len().sort("ip_proto", nulls_last=True)
    for proto, n in by_proto.iter_rows():
        if proto is None:
            continue
        counts[PROTO_NAMES.get(proto, f"ip-proto-{proto}")] = n
    counts["dns"] = packets.filter(pl.col("dns_id").is_not_null()).height
    counts["non-ip"] = packets.filter(pl.col("ip_version").is_null()
                                      & (pl.col("status") == "ok")).height
    counts["undecoded"] = packets.filter(pl.col("status") != "ok").height
    return {k: v for k, v in counts.items() if v}


def tunnel_counts(packets: pl.DataFrame) -> dict[str, int]:
    """Encapsulated packets per tunnel kind and VNI/underlay port, e.g. `vxlan/8472`."""
    t = packets.filter(pl.col("tunnel").is_not_null())
    if t.is_empty():
        return {}
    key = pl.when(pl.col("outer_dport").is_not_null()).then(
        pl.format("{}/{}", pl.col("tunnel").cast(pl.String), "outer_dport")
    ).otherwise(pl.col("tunnel").cast(pl.String))
    return dict(t.group_by(key.alias("k")).len().sort("k").iter_rows())


def symptom_counts(findings: pl.DataFrame) -> dict[str, int]:
    return dict(findings.group_by("kind").len().sort("kind").iter_rows())


def summary(packets: pl.DataFrame, findings: pl.DataFrame) -> dict[str, Any]:
    return {
        "packets": packets.height,
        "flows": flow_count(packets),
        "symptoms": symptom_counts(findings),
        "protocols": protocol_counts(packets),
        "tunnels": tunnel_counts(packets),
    }

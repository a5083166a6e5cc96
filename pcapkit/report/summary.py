"""The numbers a report opens with, computed from the packet table and findings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import polars as pl

from pcapkit.flows.tally import packets_where

#: IP protocol numbers named in summaries; others print as `ip-proto-N`.
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 58: "icmpv6", 132: "sctp"}
#: fixed, so that every process (a worker of a pool or a Dask cluster) hashes alike
FLOW_KEY_SEED = 0x70636B74


@dataclass(frozen=True)
class PacketCounts:
    """What a summary says of the packet table, in a form that adds up over chunks."""

    packets: int
    #: one hash per distinct bidirectional 5-tuple (innermost headers): a connection seen in
    #: several captures, or on several interfaces of one, counts once. 64-bit hashes instead
    #: of the texts keep a busy capture's millions of flows in a few MB.
    flow_keys: pl.Series
    protocols: dict[str, int]  #: packets per transport protocol, `dns`, `non-ip`, `undecoded`
    tunnels: dict[str, int]  #: encapsulated packets per tunnel kind and port, e.g. `vxlan/8472`

    @staticmethod
    def of(kinds: pl.DataFrame) -> PacketCounts:
        """The counts of the packets of a `pcapkit.flows.tally.tally`."""
        return PacketCounts(int(kinds["n"].sum()), _flow_keys(kinds), protocol_counts(kinds),
                            tunnel_counts(kinds))

    @staticmethod
    def merge(parts: list[PacketCounts]) -> PacketCounts:
        keys = pl.concat([p.flow_keys for p in parts]) if parts else _flow_keys(pl.DataFrame())
        protocols: Counter[str] = Counter()
        tunnels: Counter[str] = Counter()
        for p in parts:
            protocols.update(p.protocols)
            tunnels.update(p.tunnels)
        return PacketCounts(sum(p.packets for p in parts), keys.unique(),
                            _ordered(protocols), dict(sorted(tunnels.items())))

    @property
    def flows(self) -> int:
        return self.flow_keys.len()


def _ordered(protocols: Counter[str]) -> dict[str, int]:
    """Protocol counts in `protocol_counts`' order: by protocol number, then the tail."""
    tail = ["dns", "non-ip", "undecoded"]
    numbers = {name: number for number, name in PROTO_NAMES.items()}

    def rank(name: str) -> tuple[int, int]:
        if name in tail:
            return (1, tail.index(name))
        return (0, numbers.get(name) or int(name.removeprefix("ip-proto-")))

    return {k: protocols[k] for k in sorted(protocols, key=rank) if protocols[k]}


def _flow_keys(kinds: pl.DataFrame) -> pl.Series:
    if kinds.is_empty():
        return pl.Series("key", [], pl.UInt64)
    ip = kinds.filter(pl.col("src").is_not_null() & pl.col("ip_proto").is_not_null())
    sport, dport = pl.col("sport").fill_null(0), pl.col("dport").fill_null(0)
    # The endpoints in a canonical order, so that both directions give one key.
    src, dst = pl.col("src"), pl.col("dst")
    a_first = (src < dst) | ((src == dst) & (sport <= dport))
    key = pl.struct(
        pl.when(a_first).then("src").otherwise("dst").alias("a"),
        pl.when(a_first).then(sport).otherwise(dport).alias("a_port"),
        pl.when(a_first).then("dst").otherwise("src").alias("b"),
        pl.when(a_first).then(dport).otherwise(sport).alias("b_port"),
        "ip_proto",
    )
    return ip.select(key.hash(seed=FLOW_KEY_SEED).alias("key")).to_series().unique()


def protocol_counts(kinds: pl.DataFrame) -> dict[str, int]:
    """Packets of a `tally` per transport protocol, plus `dns`, `non-ip` and `undecoded`."""
    counts: dict[str, int] = {}
    by_proto = kinds.group_by("ip_proto").agg(pl.col("n").sum()).sort("ip_proto",
                                                                      nulls_last=True)
    for proto, n in by_proto.iter_rows():
        if proto is None:
            continue
        counts[PROTO_NAMES.get(proto, f"ip-proto-{proto}")] = n
    counts.update(kinds.select(
        dns=packets_where(pl.col("dns")),
        **{"non-ip": packets_where(~pl.col("ip") & (pl.col("status") == "ok"))},
        undecoded=packets_where(pl.col("status") != "ok")).row(0, named=True))
    return {k: v for k, v in counts.items() if v}


def tunnel_counts(kinds: pl.DataFrame) -> dict[str, int]:
    """Encapsulated packets of a `tally` per tunnel kind and VNI/underlay port, e.g.
    `vxlan/8472`."""
    key = pl.when(pl.col("outer_dport").is_not_null()).then(
        pl.format("{}/{}", pl.col("tunnel").cast(pl.String), "outer_dport")
    ).otherwise(pl.col("tunnel").cast(pl.String))
    return dict(kinds.filter(pl.col("tunnel").is_not_null()).group_by(key.alias("k"))
                .agg(pl.col("n").sum()).sort("k").iter_rows())


def symptom_counts(findings: pl.DataFrame) -> dict[str, int]:
    return dict(findings.group_by("kind").len().sort("kind").iter_rows())


def summary(counts: PacketCounts, findings: pl.DataFrame) -> dict[str, Any]:
    return {
        "packets": counts.packets,
        "flows": counts.flows,
        "symptoms": symptom_counts(findings),
        "protocols": counts.protocols,
        "tunnels": counts.tunnels,
    }

"""kube_proxy_missing: connections to a Service address that left a node without DNAT.

Definition: a TCP connection whose server, as its client saw it, lies in
`kube_service_cidrs` (a ClusterIP), that no view shows DNATed (every view names that same
server address and port), and of whose client packets at least one was forwarded by a router
while still addressed to it: its TTL is below the initial value it was sent with (the
smallest of 64, 128 and 255 that is not below it; Linux, Windows and network gear use these).
kube-proxy DNATs a ClusterIP in PREROUTING (OUTPUT for a host's own connections), before the
node routes the packet, so a packet still addressed to the ClusterIP after a hop means the node
had no rule for that Service: kube-proxy not running there, not yet synced, or its chains
flushed. The node then routes the ClusterIP like any other address: usually out of its underlay
NIC to the default gateway (masqueraded to the node's address on the way, as CNIs masquerade
traffic leaving the pod network), or into the overlay, and no endpoint ever answers.

Where it shows: on the client node's `-i any` capture (the underlay NIC's copy) and on the
underlay; a pod's own capture shows its packets before any router, so it cannot tell (its
SYNs are still `unanswered_syn`). `count` is the packets seen forwarded without DNAT in the
view that saw the most of them, `hops` (in `extra`) the TTL decrease seen. Severity error.

Not reported: a connection any view shows DNATed (for instance a cluster that routes ClusterIPs
from outside to a node, which DNATs them on arrival). A capture on that node's underlay alone,
without the DNATed leg, would show the arriving packets and be reported: give the node's
`-i any` capture with it. UDP (DNS to a ClusterIP) is not covered: its lookups time out
(`dns_timeout`).

Neither Wireshark nor Zeek know which addresses are virtual; both show an ordinary connection
attempt (S0) to an address nothing owns.

Tunables (pcapkit/detect/config.py): `kube_service_cidrs`.
"""

from __future__ import annotations

import ipaddress

import polars as pl

from pcapkit.detect.config import Config
from pcapkit.detect.findings import Severity, empty_findings, extra_json
from pcapkit.detect.tcp_conn import as_client_saw, evidence, findings
from pcapkit.flows import Tables

KIND = "kube_proxy_missing"
#: the initial TTLs stacks use: a packet's sender used the smallest not below what it carries
INITIAL_TTLS = (64, 128, 255)


def _in_ranges(addresses: list[str], cidrs: tuple[str, ...]) -> list[str]:
    nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    out = []
    for text in addresses:
        addr = ipaddress.ip_address(text)
        if any(addr.version == n.version and addr in n for n in nets):
            out.append(text)
    return out


def hops(ttl: pl.Expr) -> pl.Expr:
    """Routers a packet crossed since it was sent: its initial TTL minus what it carries."""
    initial = pl.lit(INITIAL_TTLS[-1], pl.Int16)
    for value in reversed(INITIAL_TTLS[:-1]):
        initial = pl.when(ttl <= value).then(pl.lit(value, pl.Int16)).otherwise(initial)
    return initial - ttl.cast(pl.Int16)


#: a packet from the client that a router forwarded
FORWARDED = pl.col("from_client") & (hops(pl.col("ip_ttl")) >= 1)


def not_dnated(tables: Tables, config: Config) -> pl.DataFrame:
    """conn → `dialled_ip`, `dialled_port`: the connections whose client dialled a Service
    address (in `kube_service_cidrs`) that no view shows DNATed: those whose forwarded packets
    are the symptom."""
    services = _in_ranges(tables.connections["server_ip"].drop_nulls().unique().to_list(),
                          config.kube_service_cidrs)
    # Only connections that some view saw with a Service address can have been dialled to one
    # (each connection's client view is one of its own rows): most are left out before the
    # client view is worked out.
    dialled = tables.connections.filter(pl.col("server_ip").is_in(services))["conn"].unique()
    saw = as_client_saw(tables, dialled)
    asked = saw.filter(pl.col("server_ip").is_in(services)).select(
        "conn", dialled_ip="server_ip", dialled_port="server_port")
    dnated = tables.connections.join(asked, on="conn").filter(
        (pl.col("server_ip") != pl.col("dialled_ip"))
        | (pl.col("server_port") != pl.col("dialled_port")))["conn"]
    return asked.filter(~pl.col("conn").is_in(dnated.implode()))


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    asked = not_dnated(tables, config)
    if asked.is_empty():
        return empty_findings()
    # The forwarded packets alone, and only the columns read of them: a connection to a
    # Service address that no view saw DNATed (a pod's own capture shows none) has most of its
    # packets from its client, and filtered first, they were copied with every column (one
    # connection of 10M packets: +300 MB, of which nothing was kept).
    sent = tables.packets.lazy().filter(
        pl.col("conn").is_in(asked["conn"].implode()) & FORWARDED
    ).select("conn", "view", "capture", "frame", "ts_ns", hops=hops(pl.col("ip_ttl"))).collect()
    per_view = sent.group_by("conn", "view").agg(n=pl.len(), hops=pl.col("hops").max())
    per_conn = per_view.group_by("conn").agg(count=pl.col("n").max(), hops=pl.col("hops").max())
    rows = per_conn.join(evidence(sent), on="conn").join(asked, on="conn").sort("conn")
    return findings(tables, rows.with_columns(
        kind=pl.lit(KIND),
        severity=pl.lit(Severity.ERROR.value),
        explanation=pl.format(
            "{} packet(s) to {}:{} were forwarded by a router while still addressed to that "
            "Service address ({} hop(s) by their TTL), never DNATed to an endpoint: kube-proxy "
            "on the node that forwarded them has no rules for this Service (not running, not "
            "yet synced, or its chains flushed), so the node routed the ClusterIP out like "
            "any other address and no endpoint could answer.",
            "count", "dialled_ip", "dialled_port", "hops"),
        extra=pl.Series([extra_json(hops=h) for h in rows["hops"].to_list()],
                        dtype=pl.String),
    ))

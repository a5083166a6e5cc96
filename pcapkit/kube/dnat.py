"""Following a connection across kube-proxy's DNAT: which endpoint a ClusterIP connection got.

A pod's capture shows `client → ClusterIP:port`; a node's capture (or the underlay's, once
decapsulated) shows the same connection after DNAT, `client → endpoint:targetPort`, with the
same client address and port. Matching the client side and the Service's endpoint set names the
endpoint kube-proxy chose, with its EndpointSlice conditions.
"""

from __future__ import annotations

import polars as pl

from pcapkit.kube.snapshot import Snapshot

LEGS = pl.Schema({
    "client_ip": pl.String, "client_port": pl.UInt16, "protocol": pl.String,
    "service": pl.String, "service_ip": pl.String, "service_port": pl.UInt16,
    "endpoint_ip": pl.String, "endpoint_port": pl.UInt16, "endpoint_target": pl.String,
    "endpoint_state": pl.String,
})
#: One row per (Service port, endpoint): what kube-proxy may DNAT `service_ip:service_port` to.
TARGETS = pl.Schema({
    "service": pl.String, "service_ip": pl.String, "service_port": pl.UInt16,
    "protocol": pl.String, "endpoint_ip": pl.String, "endpoint_port": pl.UInt16,
    "endpoint_target": pl.String, "endpoint_state": pl.String, "proxied": pl.Boolean,
})


def endpoint_state(ready: bool, serving: bool, terminating: bool) -> str:
    """One word for an EndpointSlice endpoint's conditions."""
    if terminating:
        return "terminating"
    if ready:
        return "ready"
    return "serving-not-ready" if serving else "not-ready"


def endpoint_rows(snap: Snapshot) -> pl.DataFrame:
    """Every EndpointSlice endpoint and port: its Service (`NS/NAME`), the Service's namespace,
    name and port name, `endpoint_ip`, `endpoint_port`, `endpoint_target` (`pod NS/NAME`),
    `endpoint_state`, and the `ready` and `serving` conditions."""
    return snap.endpoints.select(
        pl.format("{}/{}", "namespace", "service").alias("service"),
        "namespace", pl.col("service").alias("svc_name"), "port_name",
        pl.col("ip").alias("endpoint_ip"), pl.col("port").alias("endpoint_port"),
        pl.when(pl.col("target_kind") == "Pod")
        .then(pl.format("pod {}/{}", "target_namespace", "target_name"))
        .alias("endpoint_target"),
        pl.struct("ready", "serving", "terminating")
        .map_elements(lambda c: endpoint_state(c["ready"], c["serving"], c["terminating"]),
                      return_dtype=pl.String).alias("endpoint_state"),
        "ready", "serving")


def service_targets(snap: Snapshot) -> pl.DataFrame:
    """Every Service port with a ClusterIP joined to its endpoints (`TARGETS`).

    `proxied` marks the endpoints kube-proxy sends new connections to: the ready ones, or, when
    none is ready, the serving ones (terminating endpoints still serving; KEP-1669).
    """
    svc = snap.services.filter(pl.col("cluster_ip").is_not_null()).select(
        pl.format("{}/{}", "namespace", "name").alias("service"),
        pl.col("cluster_ip").alias("service_ip"), pl.col("port").alias("service_port"),
        pl.col("protocol").str.to_lowercase().alias("protocol"), "namespace",
        pl.col("name").alias("svc_name"), "port_name")
    # Ports of a Service and of its slices pair by name (unnamed ports by the single entry).
    targets = svc.join(endpoint_rows(snap).drop("service"),
                       on=["namespace", "svc_name", "port_name"], how="inner", nulls_equal=True)
    by_port = ["service", "service_ip", "service_port", "protocol"]
    proxied = (pl.when(pl.col("ready").any().over(by_port)).then(pl.col("ready"))
               .otherwise(pl.col("serving")))
    return (targets.with_columns(proxied=proxied).select(TARGETS.names()).cast(TARGETS)
            .unique(maintain_order=True))


def dnat_legs(packets: pl.DataFrame, snap: Snapshot) -> pl.DataFrame:
    """Client-side (pre-DNAT) and endpoint-side (post-DNAT) legs of the same connections."""
    targets = service_targets(snap)
    if targets.is_empty():
        return pl.DataFrame(schema=LEGS)
    pkt = packets.filter(pl.col("ip_proto").is_in([6, 17])).select(
        pl.col("src").alias("client_ip"), pl.col("sport").alias("client_port"),
        pl.when(pl.col("ip_proto") == 6).then(pl.lit("tcp")).otherwise(pl.lit("udp"))
        .alias("protocol"), "dst", "dport").unique()
    pre = pkt.join(targets.select("service", "service_ip", "service_port", "protocol").unique(),
                   left_on=["dst", "dport", "protocol"],
                   right_on=["service_ip", "service_port", "protocol"], how="inner")
    pre = pre.with_columns(pl.col("dst").alias("service_ip"), pl.col("dport").alias("service_port"))
    post = pkt.join(targets.drop("service_ip", "service_port"),
                    left_on=["dst", "dport", "protocol"],
                    right_on=["endpoint_ip", "endpoint_port", "protocol"], how="inner")
    post = post.with_columns(pl.col("dst").alias("endpoint_ip"),
                             pl.col("dport").alias("endpoint_port"))
    legs = pre.join(post.select("client_ip", "client_port", "protocol", "service",
                                "endpoint_ip", "endpoint_port", "endpoint_target",
                                "endpoint_state"),
                    on=["client_ip", "client_port", "protocol", "service"], how="inner")
    return legs.select(LEGS.names()).cast(LEGS).unique(maintain_order=True)

"""Following a connection across kube-proxy's DNAT: which endpoint a ClusterIP connection got.

A pod's capture shows `client → ClusterIP:port`; a node's capture (or the underlay's, once
decapsulated) shows the same connection after DNAT, `client → endpoint:targetPort`, with the
same client address and port. Matching the client side and the Service's endpoint set names the
endpoint kube-proxy chose, with its EndpointSlice conditions.

A Service's other front doors are DNATed the same way: each node's address with the Service's
`nodePort` (kube-proxy's KUBE-NODEPORTS, nftables' `service-nodeports`), and each
`status.loadBalancer.ingress` IP with the Service's port. With `externalTrafficPolicy: Local`
a node sends its NodePort's connections to its own endpoints only (none: it drops them).
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
    "node_port": pl.String, "endpoint_node": pl.String,
})


def endpoint_state(ready: bool, serving: bool, terminating: bool) -> str:
    """One word for an EndpointSlice endpoint's conditions.

    Ready but not serving is what the EndpointSlice controller writes for a pod that is not
    ready behind a Service with `publishNotReadyAddresses` (ready forced true, serving the
    pod's readiness): `published-not-ready`."""
    if terminating:
        return "terminating"
    if ready:
        return "ready" if serving else "published-not-ready"
    return "serving-not-ready" if serving else "not-ready"


def endpoint_rows(snap: Snapshot) -> pl.DataFrame:
    """Every EndpointSlice endpoint and port: its Service (`NS/NAME`), the Service's namespace,
    name and port name, `endpoint_ip`, `endpoint_port`, its `protocol` (lower case),
    `endpoint_target` (`pod NS/NAME`), `endpoint_state`, the `ready` and `serving` conditions,
    and `endpoint_node`."""
    return snap.endpoints.select(
        pl.format("{}/{}", "namespace", "service").alias("service"),
        "namespace", pl.col("service").alias("svc_name"), "port_name",
        pl.col("ip").alias("endpoint_ip"), pl.col("port").alias("endpoint_port"),
        pl.col("protocol").str.to_lowercase(),
        pl.when(pl.col("target_kind") == "Pod")
        .then(pl.format("pod {}/{}", "target_namespace", "target_name"))
        .alias("endpoint_target"),
        pl.struct("ready", "serving", "terminating")
        .map_elements(lambda c: endpoint_state(c["ready"], c["serving"], c["terminating"]),
                      return_dtype=pl.String).alias("endpoint_state"),
        "ready", "serving", pl.col("node").alias("endpoint_node"))


def service_targets(snap: Snapshot) -> pl.DataFrame:
    """Every front door of every Service port (ClusterIP:port, node address:nodePort,
    LoadBalancer ingress IP:port) joined to its endpoints (`TARGETS`); `node_port` reads
    `node NAME:PORT` on a NodePort's rows.

    `proxied` marks the endpoints kube-proxy sends new connections to: the ready ones, or, when
    none is ready, the serving ones (terminating endpoints still serving; KEP-1669); through a
    node's NodePort with `externalTrafficPolicy: Local`, only those on that node.
    """
    svc = front_doors(snap)
    # Ports of a Service and of its slices pair by name (unnamed ports by the single entry),
    # a Service's port names being unique over its protocols.
    targets = svc.join(endpoint_rows(snap).drop("service", "protocol"),
                       on=["namespace", "svc_name", "port_name"], how="inner", nulls_equal=True)
    local = pl.col("node").is_not_null() & (pl.col("external_traffic_policy") == "Local")
    eligible = ~local | (pl.col("endpoint_node") == pl.col("node")).fill_null(False)
    ready, serving = pl.col("ready") & eligible, pl.col("serving") & eligible
    by_port = ["service", "service_ip", "service_port", "protocol"]
    proxied = pl.when(ready.any().over(by_port)).then(ready).otherwise(serving)
    return (targets.with_columns(proxied=proxied).select(TARGETS.names()).cast(TARGETS)
            .unique(maintain_order=True))


def front_doors(snap: Snapshot) -> pl.DataFrame:
    """Every address:port a Service port is reached at: its ClusterIPs with its port, each
    node's address with its nodePort (`node` and `node_port` name them), each LoadBalancer
    ingress IP with its port; with the Service's name, port name, protocol and
    `external_traffic_policy`."""
    base = snap.services.select(
        pl.format("{}/{}", "namespace", "name").alias("service"),
        pl.col("protocol").str.to_lowercase().alias("protocol"), "namespace",
        pl.col("name").alias("svc_name"), "port_name", "port", "node_port",
        "external_traffic_policy", "cluster_ip", "load_balancer_ips")
    columns = ["service", "service_ip", "service_port", "protocol", "namespace", "svc_name",
               "port_name", "external_traffic_policy", "node", "node_port"]
    no_node = pl.lit(None, pl.String).alias("node")
    cluster = base.filter(pl.col("cluster_ip").is_not_null()).with_columns(
        pl.col("cluster_ip").alias("service_ip"), pl.col("port").alias("service_port"), no_node)
    nodes = snap.nodes.select(pl.col("ip").alias("service_ip"), pl.col("name").alias("node"))
    node_ports = (base.filter(pl.col("node_port").is_not_null()).join(nodes, how="cross")
                  .with_columns(pl.col("node_port").alias("service_port")))
    balancers = (base.explode("load_balancer_ips")
                 .filter(pl.col("load_balancer_ips").is_not_null())
                 .with_columns(pl.col("load_balancer_ips").alias("service_ip"),
                               pl.col("port").alias("service_port"), no_node))
    return pl.concat([
        frame.with_columns(node_port=pl.when(pl.col("node").is_not_null())
                           .then(pl.format("node {}:{}", "node", "service_port")))
        .select(columns).cast({"service_port": pl.UInt16, "service_ip": pl.String})
        for frame in (cluster, node_ports, balancers)
    ]).unique(["service_ip", "service_port", "protocol"], keep="first", maintain_order=True)


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


def nat_legs(connections: pl.DataFrame, snap: Snapshot) -> pl.DataFrame:
    """The legs of TCP connections (CONNECTIONS) that arrived at a Service's front door and left
    for one of its endpoints, paired by the connection id the flow stage gave both: the only
    pairing left when the node also masqueraded them (a NodePort with `externalTrafficPolicy:
    Cluster`, a pod reaching itself through its Service), since then no address or port of
    the two legs is the same (LEGS, keyed by the arriving leg's client)."""
    targets = service_targets(snap).filter(pl.col("protocol") == "tcp")
    if targets.is_empty() or connections.is_empty():
        return pl.DataFrame(schema=LEGS)
    legs = connections.select("conn", "client_ip", "client_port", "server_ip", "server_port")
    arriving = legs.join(targets.select("service", "service_ip", "service_port").unique(),
                         left_on=["server_ip", "server_port"],
                         right_on=["service_ip", "service_port"], how="inner")
    leaving = legs.select("conn", "server_ip", "server_port").join(
        targets.drop("service_ip", "service_port"),
        left_on=["server_ip", "server_port"], right_on=["endpoint_ip", "endpoint_port"],
        how="inner")
    return (
        arriving.join(leaving, on=["conn", "service"], how="inner", suffix="_leaving")
        .select("client_ip", "client_port", "protocol", "service",
                pl.col("server_ip").alias("service_ip"),
                pl.col("server_port").alias("service_port"),
                pl.col("server_ip_leaving").alias("endpoint_ip"),
                pl.col("server_port_leaving").alias("endpoint_port"),
                "endpoint_target", "endpoint_state")
        .cast(LEGS).unique(maintain_order=True)
    )

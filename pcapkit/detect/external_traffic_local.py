"""external_traffic_local: connections to a NodePort that its node drops for want of a local
endpoint.

Definition: a TCP connection whose server, as its client saw it, is a node's address and the
nodePort of a Service with `externalTrafficPolicy: Local` (from the snapshot: `local_node_ports`)
while that node runs no ready endpoint of the Service, and that no view shows answered (no
SYN-ACK, no RST, in any view). With the `Local` policy kube-proxy sends a NodePort's
connections only to endpoints on the node they arrived at, to keep the client's address; a node
without one has nothing to send them to, and kube-proxy drops them there (iptables:
`KUBE-EXT-…` without endpoints jumps to `KUBE-MARK-DROP`; nftables: the `no-endpoint-nodeports`
map). The client sees SYNs time out. An external load balancer's health check
(`healthCheckNodePort`) normally keeps such nodes out of rotation: a client reaching one
directly, or a balancer whose check is wrong, ends here. `count` is the client's SYNs (the most
any one view saw); severity error. The finding names the node, the Service, and the nodes
that do run its endpoints.

Neither Wireshark nor Zeek know the policy; both show an unanswered connection attempt (S0),
which `unanswered_syn` also reports when the capture shows the client retrying.

Tunables (pcapkit/detect/config.py): `local_node_ports` (filled from the snapshot).
"""

from __future__ import annotations

import polars as pl

from pcapkit.detect.config import Config
from pcapkit.detect.findings import Severity, empty_findings, extra_json
from pcapkit.detect.tcp_conn import as_client_saw, evidence, findings
from pcapkit.flows import Tables

KIND = "external_traffic_local"
DOORS = pl.Schema({"door": pl.String, "node": pl.String, "service": pl.String,
                   "endpoint_nodes": pl.String})


def doors(config: Config) -> pl.DataFrame:
    """`local_node_ports` as a frame: `ip:port`, the node, the Service, where its endpoints
    are (`|`-separated in each entry)."""
    return pl.DataFrame([entry.split("|") for entry in config.local_node_ports],
                        schema=DOORS, orient="row")


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    if not config.local_node_ports:
        return empty_findings()
    saw = as_client_saw(tables).with_columns(door=pl.format("{}:{}", "server_ip", "server_port"))
    asked = saw.join(doors(config), on="door").select("conn", "node", "service",
                                                      "endpoint_nodes")
    answered = tables.connections.group_by("conn").agg(
        (pl.col("synack_count").sum() + pl.col("rst_from_server").sum() > 0).alias("answered"))
    asked = asked.join(answered, on="conn").filter(~pl.col("answered")).drop("answered")
    conns = tables.connections.join(asked.select("conn"), on="conn")
    per_conn = conns.group_by("conn").agg(count=pl.col("syn_count").max())
    shown = tables.packets.filter(pl.col("conn").is_in(asked["conn"].implode()))
    rows = per_conn.join(evidence(shown), on="conn").join(asked, on="conn").sort("conn")
    where = pl.when(pl.col("endpoint_nodes") != "").then(
        pl.format("its endpoints run on {}", "endpoint_nodes")).otherwise(
        pl.lit("it has no ready endpoint at all"))
    return findings(tables, rows.with_columns(
        kind=pl.lit(KIND),
        severity=pl.lit(Severity.ERROR.value),
        explanation=pl.format(
            "{} SYN(s) to the NodePort of Service {} on node {} got no answer: the Service has "
            "externalTrafficPolicy: Local and that node runs no ready endpoint of it, so "
            "kube-proxy there drops its NodePort traffic ({}). Send it to a node that runs one, "
            "or use externalTrafficPolicy: Cluster.",
            "count", "service", "node", where),
        extra=pl.Series([extra_json(node=f"node {n}") for n in rows["node"].to_list()],
                        dtype=pl.String),
    ))

"""What an address is in the cluster: a pod, a node, a Service's ClusterIP.

Names read as the contract writes them: `pod NAMESPACE/NAME`, `node NAME`, Services
`NAMESPACE/NAME`.
"""

from __future__ import annotations

import ipaddress
import re

import polars as pl

from pcapkit.kube.snapshot import Snapshot

#: a Service's DNS name: `NAME.NAMESPACE.svc`, then the cluster domain if any
SVC_NAME = re.compile(r"([^.]+)\.([^.]+)\.svc(\..+)?")
NAMES = pl.Schema({"ip": pl.String, "kind": pl.String, "name": pl.String})


def address_names(snap: Snapshot) -> pl.DataFrame:
    """One row per known address: kind (`pod`, `node`, `service`) and the display name.

    A hostNetwork pod shares its node's address: the node's name wins there, since a packet
    from that address may come from any process on the node.
    """
    pods = snap.pods.filter(~pl.col("host_network")).select(
        "ip", pl.lit("pod").alias("kind"),
        pl.format("pod {}/{}", "namespace", "name").alias("name"))
    nodes = snap.nodes.select("ip", pl.lit("node").alias("kind"),
                              pl.format("node {}", "name").alias("name"))
    services = snap.services.filter(pl.col("cluster_ip").is_not_null()).select(
        pl.col("cluster_ip").alias("ip"), pl.lit("service").alias("kind"),
        pl.format("{}/{}", "namespace", "name").alias("name"))
    return (pl.concat([nodes, pods, services]).unique("ip", keep="first", maintain_order=True)
            .cast(NAMES))


def node_of_address(snap: Snapshot, ip: str) -> str | None:
    """The node whose address or pod CIDR holds `ip`."""
    for row in snap.nodes.iter_rows(named=True):
        if row["ip"] == ip:
            return str(row["name"])
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    for row in snap.nodes.iter_rows(named=True):
        for cidr in (row["pod_cidr"] or "").split(","):
            if cidr and addr.version == ipaddress.ip_network(cidr).version \
                    and addr in ipaddress.ip_network(cidr):
                return str(row["name"])
    return None

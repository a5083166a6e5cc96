"""Which sockets the snapshot says carry cleartext HTTP/2: a Service port's `appProtocol`.

A Service port may name its application protocol (`spec.ports[].appProtocol`, KEP-3726); the
EndpointSlice controller copies it into the slice's port. `kubernetes.io/h2c` is HTTP/2 over
cleartext with prior knowledge, and `grpc`, `http2` and `h2c` are the names meshes and
ingress controllers read the same way (gRPC inside a cluster is h2c). Such a conversation is
HTTP/2 from its first byte to its last, so `show` decodes it as HTTP/2 even where a capture
that began mid-connection holds no client preface to tell it by.

The sockets are every address a client may dial for the port (the ClusterIPs, LoadBalancer
ingress IPs) with the Service port, and every endpoint address with the slice's port (the
targetPort resolved): the conversation before DNAT and after it. NodePorts are not among them:
a node's port says nothing of which Service it is without the node's address list.
"""

from __future__ import annotations

import polars as pl

from pcapkit.kube.snapshot import Snapshot

#: `appProtocol` values that mean cleartext HTTP/2 (compared case-insensitively)
H2C_APP_PROTOCOLS = frozenset({"kubernetes.io/h2c", "h2c", "grpc", "http2"})

Socket = tuple[str, int]


def _h2c(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase().is_in(list(H2C_APP_PROTOCOLS))


def h2c_sockets(snap: Snapshot) -> frozenset[Socket]:
    """(ip, port) of each Service address and endpoint whose port declares cleartext HTTP/2:
    the slice's own `appProtocol`, else its Service port's (matched by port name)."""
    tcp = pl.col("protocol") == "TCP"
    services = snap.services.filter(tcp)
    fronts = (
        services.filter(_h2c("app_protocol"))
        .select(pl.concat_list(pl.col("cluster_ip"), pl.col("load_balancer_ips")).alias("ip"),
                "port")
        .explode("ip").drop_nulls()
    )
    declared = services.select(
        "namespace", pl.col("name").alias("service"), "port_name",
        pl.col("app_protocol").alias("service_app_protocol")).unique()
    endpoints = (
        snap.endpoints.filter(tcp)
        .join(declared, on=["namespace", "service", "port_name"], how="left", nulls_equal=True)
        .with_columns(pl.coalesce("app_protocol", "service_app_protocol").alias("declared"))
        .filter(_h2c("declared"))
        .select("ip", "port").drop_nulls()
    )
    return frozenset((ip, int(port)) for ip, port in pl.concat([
        fronts.cast({"port": pl.UInt16}), endpoints.cast({"port": pl.UInt16})]).iter_rows())

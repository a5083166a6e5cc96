"""Kubernetes names on findings: who the client is, which Service, which endpoint DNAT chose."""

from __future__ import annotations

import polars as pl

from pcapkit.kube.dnat import dnat_legs
from pcapkit.kube.names import address_names, node_of_address
from pcapkit.kube.snapshot import Snapshot


def enrich_findings(findings: pl.DataFrame, packets: pl.DataFrame,
                    snap: Snapshot) -> pl.DataFrame:
    """Add `k8s_client`, `k8s_server`, `k8s_service`, `k8s_endpoint`, `k8s_endpoint_target`,
    `k8s_endpoint_state` and `k8s_reporter` (null where an address does not resolve)."""
    names = address_names(snap)
    legs = dnat_legs(packets, snap).unique(["client_ip", "client_port", "service_ip",
                                            "service_port"], keep="first", maintain_order=True)
    svc_names = names.filter(pl.col("kind") == "service").select(
        pl.col("ip").alias("server_ip"), pl.col("name").alias("svc_by_ip"))
    # A connection made straight to a pod names that pod's Service through its endpoints.
    direct = snap.endpoints.select(
        pl.col("ip").alias("server_ip"), pl.col("port").alias("server_port"),
        pl.format("{}/{}", "namespace", "service").alias("svc_by_endpoint")).unique(
        ["server_ip", "server_port"], keep="first", maintain_order=True)
    out = (
        findings.with_row_index("_row")
        .join(names.select(pl.col("ip").alias("client_ip"), pl.col("name").alias("k8s_client")),
              on="client_ip", how="left")
        .join(names.filter(pl.col("kind") != "service").select(
            pl.col("ip").alias("server_ip"), pl.col("name").alias("k8s_server")),
              on="server_ip", how="left")
        .join(svc_names, on="server_ip", how="left")
        .join(direct, on=["server_ip", "server_port"], how="left")
        .join(legs.select("client_ip", "client_port", pl.col("service_ip").alias("server_ip"),
                          pl.col("service_port").alias("server_port"),
                          pl.format("{}:{}", "endpoint_ip", "endpoint_port")
                          .alias("k8s_endpoint"),
                          pl.col("endpoint_target").alias("k8s_endpoint_target"),
                          pl.col("endpoint_state").alias("k8s_endpoint_state")),
              on=["client_ip", "client_port", "server_ip", "server_port"], how="left")
        .with_columns(pl.coalesce("svc_by_ip", "svc_by_endpoint").alias("k8s_service"),
                      _reporter_name(snap, names).alias("k8s_reporter"))
        .sort("_row")
        .drop("_row", "svc_by_ip", "svc_by_endpoint")
    )
    return out.with_columns(explanation=pl.concat_str(
        "explanation", _endpoint_note(), separator=" ", ignore_nulls=True))


def _endpoint_note() -> pl.Expr:
    """What the snapshot adds to a symptom whose connection kube-proxy sent to an endpoint that
    is not ready: the most common Kubernetes cause of a Service that half works."""
    target = pl.when(pl.col("k8s_endpoint_target").is_not_null()).then(
        pl.format(" ({})", "k8s_endpoint_target")).otherwise(pl.lit(""))
    return (pl.when(pl.col("k8s_endpoint_state").is_not_null()
                    & (pl.col("k8s_endpoint_state") != "ready"))
            .then(pl.format("kube-proxy sent it to endpoint {}{}, which the EndpointSlice "
                            "marks {}: its rules still point at a backend that is going away.",
                            "k8s_endpoint", target, "k8s_endpoint_state")))


def _reporter_name(snap: Snapshot, names: pl.DataFrame) -> pl.Expr:
    """Who sent an ICMP error: a known address, else the node owning it — a node answers from
    its bridge or VXLAN address, which lies in its pod CIDR (flannel's 10.244.N.0, cni0's .1)."""
    known: dict[str, str] = dict(zip(names["ip"].to_list(), names["name"].to_list(), strict=True))

    def name(ip: str | None) -> str | None:
        if ip is None:
            return None
        if ip in known:
            return known[ip]
        node = node_of_address(snap, ip)
        return f"node {node}" if node else None

    return (pl.col("extra").str.json_path_match("$.reporter")
            .map_elements(name, return_dtype=pl.String, skip_nulls=True))

"""The Kubernetes objects a report is about: the Services its symptoms and connections reached,
their endpoints with their states, and the pods among clients, endpoints and vantages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from pcapkit.kube import Snapshot
from pcapkit.kube.dnat import endpoint_rows


@dataclass(frozen=True)
class Involved:
    services: pl.DataFrame  #: service (`NS/NAME`), type, cluster_ip, ports
    endpoints: pl.DataFrame  #: service, endpoint (`ip:port`), state, target, node
    pods: pl.DataFrame  #: pod (`pod NS/NAME`), ip, node, phase, deleting


def involved(doc: dict[str, Any], snap: Snapshot, dialled: set[str]) -> Involved:
    """What the document's symptoms and captures name, plus the Services whose ClusterIP is in
    `dialled` (the server addresses of connections and DNS lookups), looked up in the
    snapshot."""
    services = set(snap.services.filter(pl.col("cluster_ip").is_in(sorted(dialled)))
                   .select(pl.format("{}/{}", "namespace", "name")).to_series().to_list())
    pods: set[str] = set()
    for s in doc["symptoms"]:
        k8s = s.get("k8s", {})
        services.update(v for v in [k8s.get("service")] if v)
        pods.update(v for v in (k8s.get("client"), k8s.get("endpoint_target")) if v)
    pods.update(c["vantage"] for c in doc["captures"] if c["vantage"])
    svc = (snap.services.with_columns(service=pl.format("{}/{}", "namespace", "name"))
           .filter(pl.col("service").is_in(sorted(services)))
           .group_by("service", maintain_order=True).agg(
               pl.col("type").first(), pl.col("cluster_ip").first(),
               ports=pl.format("{}/{}→{}", "port", "protocol", "target_port").str.join(", ")))
    ends = (endpoint_rows(snap).filter(pl.col("service").is_in(sorted(services)))
            .join(snap.endpoints.select(pl.col("ip").alias("endpoint_ip"),
                                        pl.col("port").alias("endpoint_port"), "node").unique(),
                  on=["endpoint_ip", "endpoint_port"], how="left")
            .select("service", pl.format("{}:{}", "endpoint_ip", "endpoint_port")
                    .alias("endpoint"), pl.col("endpoint_state").alias("state"),
                    pl.col("endpoint_target").alias("target"), "node")
            .unique(maintain_order=True))
    pods.update(v for v in ends["target"].to_list() if v)
    pod_rows = (snap.pods.with_columns(pod=pl.format("pod {}/{}", "namespace", "name"))
                .filter(pl.col("pod").is_in(sorted(pods)))
                .select("pod", "ip", "node", "phase", "deleting").unique(maintain_order=True))
    return Involved(svc.sort("service"), ends.sort("service", "endpoint"), pod_rows.sort("pod"))

"""What each layer's check looked at, counted from the flow tables, so that a report says what
was found healthy as well as what failed ("DNS: 76 lookups, 75 answered")."""

from __future__ import annotations

import polars as pl

from pcapkit.codes import DnsRcode
from pcapkit.detect.config import Config
from pcapkit.detect.forwarded import own_lookups
from pcapkit.detect.late_answers import refused
from pcapkit.flows import Tables
from pcapkit.kube import Snapshot
from pcapkit.report.impact import lookup_key


def checked(tables: Tables, snapshot: Snapshot | None,
            config: Config) -> dict[str, dict[str, int]]:
    """Per layer of `groups.LAYER_ORDER`, the attempts its checks looked at (a NodeLocal
    DNSCache's upstream queries are its client's lookup, not lookups of their own)."""
    conns = tables.connections
    per_conn = conns.group_by("conn").agg(
        (pl.col("client_isn").is_not_null()).any().alias("syn"),
        (pl.col("synack_count") > 0).any().alias("synack"),
        (pl.col("rst_from_server") > 0).any().alias("rst"),
    ).filter("syn")
    probes = tables.probes
    # an answer the client's host refused came too late to be read (detect/late_answers.py)
    late = refused(tables.dns, tables.icmp_errors)["txn"].implode()
    read = pl.col("answered") & ~pl.col("txn").is_in(late)
    lookups = own_lookups(tables.dns, config).group_by(lookup_key()).agg(
        read.fill_null(False).any().alias("answered"),
        (read & (pl.col("rcode") == int(DnsRcode.NOERROR))).fill_null(False)
        .any().alias("noerror"),
    )
    out: dict[str, dict[str, int]] = {
        "pod connectivity": {
            "connections": per_conn.height,
            "connections_answered": per_conn.filter(pl.col("synack") | pl.col("rst")).height,
            "probes": probes.height,
            "probes_answered": probes.filter("answered").height,
        },
        "DNS": {"lookups": lookups.height,
                "lookups_answered": lookups.filter("answered").height,
                "lookups_noerror": lookups.filter("noerror").height},
        "packets": {"connections": conns["conn"].n_unique()},
    }
    if snapshot is not None:
        out["Services"] = _services(conns, snapshot)
    return out


def _services(conns: pl.DataFrame, snapshot: Snapshot) -> dict[str, int]:
    """Connections dialled to a Service's ClusterIP and port, and how many Services they hit."""
    svc = snapshot.services.filter(pl.col("cluster_ip").is_not_null()).select(
        pl.col("cluster_ip").alias("server_ip"), pl.col("port").alias("server_port"),
        pl.format("{}/{}", "namespace", "name").alias("service")).unique()
    hit = conns.join(svc, on=["server_ip", "server_port"])
    return {"services": snapshot.services.select("namespace", "name").unique().height,
            "services_dialled": hit["service"].n_unique(),
            "service_connections": hit["conn"].n_unique()}


def sentence(layer: str, figures: dict[str, int] | None) -> str:
    """What a layer's check looked at, in words."""
    if figures is None:
        return "not checked (no snapshot given)" if layer == "Services" else "not checked"
    f = figures
    if layer == "pod connectivity":
        return (f"{f['connections']} TCP connections attempted, {f['connections_answered']} "
                f"answered; {f['probes']} echo/neighbour requests, {f['probes_answered']} "
                "answered")
    if layer == "DNS":
        return (f"{f['lookups']} lookups, {f['lookups_answered']} answered "
                f"({f['lookups_noerror']} with NOERROR)")
    if layer == "Services":
        return (f"{f['service_connections']} connections to {f['services_dialled']} of "
                f"{f['services']} Services")
    return f"{f['connections']} TCP connections checked for retransmissions and zero windows"

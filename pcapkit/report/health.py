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
from pcapkit.kube.dnat import endpoint_rows, front_doors
from pcapkit.report.impact import lookup_key


def checked(tables: Tables, snapshot: Snapshot | None,
            config: Config) -> dict[str, dict[str, int]]:
    """Per layer of `groups.LAYER_ORDER`, the attempts its checks looked at (a NodeLocal
    DNSCache's upstream queries are its client's lookup, not lookups of their own)."""
    conns = tables.connections
    # connections some view saw the SYN of, and those some view saw answered (a SYN-ACK, or
    # the server's RST): sets of ids, not a group per connection (1.25M rows: 0.3 s), nor
    # rows (a filter copies every column of the rows it keeps)
    syn = _ids(conns, pl.col("client_isn").is_not_null())
    answered = _ids(conns, (pl.col("synack_count") > 0) | (pl.col("rst_from_server") > 0))
    probes = tables.probes
    # an answer the client's host refused came too late to be read (detect/late_answers.py)
    late = refused(tables.dns, tables.icmp_errors)["txn"].implode()
    read = (pl.col("answered") & ~pl.col("txn").is_in(late)).fill_null(False)
    # each transaction's reads taken before the lookups are grouped: taken in the groups,
    # `is_in` ran once per lookup (379k lookups: 0.6 s, 0.1 so)
    lookups = own_lookups(tables.dns, config).select(
        lookup_key(), read.alias("read"),
        noerror=read & (pl.col("rcode") == int(DnsRcode.NOERROR)).fill_null(False),
    ).group_by("key").agg(pl.col("read").any().alias("answered"), pl.col("noerror").any())
    out: dict[str, dict[str, int]] = {
        "pod connectivity": {
            "connections": syn.len(),
            "connections_answered": int(syn.is_in(answered.implode()).sum()),
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


def _ids(conns: pl.DataFrame, where: pl.Expr) -> pl.Series:
    """The distinct `conn` of the rows of `conns` that are `where`."""
    return conns.select(pl.col("conn").filter(where).unique()).to_series()


def _services(conns: pl.DataFrame, snapshot: Snapshot) -> dict[str, int]:
    """Connections dialled at a Service's front door (ClusterIP, node port, load balancer), the
    connections seen only at one of a Service's endpoints, and how many Services they reached.

    A connection the node itself opens to a ClusterIP (NodeLocal DNSCache asking kube-dns, a
    hostNetwork pod) is DNATed in the node's OUTPUT chain before any interface, so no capture
    holds its ClusterIP leg; a headless Service's clients dial its endpoints by name. Both reach
    the Service all the same."""
    doors = front_doors(snapshot).filter(pl.col("protocol") == "tcp").select(
        pl.col("service_ip").alias("server_ip"), pl.col("service_port").alias("server_port"),
        "service")
    ends = endpoint_rows(snapshot).filter(pl.col("protocol") == "tcp").select(
        pl.col("endpoint_ip").alias("server_ip"), pl.col("endpoint_port").alias("server_port"),
        "service")
    legs = conns.select("conn", "server_ip", "server_port")
    dialled = legs.join(doors, on=["server_ip", "server_port"])
    direct = legs.join(ends, on=["server_ip", "server_port"]).filter(
        ~pl.col("conn").is_in(dialled["conn"].implode()))
    return {"services": snapshot.services.select("namespace", "name").unique().height,
            "services_dialled": dialled["service"].n_unique(),
            "service_connections": dialled["conn"].n_unique(),
            "services_reached": pl.concat([dialled, direct])["service"].n_unique(),
            "endpoint_connections": direct["conn"].n_unique()}


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
        told = (f"{f['service_connections'] + f['endpoint_connections']} connections to "
                f"{f['services_reached']} of {f['services']} Services")
        if not f["endpoint_connections"]:
            return told
        return (f"{told} ({f['service_connections']} dialled at a Service address, "
                f"{f['endpoint_connections']} seen only at an endpoint: DNATed before any "
                "capture point, or dialled straight to the pod)")
    return f"{f['connections']} TCP connections checked for retransmissions and zero windows"

"""What the TCP detectors share: a connection's endpoints as its client saw them, evidence
frames gathered over every view and capture, and the findings frame built from per-connection
rows.

A connection (`conn`) has one CONNECTIONS row per view. The client's view of the endpoints is
the row of the view that saw the connection first (earliest `first_ts_ns`, then lowest view):
the client's own capture, or the node interface nearest it, before DNAT rewrote the server's
address to a pod's. Across captures that order rests on the clocks' estimated offsets, which are
only as good as the delays are symmetric (microseconds off); a capture that saw the connection
under two sets of endpoints (the node that DNATed it, its veth and then its bridge) orders them
on its own clock, exactly. So the endpoints that some capture saw after others are passed over
whenever the connection has endpoints no capture saw second.
"""

from __future__ import annotations

import polars as pl

from pcapkit.detect.findings import EVIDENCE, EVIDENCE_FRAMES, FINDINGS_SCHEMA
from pcapkit.flows import Tables

ENDPOINTS = ["client_ip", "client_port", "server_ip", "server_port"]


def as_client_saw(tables: Tables, conns: pl.Series | None = None) -> pl.DataFrame:
    """conn → client_ip, client_port, server_ip, server_port (from the earliest view), for every
    connection or those in `conns`."""
    rows = tables.connections
    if conns is not None:
        rows = rows.filter(pl.col("conn").is_in(conns.implode()))
    firsts = rows.group_by("conn", "capture", *ENDPOINTS).agg(pl.col("first_ts_ns").min())
    later = (
        firsts.filter(pl.col("first_ts_ns") > pl.col("first_ts_ns").min().over("conn", "capture"))
        .select("conn", *ENDPOINTS).unique()
        .with_columns(later=pl.lit(True))
    )
    return (
        rows.join(later, on=["conn", *ENDPOINTS], how="left", nulls_equal=True)
        .sort(pl.col("later").is_not_null(), "first_ts_ns", "view")
        .group_by("conn", maintain_order=True)
        .first()
        .select("conn", *ENDPOINTS)
    )


def showing(packets: pl.DataFrame, symptom: pl.Expr, *columns: str) -> pl.DataFrame:
    """`columns` of the TCP packets (`conn` not null) of the connections with at least one packet
    where `symptom` holds. For a detector that reports only such connections, each settled by its
    own packets: most connections of a capture show no symptom, and their packets are left out
    before the detector's sorts and windows, which then cost as little as the symptom is rare."""
    tcp = packets.lazy().filter(pl.col("conn").is_not_null())
    conns = tcp.filter(symptom).select(pl.col("conn").unique()).collect().to_series()
    return tcp.filter(pl.col("conn").is_in(conns.implode())).select(columns).collect()


def evidence(packets: pl.DataFrame) -> pl.DataFrame:
    """conn → evidence (the (capture, frame) of the packets given, sorted, the first
    `EVIDENCE_FRAMES` of each capture), first/last ts of them all."""
    return (
        packets.sort("capture", "frame")
        .with_columns(cited=pl.int_range(pl.len()).over("conn", "capture") < EVIDENCE_FRAMES)
        .group_by("conn")
        .agg(
            evidence=pl.struct("capture", "frame").filter("cited"),
            first_ts_ns=pl.col("ts_ns").min(),
            last_ts_ns=pl.col("ts_ns").max(),
        )
        .with_columns(pl.col("evidence").cast(pl.List(EVIDENCE)))
    )


def findings(tables: Tables, per_conn: pl.DataFrame) -> pl.DataFrame:
    """The findings frame of per-connection rows holding every findings column but the
    endpoints (and `protocol`), which come from `as_client_saw`."""
    return (
        per_conn.join(as_client_saw(tables, per_conn["conn"]), on="conn", how="left")
        .with_columns(protocol=pl.lit("tcp"), conns=pl.concat_list("conn"))
        .sort("first_ts_ns", "conn")
        .select(FINDINGS_SCHEMA.names())
        .cast(FINDINGS_SCHEMA)
    )

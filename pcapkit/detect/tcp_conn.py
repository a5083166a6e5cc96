"""What the TCP detectors share: a connection's endpoints as its client saw them, evidence
frames gathered over every view and capture, and the findings frame built from per-connection
rows.

A connection (`conn`) has one CONNECTIONS row per view. The client's view of the endpoints is
the row of the view that saw the connection first (earliest `first_ts_ns`, then lowest view):
the client's own capture, or the node interface nearest it, before DNAT rewrote the server's
address to a pod's.
"""

from __future__ import annotations

import polars as pl

from pcapkit.detect.findings import EVIDENCE, FINDINGS_SCHEMA
from pcapkit.flows import Tables

ENDPOINTS = ["client_ip", "client_port", "server_ip", "server_port"]


def as_client_saw(tables: Tables) -> pl.DataFrame:
    """conn → client_ip, client_port, server_ip, server_port (from the earliest view)."""
    return (
        tables.connections.sort("first_ts_ns", "view")
        .group_by("conn", maintain_order=True)
        .first()
        .select("conn", *ENDPOINTS)
    )


def evidence(packets: pl.DataFrame) -> pl.DataFrame:
    """conn → evidence (every (capture, frame) of the packets given, sorted), first/last ts."""
    return (
        packets.sort("capture", "frame")
        .group_by("conn")
        .agg(
            evidence=pl.struct("capture", "frame"),
            first_ts_ns=pl.col("ts_ns").min(),
            last_ts_ns=pl.col("ts_ns").max(),
        )
        .with_columns(pl.col("evidence").cast(pl.List(EVIDENCE)))
    )


def findings(tables: Tables, per_conn: pl.DataFrame) -> pl.DataFrame:
    """The findings frame of per-connection rows holding every findings column but the
    endpoints (and `protocol`), which come from `as_client_saw`."""
    return (
        per_conn.join(as_client_saw(tables), on="conn", how="left")
        .with_columns(protocol=pl.lit("tcp"))
        .sort("first_ts_ns", "conn")
        .select(FINDINGS_SCHEMA.names())
        .cast(FINDINGS_SCHEMA)
    )

"""The HTML report's connection table: one row per TCP connection, however many views saw it,
with the endpoints as the client saw them and the Service a ClusterIP names."""

from __future__ import annotations

import polars as pl

from pcapkit.detect.retransmission import per_connection
from pcapkit.detect.tcp_conn import as_client_saw
from pcapkit.flows import Tables
from pcapkit.kube import Snapshot
from pcapkit.kube.names import address_names

#: (column, header) of the table, in order
COLUMNS = [
    ("conn", "conn"), ("client", "client"), ("server", "server"), ("service", "Service"),
    ("state", "state"), ("start_s", "start (s)"), ("duration_s", "duration (s)"),
    ("packets", "packets"), ("bytes", "payload bytes"), ("syns", "SYNs"), ("rsts", "RSTs"),
    ("handshake_ms", "SYN→SYN-ACK (ms)"), ("retrans_pct", "retransmitted (%)"),
    ("views", "views"),
]


def _endpoint(ip: str, port: str) -> pl.Expr:
    return (pl.when(pl.col(ip).str.contains(":"))
            .then(pl.format("[{}]:{}", ip, port)).otherwise(pl.format("{}:{}", ip, port)))


def connection_table(tables: Tables, snap: Snapshot | None, t0: float) -> pl.DataFrame:
    """`COLUMNS` per connection: the state, handshake time and counts of the view that saw the
    most packets of it (the others are copies), `start_s` since `t0` (seconds since the epoch),
    the retransmitted share when the packet table was kept (null otherwise)."""
    rows = tables.connections
    if rows.is_empty():
        return pl.DataFrame(schema={c: pl.String for c, _ in COLUMNS})
    total = pl.col("packets_c2s") + pl.col("packets_s2c")
    best = (rows.sort(total, "view", descending=[True, False]).group_by("conn").agg(
        pl.col("conn_state").first().cast(pl.String).alias("state"),
        (pl.col("first_ts_ns").min() / 1e9 - t0).round(6).alias("start_s"),
        ((pl.col("last_ts_ns").max() - pl.col("first_ts_ns").min()) / 1e9).round(6)
        .alias("duration_s"),
        total.first().alias("packets"),
        (pl.col("bytes_c2s") + pl.col("bytes_s2c")).first().alias("bytes"),
        pl.col("syn_count").first().alias("syns"),
        (pl.col("rst_from_client") + pl.col("rst_from_server")).first().alias("rsts"),
        (pl.col("syn_synack_ns").first() / 1e6).round(3).alias("handshake_ms"),
        pl.col("view").n_unique().alias("views"),
    ))
    ends = as_client_saw(tables).with_columns(
        client=_endpoint("client_ip", "client_port"), server=_endpoint("server_ip", "server_port"))
    shares = per_connection(tables).select(
        "conn", (pl.col("share") * 100).round(2).alias("retrans_pct"))
    out = best.join(ends, on="conn", how="left").join(shares, on="conn", how="left")
    if snap is not None:
        services = address_names(snap).filter(pl.col("kind") == "service").select(
            pl.col("ip").alias("server_ip"), pl.col("name").alias("service"))
        out = out.join(services, on="server_ip", how="left")
    else:
        out = out.with_columns(service=pl.lit(None, pl.String))
    return out.sort("start_s", "conn").select([c for c, _ in COLUMNS])

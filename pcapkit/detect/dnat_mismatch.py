"""dnat_mismatch: a SYN-ACK that came back from the pod's address instead of the Service's.

Definition: in one view, the client sent a SYN to X:p (a ClusterIP, usually) and a SYN-ACK
acknowledging that SYN (its ack is the SYN's sequence + 1) came back to the same client
address and port from Y:q ≠ X:p. The reply was not un-DNATed: conntrack did not see the
reply leg (asymmetric routing, a hairpin without `hairpin-mode`, conntrack entries flushed or
the reply bypassing the node's netfilter), so the client's stack, which knows no connection
with Y:q, answers with an RST and the connect() hangs. One finding per connection, `count`
the mismatched SYN-ACKs in that view, `replied_from` Y:q in extra, evidence the SYN, SYN-ACK
and RST frames. The client's RST is required: without it the pair is what a bridge interface
normally shows (the request after DNAT, the reply before un-DNAT). Severity error.

Neither Wireshark nor Zeek relate the two 5-tuples: each shows a SYN without answer (S0) and
an unsolicited SYN-ACK answered by a reset (RSTOS0/REJ-like); this is what the pair means.

Tunables: none.
"""

from __future__ import annotations

import polars as pl

from pcapkit.codes import TcpFlags
from pcapkit.detect.config import Config
from pcapkit.detect.findings import Severity, empty_findings, extra_json
from pcapkit.detect.tcp_conn import evidence, findings
from pcapkit.flows import Tables

KIND = "dnat_mismatch"
M32 = 1 << 32
SYN, ACK, RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.RST)


def mismatched(tables: Tables) -> pl.DataFrame:
    """One row per mismatch: conn, view, the SYN's server (X:p), the answering Y:q."""
    rows = tables.connections
    asked = rows.filter(pl.col("client_isn").is_not_null() & (pl.col("synack_count") == 0))
    # The client's reset is part of the definition: a bridge interface also shows a request
    # after DNAT and its reply before un-DNAT, two 5-tuples of one healthy connection.
    answered = rows.filter(
        pl.col("answer_ack").is_not_null() & (pl.col("synack_count") > 0)
        & (pl.col("rst_from_client") > 0)
    )
    return (
        asked.with_columns(isn_ack=((pl.col("client_isn").cast(pl.Int64) + 1) % M32))
        .join(
            answered.with_columns(isn_ack=pl.col("answer_ack").cast(pl.Int64)),
            on=["view", "client_ip", "client_port", "isn_ack"],
            suffix="_reply",
        )
        .filter(
            (pl.col("server_ip") != pl.col("server_ip_reply"))
            | (pl.col("server_port") != pl.col("server_port_reply"))
        )
        .select(
            "conn", "view", "client_ip", "client_port", "server_ip", "server_port",
            replied_from=pl.format("{}:{}", "server_ip_reply", "server_port_reply"),
            synacks="synack_count_reply",
        )
    )


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    found = mismatched(tables)
    if found.is_empty():
        return empty_findings()
    per_conn = found.group_by("conn", maintain_order=True).agg(
        pl.col("replied_from").first(),
        count=pl.col("synacks").max(),
    )
    flags = pl.col("tcp_flags") & (SYN | ACK | RST)
    shown = tables.packets.filter(
        pl.col("conn").is_in(per_conn["conn"].implode())
        & pl.col("view").is_in(found["view"].implode())
        & ((flags == SYN) | (flags == SYN | ACK) | ((flags & RST) != 0))
    )
    rows = per_conn.join(evidence(shown), on="conn")
    rows = rows.with_columns(
        kind=pl.lit(KIND),
        severity=pl.lit(Severity.ERROR.value),
        explanation=pl.format(
            "the SYN-ACK came back from {} instead of the address the client connected to: the "
            "reply was not un-DNATed, so the client resets it and the connection fails.",
            "replied_from",
        ),
        extra=pl.Series(
            [extra_json(replied_from=f) for f in rows["replied_from"].to_list()],
            dtype=pl.String,
        ),
    )
    return findings(tables, rows)

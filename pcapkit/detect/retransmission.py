"""retransmission: connections whose segments Wireshark would mark as retransmitted.

Definition: per view (one interface of one capture), each TCP segment carries Wireshark's
analysis class (pcapkit/flows/tcp_analysis.py, equal to tshark's `tcp.analysis.*` frame for
frame): retransmission, fast retransmission, spurious retransmission or out-of-order. A
connection is reported when one view has at least `retransmission_min` such segments. Counts
per class are the largest any one view saw (the same lost segment retransmitted is seen once
per interface of a node's `-i any` capture; it is one retransmission, not one per copy);
`count` is the largest per-view total; evidence lists the flagged frames of every view.
Severity is error when `count` exceeds `retransmission_error_share` of the connection's data
segments in that view, else warning.

A client's retransmitted SYNs count once its handshake completed (some view saw it acknowledge
a SYN-ACK): the connection worked, but late, by the SYN backoff (1 s, then 2 s, ... on Linux):
a SYN lost on the way, or dropped by a server whose accept queue was full, or by a conntrack
race. `syn_retries` (absent when none) is the most any one view saw, and `connect_delay_s` the
time from the client's first SYN to the first SYN-ACK in that view. Until the handshake
completes, retransmitted SYNs are `unanswered_syn`'s, which explains them (the backoff).

Differences from Wireshark: copies of a segment on other interfaces are never compared (a
node's `-i any` capture makes tshark call every copy a retransmission). Zeek's history marks
retransmissions with `t`/`T` from its reassembler instead; not used.

`handshake_failed` (true, else absent): the client re-sent its SYN and never acknowledged a
SYN-ACK that some capture saw (the server's retransmitted SYN-ACKs are what is counted): the
answer was lost on its way back, and `unanswered_syn`, which wants no SYN-ACK anywhere, is not
reported. pcapkit/kube/path.py says where the SYN-ACKs stopped (`died_at`, direction `s2c`).

Tunables (pcapkit/detect/config.py): `retransmission_min`, `retransmission_error_share`.
"""

from __future__ import annotations

import polars as pl

from pcapkit.codes import TcpFlags
from pcapkit.detect.config import Config
from pcapkit.detect.findings import Severity, empty_findings, extra_json
from pcapkit.detect.tcp_conn import evidence, findings, showing
from pcapkit.flows import Tables
from pcapkit.flows.schema import TcpAnalysis

KIND = "retransmission"
CLASSES = {
    "retransmission": TcpAnalysis.RETRANSMISSION,
    "fast_retransmission": TcpAnalysis.FAST_RETRANSMISSION,
    "spurious_retransmission": TcpAnalysis.SPURIOUS_RETRANSMISSION,
    "out_of_order": TcpAnalysis.OUT_OF_ORDER,
}
ANY_CLASS = int(sum(CLASSES.values()))
SYN_ONLY = (pl.col("tcp_flags") & (TcpFlags.SYN | TcpFlags.ACK)) == TcpFlags.SYN
SYN_ACK = (pl.col("tcp_flags") & (TcpFlags.SYN | TcpFlags.ACK)) == TcpFlags.SYN | TcpFlags.ACK
#: what `share` is a share of: a segment that carries data, a SYN or a FIN
IS_SEGMENT = ((pl.col("payload_len") > 0)
              | ((pl.col("tcp_flags") & (TcpFlags.SYN | TcpFlags.FIN)) != 0)).cast(pl.UInt32)
#: a digest row's segments: its own and those of the rows it stands for
SEGMENTS = "segments"


def flagged(tables: Tables) -> pl.Expr:
    """A segment in one of the classes; a retransmitted SYN only on a connection that completed
    its handshake (some view saw the client acknowledge a SYN-ACK)."""
    connected = tables.connections.filter(pl.col("synack_ack_ns").is_not_null())["conn"]
    return (pl.col("tcp_analysis") & ANY_CLASS != 0) & (
        ~SYN_ONLY | pl.col("conn").is_in(connected.unique().implode()))


def per_connection(tables: Tables) -> pl.DataFrame:
    """conn → flagged segments per class, `count`, `segments` and `share` (in the view that
    flagged the most), `views` that flagged any; every connection, flagged or not. The HTML
    report plots `share`."""
    return _per_connection(tables, _marked(tables, tables.packets))


def _per_connection(tables: Tables, marked: pl.DataFrame) -> pl.DataFrame:
    """`per_connection` from the connections' packets `_marked` gives."""
    is_flagged = pl.col("flagged")
    # A long connection's digest stands for the rows it leaves out: its rows say how many
    # segments each stands for (`pcapkit.detect.digest`).
    segments = pl.col(SEGMENTS) if SEGMENTS in marked.columns else IS_SEGMENT
    per_view = marked.group_by("conn", "view").agg(
        *[(is_flagged & (pl.col("tcp_analysis") & bit != 0)).sum().alias(name)
          for name, bit in CLASSES.items()],
        count=is_flagged.sum(),
        segments=segments.sum(),
        syn_retries=(is_flagged & SYN_ONLY).sum(),
    ).join(_connect_delays(tables), on=["conn", "view"], how="left")
    return (
        per_view.sort("count", "view", descending=[True, False])
        .group_by("conn")
        .agg(
            *[pl.col(name).max() for name in CLASSES],
            pl.col("count").first(),
            pl.col("segments").first(),
            share=(pl.col("count") / pl.col("segments").clip(1)).first(),
            views=(pl.col("count") > 0).sum(),
            syn_retries=pl.col("syn_retries").max(),
            # of a view that saw the most retries, else of any (a view can miss the SYN-ACKs)
            connect_delay_ns=pl.coalesce(pl.col("connect_delay_ns").filter(
                pl.col("syn_retries") == pl.col("syn_retries").max()).max(),
                pl.col("connect_delay_ns").max()),
        )
    )


def handshake_failed(tables: Tables) -> pl.DataFrame:
    """conn → `handshake_failed`: the client re-sent its SYN (a view saw two), some view saw a
    SYN-ACK, and no view saw the client acknowledge one."""
    return tables.connections.group_by("conn").agg(
        handshake_failed=(pl.col("syn_count").max() > 1) & (pl.col("synack_count").sum() > 0)
        & pl.col("synack_ack_ns").is_null().all())


def _connect_delays(tables: Tables) -> pl.DataFrame:
    """(conn, view) → `connect_delay_ns`: the client's first SYN to the first SYN-ACK after it,
    as that view saw them (null when it saw no such pair)."""
    first_syn = pl.col("ts_ns").filter(SYN_ONLY).min()
    return tables.packets.lazy().filter(
        pl.col("conn").is_not_null() & (pl.col("tcp_flags") & TcpFlags.SYN != 0)).group_by(
        "conn", "view").agg(connect_delay_ns=pl.col("ts_ns").filter(
            SYN_ACK & (pl.col("ts_ns") >= first_syn)).min() - first_syn).collect()


def _marked(tables: Tables, packets: pl.DataFrame) -> pl.DataFrame:
    """The connections' packets among `packets`, each with `flagged`. A column, not an
    expression in the aggregation: there `is_in` would be evaluated group by group, each with
    the whole list of connected connections (GBs)."""
    return packets.filter(pl.col("conn").is_not_null()).with_columns(flagged=flagged(tables))


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    # Only a connection with a segment in some class can be flagged: the others' packets are
    # left out before the per-view sums, and most batches of a streamed run have none at all.
    shown = showing(tables.packets, pl.col("tcp_analysis") & ANY_CLASS != 0,
                    *tables.packets.columns)
    if shown.is_empty():
        return empty_findings()
    marked = _marked(tables, shown)
    per_conn = _per_connection(tables, marked).filter(
        pl.col("count") >= config.retransmission_min)
    rows = per_conn.join(evidence(marked.filter("flagged").drop("flagged")), on="conn").join(
        handshake_failed(tables), on="conn", how="left").with_columns(
        kind=pl.lit(KIND),
        severity=pl.when(pl.col("share") > config.retransmission_error_share)
        .then(pl.lit(Severity.ERROR.value))
        .otherwise(pl.lit(Severity.WARNING.value)),
        explanation=pl.format(
            "{} of {} segments of this connection were retransmitted or arrived out of order "
            "({}%), a sign of packet loss or reordering on the path.",
            pl.col("count"),
            (pl.col("count") / pl.col("share")).round(0).cast(pl.Int64),
            (pl.col("share") * 100).round(1),
        )
        + pl.when(pl.col("handshake_failed"))
        .then(pl.lit(" The client re-sent its SYN and never acknowledged a SYN-ACK: the "
                     "handshake failed, its answers lost on the way back."))
        .when(pl.col("syn_retries") > 0)
        .then(pl.format(
            " The client re-sent its SYN {} time(s) before it was answered{} (a SYN lost on "
            "the way, or dropped by a full accept queue or a conntrack race).",
            pl.col("syn_retries"),
            pl.when(pl.col("connect_delay_ns").is_not_null()).then(pl.format(
                ": connecting took {} s", (pl.col("connect_delay_ns") / 1e9).round(3)))
            .otherwise(pl.lit(""))))
        .otherwise(pl.lit("")),
    )
    extras = [
        extra_json(**r, handshake_failed=failed or None, syn_retries=retries or None,
                   connect_delay_s=None if not retries or delay is None else round(delay / 1e9, 6))
        for failed, retries, delay, r in zip(
            rows["handshake_failed"].to_list(), rows["syn_retries"].to_list(),
            rows["connect_delay_ns"].to_list(),
            rows.select(*CLASSES, pl.col("share").round(4), "views").rows(named=True),
            strict=True)
    ]
    return findings(tables, rows.with_columns(extra=pl.Series(extras, dtype=pl.String)))

"""zero_window: a receiver that advertised a zero window, long or often.

Definition: Wireshark's `tcp.analysis.zero_window` segments (window 0 on a segment without
SYN/FIN/RST; pcapkit/flows/tcp_analysis.py), per view and direction. A stall runs from a
zero-window segment to the next segment from the same side with a non-zero window (or to that
side's last segment). A connection is reported when, in some view, one side's stalls add up to
at least `zero_window_min_s`, or it advertised a zero window at least `zero_window_min_count`
times. `receiver` (client/server: the side whose buffer was full), `stall_s` (longest total in
a view) and `zero_windows` in extra; `count` is the zero-window segments in the view that saw the
most; evidence every zero-window frame. Severity warning: the application stopped reading.

Compared with Wireshark: same segments, which it marks one by one; Zeek writes `w`/`W` in the
history (logarithmically: 1, 10, 100…). Neither measures the stall.

Tunables (pcapkit/detect/config.py): `zero_window_min_s`, `zero_window_min_count`.
"""

from __future__ import annotations

import polars as pl

from pcapkit.detect.config import Config
from pcapkit.detect.findings import Severity, empty_findings, extra_json
from pcapkit.detect.tcp_conn import evidence, findings, showing
from pcapkit.flows import Tables
from pcapkit.flows.schema import TcpAnalysis

KIND = "zero_window"
NS = 1_000_000_000


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    side = ["conn", "view", "from_client"]
    zero = (pl.col("tcp_analysis") & TcpAnalysis.ZERO_WINDOW) != 0
    # A connection without a zero-window segment has no evidence, so no finding.
    tcp = showing(tables.packets, zero, *side, "capture", "frame", "ts_ns",
                  "tcp_analysis").sort("capture", "frame")
    if tcp.is_empty():
        return empty_findings()
    # Each segment of a side ends the stall its previous segment was in, if that was a zero.
    sides = tcp.with_columns(
        zero=zero,
        stalled=(pl.col("ts_ns").shift(-1).over(side) - pl.col("ts_ns")).fill_null(0),
    )
    per_side = (
        sides.group_by(side)
        .agg(
            zero_windows=pl.col("zero").sum(),
            stall_ns=pl.col("stalled").filter(pl.col("zero")).sum(),
        )
        .filter(
            (pl.col("stall_ns") >= config.zero_window_min_s * NS)
            | (pl.col("zero_windows") >= config.zero_window_min_count)
        )
    )
    per_conn = (
        per_side.sort(["zero_windows", "stall_ns", "view", "from_client"],
                      descending=[True, True, False, False])
        .group_by("conn", maintain_order=True)
        .agg(
            count=pl.col("zero_windows").first(),
            stall_s=(pl.col("stall_ns").max() / NS).round(3),
            receiver=pl.when(pl.col("from_client").first())
            .then(pl.lit("client"))
            .otherwise(pl.lit("server")),
        )
    )
    shown = sides.filter(pl.col("zero") & pl.col("conn").is_in(per_conn["conn"].implode()))
    rows = per_conn.join(evidence(shown), on="conn")
    rows = rows.with_columns(
        kind=pl.lit(KIND),
        severity=pl.lit(Severity.WARNING.value),
        explanation=pl.format(
            "the {} advertised a zero window {} time(s), stalling the sender for {} s: its "
            "application is not reading fast enough.",
            "receiver", "count", "stall_s",
        ),
        extra=pl.Series(
            [
                extra_json(receiver=r, stall_s=s, zero_windows=c)
                for r, s, c in rows.select("receiver", "stall_s", "count").rows()
            ],
            dtype=pl.String,
        ),
    )
    return findings(tables, rows)

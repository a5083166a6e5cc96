"""unanswered_syn: connection attempts whose SYNs got no answer at all.

Definition: a connection (merged over every view and capture) with at least one SYN from the
client and, in no view, a SYN-ACK or an RST from the server, and not answered from an unexpected
address (`dnat_mismatch`). An ICMP error about the connection that arrives before the client's
second SYN is a prompt refusal (`icmp_unreachable` alone says it: a Service without endpoints);
one that arrives only after the SYNs were retried (a node giving up on ARP for an endpoint that
is gone: the stale-endpoint case) leaves the retried SYNs unanswered, and both symptoms stand.
The captures must go on at least `unanswered_syn_min_wait_s` after
its first SYN (a SYN at the very end of a capture had no chance to be answered; a retried one
did). `retries` is the SYN count minus one and `intervals_s` the gaps between SYNs, in
the view that saw the most; `backoff` is `exponential` when each gap is about twice the one
before and the first about 1 s (Linux's classic SYN retransmission: 1, 2, 4, 8 s…), `linear`
when the gaps are 1 s before doubling (Linux ≥ 6.7, `tcp_syn_linear_timeouts`), `irregular`
otherwise. One connection's SYNs share an initial sequence number, so they are one connect()
retransmitted by the kernel; an application reconnecting makes a new connection.
`count` is the SYN count.
Severity error: something drops the SYNs or their answers (a NetworkPolicy, a stale endpoint,
a dead node).

Compared with Zeek: conn_state S0 ("attempt seen, no reply"), but Zeek also says S0 when only
the capture missed the reply; here every view must miss it. Wireshark flags the repeated SYNs
as `tcp.analysis.retransmission` and has no notion of the attempt failing.

Tunables (pcapkit/detect/config.py): `unanswered_syn_min_wait_s`, `syn_backoff_tolerance`.
"""

from __future__ import annotations

from itertools import pairwise, takewhile

import polars as pl

from pcapkit.codes import TcpFlags
from pcapkit.detect.config import Config
from pcapkit.detect.dnat_mismatch import mismatched
from pcapkit.detect.findings import Severity, empty_findings, extra_json
from pcapkit.detect.tcp_conn import evidence, findings
from pcapkit.flows import Tables

KIND = "unanswered_syn"
NS = 1_000_000_000
#: Linux's default `net.ipv4.tcp_syn_linear_timeouts`: SYN retries spaced 1 s apart before doubling
LINEAR_RETRIES = 4


def backoff(intervals: list[float], tolerance: float) -> str | None:
    """How the SYNs were spaced: the kernel's schedule, `exponential` (1, 2, 4… s) or `linear`
    (1 s each: Linux ≥ 6.7 spaces its first `tcp_syn_linear_timeouts` = 4 retries linearly,
    then doubles), else `irregular`; None with a single SYN."""
    if not intervals:
        return None
    if abs(intervals[0] - 1.0) > tolerance or min(intervals) <= 0:
        return "irregular"
    ratios = [b / a for a, b in pairwise(intervals)]
    if all(abs(r - 2.0) <= 2.0 * tolerance for r in ratios):
        return "exponential"
    # Linear first (ratios of 1), then doubling: the ratios read 1, 1, …, 2, 2, …
    flat = sum(1 for _ in takewhile(lambda r: abs(r - 1.0) <= tolerance, ratios))
    if flat < LINEAR_RETRIES and all(abs(r - 2.0) <= 2.0 * tolerance for r in ratios[flat:]):
        return "linear"
    return "irregular"


def _refused_at_once(syns: pl.DataFrame, icmp_errors: pl.DataFrame) -> pl.Series:
    """Connections an ICMP error answered before the client's second SYN (a view's SYN copies
    are one SYN: the second distinct SYN time is taken per view, then the earliest)."""
    second_syn = pl.col("ts_ns").unique().sort().get(1, null_on_oob=True).alias("second")
    second = (syns.group_by("conn", "view").agg(second_syn)
              .group_by("conn").agg(pl.col("second").min()))
    first_error = icmp_errors.filter(pl.col("conn").is_not_null()).group_by("conn").agg(
        pl.col("ts_ns").min().alias("error"))
    prompt = first_error.join(second, on="conn", how="left").filter(
        pl.col("second").is_null() | (pl.col("error") < pl.col("second")))
    return prompt["conn"]


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    per_conn = tables.connections.group_by("conn").agg(
        syns=pl.col("syn_count").max(),
        answers=(pl.col("synack_count") + pl.col("rst_from_server")).sum(),
    )
    candidates = per_conn.filter((pl.col("syns") > 0) & (pl.col("answers") == 0))
    if candidates.is_empty():  # most batches of a streamed run
        return empty_findings()
    refused = mismatched(tables)["conn"]
    candidates = candidates.filter(~pl.col("conn").is_in(refused.implode()))
    syn = (pl.col("tcp_flags") & (TcpFlags.SYN | TcpFlags.ACK)) == TcpFlags.SYN
    syns = tables.packets.filter(
        pl.col("conn").is_in(candidates["conn"].implode()) & pl.col("from_client") & syn
    )
    syns = syns.filter(~pl.col("conn").is_in(_refused_at_once(syns, tables.icmp_errors).implode()))
    capture_end = tables.spans.select("capture", end="last_ts_ns")
    waited = (
        syns.join(capture_end, on="capture")
        .group_by("conn")
        .agg(waited=pl.col("end").max() - pl.col("ts_ns").min())
        .filter(pl.col("waited") >= config.unanswered_syn_min_wait_s * NS)
    )
    # The SYN times of the view that saw the most SYNs (the client's own, when present).
    in_view = (
        syns.sort("ts_ns")
        .group_by("conn", "view")
        .agg(times=pl.col("ts_ns"))
        .sort(pl.col("times").list.len(), "view", descending=[True, False])
        .group_by("conn", maintain_order=True)
        .first()
    )
    rows = waited.join(in_view, on="conn").join(evidence(syns), on="conn")
    extras, explanations, counts = [], [], []
    for times in rows["times"].to_list():
        intervals = [round((b - a) / NS, 3) for a, b in pairwise(times)]
        kind = backoff(intervals, config.syn_backoff_tolerance)
        extras.append(extra_json(retries=len(times) - 1, intervals_s=intervals, backoff=kind))
        counts.append(len(times))
        retry = {
            "exponential": "the client's kernel retransmitted it with exponential backoff",
            "linear": "the client's kernel retransmitted it every second, as Linux ≥ 6.7 does "
                      "before backing off",
            "irregular": "retransmitted at irregular intervals",
            None: "not retried",
        }[kind]
        explanations.append(
            f"{len(times)} SYN(s) got no SYN-ACK or RST in any capture; {retry}. Likely "
            "cause: something drops the SYNs or their answers, such as a NetworkPolicy, a "
            "stale endpoint or an unreachable node."
        )
    rows = rows.with_columns(
        kind=pl.lit(KIND),
        severity=pl.lit(Severity.ERROR.value),
        count=pl.Series(counts, dtype=pl.UInt32),
        explanation=pl.Series(explanations, dtype=pl.String),
        extra=pl.Series(extras, dtype=pl.String),
    )
    return findings(tables, rows)

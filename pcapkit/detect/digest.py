"""A long connection's digest: of its rows, those the per-connection detectors read.

The per-connection detectors (`pcapkit.detect.PER_CONNECTION`) read few of a connection's
packets: its SYNs, FINs and resets, the segments Wireshark's analysis flags, and a few that
those place. The flows stage settles a connection of tens of millions of packets a slice of its
rows at a time (`pcapkit.flows.sliced`); its detect job need not hold them whole either (one of
10M packets: ~54 bytes a row, 540 MB). Its digest is made of its rows without their copies
(`first_copies`), read twice, a slice at a time:

1. the anchors, in a first pass: every SYN, FIN and reset, and every segment Wireshark's
   analysis flags as retransmitted, out of order or advertising a zero window
   (`retransmission`, `unanswered_syn`, `dnat_mismatch`, `rst`, `zero_window`);
2. in a second pass, the rows the anchors place:
   - per view, the client's first pure ACK after the server's first SYN-ACK: whether one came
     before a reset gives `rst` its phase;
   - per view and side, the first segment acknowledging the peer's FIN as it stood then:
     whether one came before a reset tells `rst` an orderly close;
   - per view and side, the segment after each zero-window one, where its stall ended
     (`zero_window`);
   - per view, the first `EVIDENCE_FRAMES` rows, and per connection the earliest and the
     latest: the evidence of a finding about all of a connection's packets
     (`external_traffic_local`);
   - the forwarded packets of a connection to a Service address that no view shows DNATed
     (`kube_proxy_missing`): all of them, which only a connection that failed has many of.

   A slice's candidates for a first row are its own first ones: the digest holds the rows
   named and some later ones, which no detector's reading of the rows named changes (a later
   pure ACK, a later row of the side after a stall's end).
3. `segments`: how many segments (data, a SYN or a FIN) each row stands for, its own and those
   of the rows left out beside it in its slice and view: what `retransmission`'s share is of.

The detectors give the same findings on the digest as on every row: tests/detect/test_digest.py
holds them to it on every connection of the lab and the corpora, cut in slices of one row up.
The slices come without their copies (`first_copies`, a slice at a time:
`pcapkit.engine.copies`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import polars as pl

from pcapkit.codes import TcpFlags
from pcapkit.detect.config import Config
from pcapkit.detect.findings import EVIDENCE_FRAMES
from pcapkit.detect.kube_proxy_missing import FORWARDED, not_dnated
from pcapkit.detect.retransmission import ANY_CLASS, IS_SEGMENT, SEGMENTS
from pcapkit.flows import Tables
from pcapkit.flows.kept import taken
from pcapkit.flows.schema import TcpAnalysis

SYN, ACK, FIN, RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
FLAGS = pl.col("tcp_flags")
ZERO = (pl.col("tcp_analysis") & TcpAnalysis.ZERO_WINDOW) != 0
ANCHOR = ((FLAGS & (SYN | FIN | RST)) != 0) | ((pl.col("tcp_analysis") & ANY_CLASS) != 0) | ZERO
VIEW = ["conn", "view"]
SIDE = ["conn", "view", "from_client"]

Slices = Callable[[], Iterable[pl.DataFrame]]


def digest(slices: Slices, tables: Tables, config: Config) -> pl.DataFrame:
    """The digest of the rows of whole connections, without their copies, that `slices()`
    gives (`conn` and `pcapkit.engine.shards.DETECT_COLUMNS`) a slice at a time, each time it
    is called, with their `segments`. `tables`: every table but the packets."""
    anchored = pl.concat([taken(part, ANCHOR) for part in slices()])
    # the connections whose every forwarded packet `kube_proxy_missing` reads
    asked = not_dnated(tables, config)["conn"]
    return pl.concat([_kept(part, anchored, asked) for part in slices()])


def _kept(part: pl.DataFrame, anchors: pl.DataFrame, asked: pl.Series) -> pl.DataFrame:
    """The rows of `part` (a slice without copies) the digest keeps, given every `anchors`
    row, with their `segments`."""
    rows = part.with_row_index("_row").with_columns(_segment=IS_SEGMENT.fill_null(0))
    first = pl.col("frame").rank("ordinal").over(VIEW) <= EVIDENCE_FRAMES
    ts = pl.col("ts_ns")
    extreme = (ts == ts.min().over("conn")) | (ts == ts.max().over("conn"))
    placed = pl.concat([_first_acks(rows, anchors), _fin_acks(rows, anchors),
                        _after_zeros(rows, anchors)])
    keep = (ANCHOR | first | extreme | (pl.col("conn").is_in(asked.implode()) & FORWARDED)
            | pl.col("_row").is_in(placed.implode()))
    kept = taken(rows.with_columns(_all=pl.col("_segment").sum().over(VIEW)), keep)
    # The first kept row of each view also stands for the segments of the rows left out.
    left_out = pl.col("_all") - pl.col("_segment").sum().over(VIEW)
    return kept.with_columns((pl.col("_segment") + pl.when(
        pl.int_range(pl.len()).over(VIEW) == 0).then(left_out).otherwise(0)).alias(SEGMENTS)
    ).drop("_row", "_segment", "_all")


def _firsts(rows: pl.DataFrame, by: list[str]) -> pl.Series:
    """`_row` of the earliest row (by frame) of each group of `rows` by `by`."""
    return rows.group_by(by).agg(pl.col("_row").sort_by("frame").first())["_row"]


def _first_acks(rows: pl.DataFrame, anchors: pl.DataFrame) -> pl.Series:
    """Per view, the client's first pure ACK after the server's first SYN-ACK."""
    synack = ((FLAGS & (SYN | ACK)) == (SYN | ACK)) & ~pl.col("from_client")
    after = anchors.filter(synack).group_by(VIEW).agg(_after=pl.col("frame").min())
    acks = rows.join(after, on=VIEW).filter(
        pl.col("from_client") & ((FLAGS & (SYN | ACK | RST)) == ACK)
        & (pl.col("frame") > pl.col("_after")))
    return _firsts(acks, VIEW)


def _fin_acks(rows: pl.DataFrame, anchors: pl.DataFrame) -> pl.Series:
    """Per view and side, the first segment acknowledging the peer's latest FIN before it."""
    fin_end = (pl.col("tcp_seq").cast(pl.Int64) + pl.col("payload_len") + 1) % 2**32
    fins = anchors.filter((FLAGS & FIN) != 0).select(
        "conn", "view", "frame", ~pl.col("from_client"), _fin_end=fin_end).sort("frame")
    if fins.is_empty():  # most slices
        return pl.Series("_row", [], pl.UInt32)
    # `from_client` of a FIN's row in `fins` is the side that acknowledges it
    acked = rows.join(fins.select(SIDE).unique(), on=SIDE).sort("frame").join_asof(
        fins, on="frame", by=SIDE, strategy="backward", check_sortedness=False).filter(
        ((FLAGS & ACK) != 0) & (pl.col("tcp_ack").cast(pl.Int64) == pl.col("_fin_end")))
    return _firsts(acked, SIDE)


def _after_zeros(rows: pl.DataFrame, anchors: pl.DataFrame) -> pl.Series:
    """Per view and side, the first segment after each zero-window one."""
    zeros = anchors.filter(ZERO).select(*SIDE, "frame", _zero="frame").sort("frame")
    if zeros.is_empty():  # most slices
        return pl.Series("_row", [], pl.UInt32)
    after = rows.join(zeros.select(SIDE).unique(), on=SIDE).sort("frame").join_asof(
        zeros, on="frame", by=SIDE, strategy="backward", allow_exact_matches=False,
        check_sortedness=False).filter(pl.col("_zero").is_not_null())
    return _firsts(after, [*SIDE, "_zero"])

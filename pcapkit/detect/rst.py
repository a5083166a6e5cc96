"""rst: connections ended by a reset, with the phase it came in and who sent it.

Definition: a TCP segment with RST set. Its phase, in the view it was seen in:
- `handshake`: before the handshake completed there — no SYN-ACK from the server yet (an RST
  answering a SYN: the connection was refused, nothing listens on that port), or a SYN-ACK not
  yet acknowledged by the client;
- `closing`: after a FIN from either side;
- `established`: otherwise (an abort; also any RST of a connection seen without its start).
A connection whose client reset a SYN-ACK from an unexpected address is left to
`dnat_mismatch`, which names that cause. A reset after an orderly close is no symptom: its
sender had, in that view, sent its FIN and acknowledged the peer's FIN, and the reset's sequence
number is its FIN's (the peer had acknowledged every byte it sent). Both directions had ended
with nothing lost; the reset answers a late copy, typically the peer's FIN sent again because
the last ACK was lost, reaching a socket already gone (Linux answers a segment for no socket
with a reset whose sequence number is that segment's ACK).

One finding per connection, for its first RST (in time, over every view): `phase` and `sender`
(client/server) in extra, `count` the most RSTs any one view saw, evidence every RST frame of
every view. Severity error for `handshake`, warning otherwise.

Compared with Zeek: its conn_state says REJ for a refused connection, RSTO/RSTR for an abort by
the originator/responder and RSTOS0/RSTRH for odd half-open cases; here the same facts are the
phase and the sender, on any connection (also ones seen mid-stream). Wireshark only marks the
packets (`tcp.flags.reset`).

Tunables: none.
"""

from __future__ import annotations

import polars as pl

from pcapkit.codes import TcpFlags
from pcapkit.detect.config import Config
from pcapkit.detect.dnat_mismatch import mismatched
from pcapkit.detect.findings import Severity, empty_findings, extra_json
from pcapkit.detect.tcp_conn import evidence, findings, showing
from pcapkit.flows import Tables

KIND = "rst"
SYN, ACK, FIN, RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
WHY = {
    "handshake": "the connection was refused: {sender} answered the handshake with a reset "
    "(nothing listening on that port, or a firewall rejecting it).",
    "established": "the {sender} aborted the established connection with a reset.",
    "closing": "the {sender} reset the connection while it was closing (after a FIN), often "
    "data arriving at a socket already closed.",
}


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    flags = pl.col("tcp_flags")
    tcp = showing(tables.packets, (flags & RST) != 0, "conn", "view", "capture", "frame",
                  "ts_ns", "tcp_flags", "from_client", "tcp_seq", "tcp_ack", "payload_len")
    if tcp.is_empty():  # most batches of a streamed run: no reset, and no query to plan
        return empty_findings()
    # Per connection and view (lconn halves of one view together), in frame order: has a
    # SYN-ACK / its ACK / a FIN been seen before this packet?
    seen_before = ["conn", "view"]
    synack = ((flags & (SYN | ACK)) == (SYN | ACK)) & ~pl.col("from_client")
    fin = (flags & FIN) != 0
    tcp = tcp.sort("capture", "frame").with_columns(
        _synack=synack.cast(pl.Int32).cum_sum().over(seen_before),
        _acked=(
            pl.col("from_client") & ((flags & (SYN | ACK | RST)) == ACK)
            & (synack.cast(pl.Int32).cum_sum().over(seen_before) > 0)
        ).cast(pl.Int32).cum_sum().over(seen_before),
        _fin=fin.cast(pl.Int32).cum_sum().over(seen_before) - fin.cast(pl.Int32),
    )
    # The client's reset of a SYN-ACK from the wrong address is `dnat_mismatch`'s symptom.
    explained = mismatched(tables)["conn"].implode()
    resets = _after_orderly_close(tcp).filter(
        ((flags & RST) != 0) & ~pl.col("conn").is_in(explained) & ~pl.col("_closed")
    ).with_columns(
        phase=pl.when(pl.col("_fin") > 0)
        .then(pl.lit("closing"))
        .when((pl.col("_synack") == 0) | (pl.col("_acked") == 0))
        .then(pl.lit("handshake"))
        .otherwise(pl.lit("established")),
        sender=pl.when("from_client").then(pl.lit("client")).otherwise(pl.lit("server")),
    )
    first = (
        resets.sort("ts_ns", "capture", "frame")
        .group_by("conn", maintain_order=True)
        .agg(pl.col("phase").first(), pl.col("sender").first())
    )
    counts = resets.group_by("conn", "view").len().group_by("conn").agg(count=pl.col("len").max())
    rows = first.join(counts, on="conn").join(evidence(resets), on="conn")
    rows = rows.with_columns(
        kind=pl.lit(KIND),
        severity=pl.when(pl.col("phase") == "handshake")
        .then(pl.lit(Severity.ERROR.value))
        .otherwise(pl.lit(Severity.WARNING.value)),
        explanation=pl.Series(
            [WHY[p].format(sender=s) for p, s in rows.select("phase", "sender").rows()],
            dtype=pl.String,
        ),
        extra=pl.Series(
            [extra_json(phase=p, sender=s) for p, s in rows.select("phase", "sender").rows()],
            dtype=pl.String,
        ),
    )
    return findings(tables, rows)


def _after_orderly_close(tcp: pl.DataFrame) -> pl.DataFrame:
    """`tcp` (sorted by frame) with `_closed`: in the packet's view, before it, its sender had
    sent a FIN and acknowledged the peer's FIN, and the packet's sequence number is at that FIN
    (its own, or one past it). Sequence numbers wrap at 2**32."""
    flags, client = pl.col("tcp_flags"), pl.col("from_client")
    seq = pl.col("tcp_seq").cast(pl.Int64)
    fin = (flags & FIN) != 0
    view, side = ["conn", "view"], ["conn", "view", "from_client"]
    # What acknowledges a FIN: the sequence number past its payload and the FIN itself.
    fin_end = (seq + pl.col("payload_len") + 1) % 2**32
    peer_fin_end = pl.when(client).then(pl.col("_server_fin_end")).otherwise(
        pl.col("_client_fin_end"))
    acks_peer_fin = ((flags & ACK) != 0) & (pl.col("tcp_ack").cast(pl.Int64) == peer_fin_end)
    return tcp.with_columns(
        _client_fin_end=pl.when(fin & client).then(fin_end).forward_fill().over(view),
        _server_fin_end=pl.when(fin & ~client).then(fin_end).forward_fill().over(view),
        _own_fin=pl.when(fin).then(seq).forward_fill().shift(1).over(side),
    ).with_columns(
        _closed=(acks_peer_fin.fill_null(False).cast(pl.Int32).cum_sum().shift(1, fill_value=0)
                 .over(side) > 0)
        & ((seq - pl.col("_own_fin")) % 2**32).is_in([0, 1]).fill_null(False),
    )

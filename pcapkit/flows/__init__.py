"""Stage 3, flows: TCP connections, DNS transactions and ICMP errors from the packet table.

`Tables` is what detectors read. Packets are analysed per *view*: one interface of one capture
(`capture`, `iface`, `sll_ifindex`), because a node's `tcpdump -i any` shows the same packet once
per interface it crossed, and comparing copies across interfaces would make every copy look
like a retransmission. A connection seen in several views stays one connection (`conn`), with
its packets in every view kept apart by `view`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.flows.dns import client_flows, message_rows, numbered
from pcapkit.flows.icmp import icmp_errors
from pcapkit.flows.probes import probe_rows, probes
from pcapkit.flows.schema import (
    CONNECTIONS,
    DNS_VIEW_ROWS,
    PACKET_EXTRA,
    PROBES,
    SPANS,
    VIEW_SOURCES,
    VIEWS,
)
from pcapkit.flows.tcp import connection_rows, shared_ids, tcp_segments
from pcapkit.flows.tcp_analysis import Carried, analyse, window_scales
from pcapkit.flows.views import add_views, alone_in_view, dns_views_table, tcp_copies


@dataclass(frozen=True)
class Tables:
    """The flow stage's output. Schemas: `pcapkit/flows/schema.py`."""

    packets: pl.DataFrame  #: the packet table plus `view`, `conn`, `from_client` columns
    connections: pl.DataFrame  #: one row per TCP connection (per view)
    dns: pl.DataFrame  #: one row per DNS transaction
    icmp_errors: pl.DataFrame  #: one row per ICMP error, with the flow it reports on
    views: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=VIEWS))
    spans: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SPANS))
    sources: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=VIEW_SOURCES))
    dns_views: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DNS_VIEW_ROWS))
    probes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PROBES))


def build_tables(packets: pl.DataFrame, compiled: bool | None = None,
                 messages: pl.DataFrame | None = None) -> Tables:
    """The flow tables of a packet table (`pcapkit.decode.schema.PACKET_SCHEMA`) and the DNS
    messages reassembled from its captures (`pcapkit.flows.dns.message_rows`).

    `compiled`: run the per-packet state machines compiled (True), as Python (False), or
    choose by size (None, the default; `pcapkit/flows/compiled.py`). The tables are the same.
    """
    packets, views, sources = add_views(packets)
    packets, connections = tcp_tables(packets, compiled)
    # --- DNS transactions and ICMP errors (the DNS/ICMP half plugs in here) ---------------------
    transactions, dns_views = client_flows(message_rows(packets, messages))
    errors = icmp_errors(packets)
    return Tables(
        packets=packets, connections=connections, dns=numbered([transactions]),
        icmp_errors=errors, views=views, spans=capture_spans(packets), sources=sources,
        dns_views=dns_views_table([dns_views], views),
        probes=probes(probe_rows(packets)),
    )


def capture_spans(packets: pl.DataFrame) -> pl.DataFrame:
    """The SPANS table of a packet table: each capture's first and last timestamp."""
    return (
        packets.group_by("capture")
        .agg(first_ts_ns=pl.col("ts_ns").min(), last_ts_ns=pl.col("ts_ns").max(),
             packets=pl.len())
        .sort("capture")
        .cast(SPANS)
    )


def tcp_tables(
    packets: pl.DataFrame, compiled: bool | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The packets (with `view`) plus `conn`, `from_client`, `tcp_analysis`; CONNECTIONS."""
    segs, rows = view_connections(tcp_segments(packets), compiled)
    conn_of_lconn = shared_ids(rows)
    connections = connections_table(rows, conn_of_lconn)
    # Scatter the per-segment results back to packet rows; non-TCP rows stay null, and so do
    # copies of a packet within its view (`tcp_copies`): each packet counts once there.
    rows_all = segs["row"].to_numpy()
    conn_all = conn_of_lconn[segs["lconn"].to_numpy()]
    alone = alone_in_view(rows, conn_of_lconn)[segs["lconn"].to_numpy()]
    kept = ~tcp_copies(segs.with_columns(conn=pl.Series(conn_all), alone=alone)).to_numpy()
    marks = segs.filter(pl.Series(kept)).select(
        "from_client", "tcp_analysis", conn=pl.Series(conn_all[kept]))
    return with_marks(packets, rows_all[kept], marks), connections


def with_marks(packets: pl.DataFrame, rows: npt.NDArray[np.int64], marks: pl.DataFrame
               ) -> pl.DataFrame:
    """The packets (with `view`) with the `PACKET_EXTRA` columns of TCP: the `marks` (`conn`,
    `from_client`, `tcp_analysis`) of the packets at positions `rows`, in order; null for
    every other packet (not TCP, or a copy within its view)."""
    tcp = np.zeros(packets.height, np.bool_)
    tcp[rows] = True
    mask = pl.Series(tcp)
    extra = {}
    for name in PACKET_EXTRA.names()[1:]:
        values = np.zeros(packets.height, marks[name].to_numpy().dtype)
        values[rows] = marks[name].to_numpy()
        extra[name] = values
    out = packets.drop(PACKET_EXTRA.names()[1:], strict=False).with_columns(
        pl.when(mask).then(pl.Series(name, values)).alias(name) for name, values in extra.items()
    )
    return out.cast(PACKET_EXTRA)


def view_connections(
    all_segs: pl.DataFrame, compiled: bool | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Everything about TCP that one view's packets settle, before ids are shared across views,
    from their `tcp_segments`: the segments plus `tcp_analysis` (Wireshark's flags, 0 on
    copies), and one row per per-view connection (`connection_rows`, indexed by `lconn`). The
    segments are given, not the packets, so that a caller done with the packets can let them
    go as `tcp_segments` copies them (`tcp_segments(packets)` passed on, held by no name)."""
    original = ~all_segs["copy"].to_numpy()
    segs = all_segs if original.all() else all_segs.filter(pl.Series(original))
    rows = connection_rows(segs, compiled)
    lconn, from_client, flags = (segs[c].to_numpy() for c in ("lconn", "from_client", "tcp_flags"))
    scales = window_scales(lconn, from_client, flags, wscales(segs), rows.height)
    return with_analysis(all_segs, original, segs, scales, compiled), rows


def wscales(segs: pl.DataFrame) -> npt.NDArray[np.int16]:
    """The segments' window-scale shifts, -1 where the option is absent."""
    return segs["tcp_wscale"].cast(pl.Int16).fill_null(-1).to_numpy()


def with_analysis(all_segs: pl.DataFrame, original: npt.NDArray[np.bool_],
                  segs: pl.DataFrame, scales: npt.NDArray[np.int64], compiled: bool | None,
                  carried: Carried | None = None) -> pl.DataFrame:
    """`all_segs` with `tcp_analysis`: `analyse` of `segs`, its rows `original` (rule 5's
    copies are left out of the analysis: 0)."""
    flags = analyse(
        lconn=segs["lconn"].to_numpy(),
        from_client=segs["from_client"].to_numpy(),
        ts_ns=segs["ts_ns"].to_numpy(),
        flags=segs["tcp_flags"].to_numpy(),
        seq=segs["tcp_seq"].to_numpy(),
        ack=segs["tcp_ack"].fill_null(0).to_numpy(),
        win=segs["tcp_win"].fill_null(0).to_numpy().astype(np.int64),  # shifted by the scale
        scales=scales,
        seglen=segs["payload_len"].fill_null(0).to_numpy(),
        compiled=compiled,
        carried=carried,
    )
    analysis = np.zeros(all_segs.height, np.uint16)
    analysis[original] = flags
    return all_segs.with_columns(tcp_analysis=pl.Series(analysis))


def connections_table(rows: pl.DataFrame, conn_of_lconn: np.ndarray) -> pl.DataFrame:
    """CONNECTIONS from the per-view rows and the shared id of each."""
    return connection_columns(rows, conn_of_lconn).sort(TABLE_ORDER, maintain_order=True)


#: the order of the CONNECTIONS table's rows: a total order, so that the table is one however
#: its rows were gathered (a NodePort's SNAT shows a connection's two legs in one view: a
#: streamed run put them in the order of its shards, the in-memory one in address order)
TABLE_ORDER = ["conn", "view", "first_frame"]


def connection_columns(rows: pl.DataFrame, conn_of_lconn: np.ndarray) -> pl.DataFrame:
    """The per-view rows as CONNECTIONS, with the shared id of each, in their own order. Made
    a column at a time: a query over rows read in several chunks (a streamed run's, as the
    shards' files held them) with `conn` added in one would first copy every column into one
    chunk (40M DNS-heavy packets: +230 MB)."""
    conn = pl.Series("conn", conn_of_lconn)
    return pl.DataFrame([(conn if name == "conn" else rows.get_column(name)).cast(dtype)
                         for name, dtype in CONNECTIONS.items()])

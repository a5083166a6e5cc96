"""Stage 3, flows: TCP connections, DNS transactions and ICMP errors from the packet table.

`Tables` is what detectors read. Packets are analysed per *view*: one interface of one capture
(`capture`, `iface`, `sll_ifindex`), because a node's `tcpdump -i any` shows the same packet once
per interface it crossed, and comparing copies across interfaces would make every copy look
like a retransmission. A connection seen in several views stays one connection (`conn`), with
its packets in every view kept apart by `view`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pcapkit.flows.dns import dns_transactions
from pcapkit.flows.icmp import icmp_errors
from pcapkit.flows.schema import CONNECTIONS, PACKET_EXTRA, VIEWS
from pcapkit.flows.tcp import connection_rows, shared_ids, tcp_segments
from pcapkit.flows.tcp_analysis import analyse
from pcapkit.flows.views import add_views


@dataclass(frozen=True)
class Tables:
    """The flow stage's output. Schemas: `pcapkit/flows/schema.py`."""

    packets: pl.DataFrame  #: the packet table plus `view`, `conn`, `from_client` columns
    connections: pl.DataFrame  #: one row per TCP connection (per view)
    dns: pl.DataFrame  #: one row per DNS transaction
    icmp_errors: pl.DataFrame  #: one row per ICMP error, with the flow it reports on
    views: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=VIEWS))


def build_tables(packets: pl.DataFrame) -> Tables:
    """The flow tables of a packet table (`pcapkit.decode.schema.PACKET_SCHEMA`)."""
    packets, views = add_views(packets)
    packets, connections = tcp_tables(packets)
    # --- DNS transactions and ICMP errors (the DNS/ICMP half plugs in here) ---------------------
    dns = dns_transactions(packets)
    errors = icmp_errors(packets)
    return Tables(
        packets=packets, connections=connections, dns=dns, icmp_errors=errors, views=views
    )


def tcp_tables(packets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The packets (with `view`) plus `conn`, `from_client`, `tcp_analysis`; CONNECTIONS."""
    all_segs = tcp_segments(packets)
    segs = all_segs.filter(~pl.col("copy"))
    rows = connection_rows(segs)
    conn_of_lconn = shared_ids(rows)
    connections = (
        rows.with_columns(conn=pl.Series(conn_of_lconn))
        .select(CONNECTIONS.names())
        .cast(dict(CONNECTIONS))
        .sort("conn", "view")
    )
    flags = analyse(
        lconn=segs["lconn"].to_numpy(),
        from_client=segs["from_client"].to_numpy(),
        ts_ns=segs["ts_ns"].to_numpy(),
        flags=segs["tcp_flags"].to_numpy(),
        seq=segs["tcp_seq"].to_numpy(),
        ack=segs["tcp_ack"].fill_null(0).to_numpy(),
        win=segs["tcp_win"].fill_null(0).to_numpy(),
        wscale=segs["tcp_wscale"].cast(pl.Int16).fill_null(-1).to_numpy(),
        seglen=segs["payload_len"].fill_null(0).to_numpy(),
    )
    # Scatter the per-segment results back to packet rows; non-TCP rows stay null.
    per_row = pl.DataFrame(
        {
            "row": all_segs["row"],
            "conn": conn_of_lconn[all_segs["lconn"].to_numpy()],
            "from_client": all_segs["from_client"],
        }
    ).join(
        pl.DataFrame({"row": segs["row"], "tcp_analysis": flags}), on="row", how="left"
    ).with_columns(pl.col("tcp_analysis").fill_null(0))
    out = (
        packets.drop(PACKET_EXTRA.names()[1:], strict=False)
        .with_row_index("row")
        .join(per_row, on="row", how="left", maintain_order="left")
        .drop("row")
    )
    return out.cast(dict(PACKET_EXTRA)), connections

"""Stage 3, flows: TCP connections, DNS transactions and ICMP errors from the packet table.

`Tables` is what detectors read. Packets are analysed per *view*: one interface of one capture
(`capture`, `iface`, `sll_ifindex`), because a node's `tcpdump -i any` shows the same packet once
per interface it crossed, and comparing copies across interfaces would make every copy look
like a retransmission. A connection seen in several views stays one connection (`conn`), with
its packets in every view kept apart by `view`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Tables:
    """The flow stage's output. Schemas: `pcapkit/flows/schema.py`."""

    packets: pl.DataFrame  #: the packet table plus `view`, `conn`, `from_client` columns
    connections: pl.DataFrame  #: one row per TCP connection (per view)
    dns: pl.DataFrame  #: one row per DNS transaction
    icmp_errors: pl.DataFrame  #: one row per ICMP error, with the flow it reports on

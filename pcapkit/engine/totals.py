"""The chunks' facts added up, once every chunk is decoded: the engine holds these totals, not
each chunk's own facts, through the rest of the run.

Each chunk's facts (`pcapkit.engine.tasks.ChunkFacts`) were held to the end before: on a
DNS-heavy capture, where nearly every socket is new, they grow with the packets (40M packets:
~85 MB, of which 54 MB its sockets and 22 MB its flows' keys), and the end of the run, which
holds the connection and transaction tables, is the run's peak. Added up, the flows' keys are
distinct, and the sockets are only those an ICMP error quotes, all that `tied` reads of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pcapkit.engine.tasks import ChunkFacts
from pcapkit.flows.clocks import merge_sightings
from pcapkit.flows.icmp import merge_socket_counts, quoted_sockets
from pcapkit.flows.views import sources_table, views_table
from pcapkit.kube.vantage import AddressCounts, merge_kinds
from pcapkit.report.summary import PacketCounts


@dataclass(frozen=True)
class Totals:
    counts: PacketCounts
    views: pl.DataFrame  #: VIEWS
    sources: pl.DataFrame  #: VIEW_SOURCES
    sightings: pl.DataFrame  #: `pcapkit.flows.clocks.merge_sightings`
    sockets: pl.DataFrame  #: `merge_socket_counts`, of the sockets `icmp` quotes
    addresses: list[AddressCounts]  #: per capture
    tuples: pl.DataFrame | None  #: distinct TCP/UDP 5-tuples, when asked for


def totals(facts: list[ChunkFacts], captures: int, icmp: pl.DataFrame) -> Totals:
    """The totals of the facts of every chunk kept, of `captures` captures, given in packet
    order; `icmp`: the captures' ICMP error rows (`pcapkit.engine.shards.icmp_rows`)."""
    views = views_table([f.views for f in facts])
    by_capture: list[list[ChunkFacts]] = [[] for _ in range(captures)]
    for f in facts:
        by_capture[f.capture].append(f)
    tuples = [f.tuples for f in facts if f.tuples is not None]
    return Totals(
        counts=PacketCounts.merge([f.counts for f in facts]),
        views=views,
        sources=sources_table([f.sources for f in facts], views),
        sightings=merge_sightings([f.sightings for f in facts]),
        sockets=quoted_sockets(merge_socket_counts([f.sockets for f in facts]), icmp),
        addresses=[AddressCounts.of_kinds(merge_kinds([f.kinds for f in part]))
                   for part in by_capture],
        tuples=pl.concat(tuples).unique(maintain_order=True) if tuples else None,
    )

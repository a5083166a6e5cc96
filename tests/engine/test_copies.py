"""A long connection's copies known before its slices are read (`pcapkit.engine.copies`): each
slice without them is the slice of `first_copies` of the rows whole, on every lab capture's TCP
segments (the v1 captures of every interface as one view hold DNATed connections under two
5-tuples there, each packet seen on both), in slices of one row up to whole."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pcapkit.decode import decode
from pcapkit.engine import shards
from pcapkit.engine.copies import Copies
from pcapkit.flows import view_connections
from pcapkit.flows.tally import tally
from pcapkit.flows.tcp import shared_ids, tcp_segments
from pcapkit.flows.views import alone_in_view, first_copies, view_counts, views_table, with_views
from pcapkit.read import read_capture
from tests.conftest import SAMPLES

LAB = sorted(p for p in SAMPLES.glob("*/*.pcap*"))
#: slices of one row up to this many rows
ROW_BY_ROW = 300


def _segments(path: Path) -> pl.DataFrame:
    """A capture's TCP segments as a detect job reads them: `conn`, `alone`, `copy` (rule 5)."""
    packets = decode(read_capture(path))
    rows = with_views(shards.tcp_rows(packets), views_table([view_counts(tally(packets))]))
    segs, conns = view_connections(tcp_segments(rows))
    conn_of_lconn = shared_ids(conns)
    lconn = segs["lconn"].to_numpy()
    return segs.with_columns(conn=pl.Series(conn_of_lconn[lconn], dtype=pl.UInt32),
                             alone=pl.Series(alone_in_view(conns, conn_of_lconn)[lconn]))


@pytest.mark.parametrize("path", LAB, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_slices_without_copies_are_first_copies(path: Path, tmp_path: Path) -> None:
    segs = _segments(path)
    whole = first_copies(segs)
    sizes = [*((1,) if segs.height <= ROW_BY_ROW else ()), 7, 997, max(segs.height, 1)]
    for size in sizes:
        def slices(size: int = size) -> list[pl.DataFrame]:
            return [segs.slice(at, size) for at in range(0, max(segs.height, 1), size)]
        copies = Copies.of(slices, str(tmp_path))
        assert_frame_equal(pl.concat([copies.without(part) for part in slices()]), whole)


def test_the_lab_has_copies_under_two_5_tuples() -> None:
    """What the test above compares: a v1 capture's DNATed connections, alone in no view, whose
    copies `repeated` finds, not rule 5."""
    segs = _segments(SAMPLES / "healthy" / "node-worker-1-any-v1.pcap")
    shared = segs.filter(~pl.col("alone"))
    assert shared.height > 100
    assert first_copies(shared).height < shared.filter(~pl.col("copy")).height

"""A view's pair of endpoints settled a slice of its rows at a time (`pcapkit.flows.sliced`)
gives the segments and connection rows `tcp_segments` and `view_connections` give for its rows
whole: on every pair of every lab capture, and of the public corpora's captures (ports reused,
connections begun mid-stream, SYNs re-sent, resets), cut between every two rows (slices of
one row) up to `ROW_BY_ROW` rows (every lab pair), in slices of a few rows past it. Slices of
several rows of every lab scenario, through the engine: `tests/engine/test_streaming.py`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pcapkit.decode import decode
from pcapkit.engine import shards
from pcapkit.errors import CaptureError
from pcapkit.flows import view_connections
from pcapkit.flows.sliced import Sliced
from pcapkit.flows.tally import tally
from pcapkit.flows.tcp import tcp_segments
from pcapkit.flows.views import view_counts, views_table, with_views
from pcapkit.read import read_capture
from tests.conftest import SAMPLES, corpus_captures, needs_corpus

#: pairs of up to this many rows are cut between every two of them; longer ones in slices of
#: `LONG_SLICE` (a slice costs a few ms whatever its size)
ROW_BY_ROW = 300
LONG_SLICE = 5
#: the corpora's pairs longer than this are left to the lab's: one-row slices of them take long
CORPUS_ROWS = 2_000

LAB = sorted(p for p in SAMPLES.glob("*/*.pcap*"))


def _pairs(path: Path) -> Iterator[pl.DataFrame]:
    """The TCP rows of each view's pair of endpoints of a capture, as a flows job reads them."""
    packets = decode(read_capture(path))
    rows = with_views(shards.tcp_rows(packets), views_table([view_counts(tally(packets))]))
    pairs = rows.with_columns(shards.view_pair().alias("_pair"))
    for _, pair in pairs.group_by("_pair", maintain_order=True):
        yield pair.drop("_pair")


def _check(pair: pl.DataFrame, size: int) -> None:
    whole_segs, whole_rows = view_connections(tcp_segments(pair))
    sliced = Sliced(lambda: (pair.slice(start, size) for start in range(0, pair.height, size)))
    segs = pl.concat(list(sliced.segments()))
    # the addresses are an Enum of each slice's, and `row` numbers the group's rows alone
    columns = [c for c in whole_segs.columns if c not in ("src", "dst", "row")]
    assert_frame_equal(segs.select(columns), whole_segs.select(columns))
    assert_frame_equal(segs.select(pl.col("src", "dst").cast(pl.String)),
                       whole_segs.select(pl.col("src", "dst").cast(pl.String)))
    assert_frame_equal(sliced.rows().select(whole_rows.columns), whole_rows)


def _checked(path: Path, longest: int | None) -> None:
    for pair in _pairs(path):
        if pair.height < 2 or (longest is not None and pair.height > longest):
            continue
        _check(pair, 1 if pair.height <= ROW_BY_ROW else LONG_SLICE)


@pytest.mark.parametrize("path", LAB, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lab_pairs_sliced_equal_whole(path: Path) -> None:
    _checked(path, None)


CORPUS = corpus_captures()
BATCH = 100


@needs_corpus()
@pytest.mark.parametrize("start", range(0, max(len(CORPUS), 1), BATCH))
def test_corpus_pairs_sliced_equal_whole(start: int) -> None:
    for path in CORPUS[start:start + BATCH]:
        try:
            _checked(path, CORPUS_ROWS)
        except CaptureError:
            continue

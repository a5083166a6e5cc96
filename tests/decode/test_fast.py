"""The vectorised and the compiled decoders on parts of captures: chunks and arbitrary record
subsets give the rows the whole capture's table has, so that large files can be decoded in
bounded memory."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pcapkit.decode
from pcapkit.decode import PACKET_SCHEMA, Engine, decode, decode_chunks
from pcapkit.decode.compiled import decode_compiled_stats
from pcapkit.decode.fast import decode_fast_stats
from pcapkit.read import read_capture
from tests.conftest import corpus_captures, sample_captures
from tests.decode.test_differential import write_pcap

ENGINES: list[Engine] = ["fast", "compiled"]
STATS = {"fast": decode_fast_stats, "compiled": decode_compiled_stats}


def _some_captures() -> list[Path]:
    """A sample per link type and a VXLAN underlay, else corpus captures of the same kinds."""
    samples = [p for p in sample_captures() if p.parent.name == "healthy"]
    wanted = ("vxlan.pcap", "dns_tcp.pcap", "ipv6-fragmented-dns.pcap", "q-in-q.pcap")
    return samples + [p for p in corpus_captures() if p.name in wanted]


CAPTURES = _some_captures()


@pytest.mark.skipif(not CAPTURES, reason="no samples or corpus captures")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_chunks_are_the_whole(path: Path, engine: Engine) -> None:
    capture = read_capture(path)
    whole = decode(capture, 3, engine="reference")
    chunks = list(decode_chunks(capture, 3, chunk_records=97, engine=engine))
    assert len(chunks) == -(-len(capture.records) // 97)
    assert_frame_equal(pl.concat(chunks), whole)


@pytest.mark.skipif(not CAPTURES, reason="no samples or corpus captures")
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_any_subset_of_records(path: Path, engine: Engine) -> None:
    """Records in any order and subset: each row as in the whole table (same frame number)."""
    capture = read_capture(path)
    whole = decode(capture, engine="reference")
    pick = np.random.default_rng(7).permutation(len(capture.records))[: len(capture.records) // 2]
    part, _ = STATS[engine](dataclasses.replace(capture, records=capture.records.take(pick)))
    assert_frame_equal(part, whole[pick])


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_capture(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "empty.pcap"
    write_pcap(path, 1, [])
    table, stats = STATS[engine](read_capture(path))
    assert table.schema == PACKET_SCHEMA
    assert (table.height, stats.rows, stats.deferred) == (0, 0, 0)


def test_exported_members() -> None:
    assert sorted(pcapkit.decode.__all__) == sorted(
        ["PACKET_SCHEMA", "Layer", "Status", "Tunnel", "decode", "decode_chunks"])

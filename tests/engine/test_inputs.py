"""What the engine reads: fsspec URLs (workers elsewhere read their chunk's byte range
themselves), a gzip capture's decompressed copy (which workers of this machine map), the pcap
reader's windowed walk, and a chunk that cannot be decoded (reported, not fatal)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import fields
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

import pcapkit
from pcapkit.engine import chunks as chunking
from pcapkit.engine import tasks
from pcapkit.engine.chunks import plan
from pcapkit.errors import CaptureError
from pcapkit.read import Records, read_capture, scan_capture
from pcapkit.read.source import mapped_file, open_source
from pcapkit.read.walk import PIECE_BYTES, WalkEnd, find_records, find_records_windowed
from tests.conftest import SAMPLES, gzipped, sample_captures

fsspec = pytest.importorskip("fsspec", reason="pip install 'pcapkit[dask]'")


def test_fsspec_url_equals_local_file() -> None:
    local = SAMPLES / "stale_endpoint" / "node-worker-1-any.pcap"
    with fsspec.open("memory://incident/node.pcap", "wb") as f:
        f.write(local.read_bytes())
    url = pcapkit.analyze(["memory://incident/node.pcap"], workers=1, chunk_records=40)
    whole = pcapkit.analyze([local])
    doc_url, doc_local = url.to_dict(), whole.to_dict()
    assert doc_url["captures"][0]["path"] == "memory://incident/node.pcap"
    for doc in (doc_url, doc_local):
        for c in doc["captures"]:
            c.pop("path")
        for s in doc["symptoms"]:
            for e in s["evidence"] + s.get("path", []):
                e.pop("capture")
    assert json.dumps(doc_url, sort_keys=True) == json.dumps(doc_local, sort_keys=True)


@pytest.mark.parametrize("path", [p for p in sample_captures() if p.suffix == ".pcap"],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_windowed_walk_finds_every_record(path: Path) -> None:
    buf = np.frombuffer(path.read_bytes(), np.uint8)
    whole, words, end, why = find_records(buf, 24, False, 16, 8, 262144)
    windows = list(find_records_windowed(buf, 24, False, 16, 8, 262144, window=997))
    assert len(windows) > 1
    assert np.array_equal(np.concatenate([w[0] for w in windows]), whole)
    assert np.array_equal(np.concatenate([w[1] for w in windows]), words)
    assert windows[-1][2:] == (end, why)


@pytest.mark.parametrize("path", [p for p in sample_captures() if p.suffix == ".pcap"],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("cut", [0, 1, 9])
def test_walk_of_copies_is_the_walk_of_the_mapping(path: Path, cut: int,
                                                   tmp_path: Path) -> None:
    """The walk reading the file a piece at a time finds what the walk of its mapping does:
    pieces of 64 bytes (most records are longer: walked where mapped), of 997, and of the
    default size; the file whole, or cut short of its end mid-record."""
    data = path.read_bytes()
    cut_file = tmp_path / "cut.pcap"
    cut_file.write_bytes(data[:len(data) - cut])
    source = open_source(cut_file)
    buf = np.frombuffer(source.data, np.uint8)
    mapped = list(find_records_windowed(buf, 24, False, 16, 8, 262144, window=4999))
    for piece in (64, 997, PIECE_BYTES):
        with mapped_file(str(cut_file), source.data) as file:
            assert file is not None
            read = list(find_records_windowed(buf, 24, False, 16, 8, 262144, window=4999,
                                              file=file, piece=piece))
        assert [w[2:] for w in read] == [w[2:] for w in mapped]
        for (o, w, _, _), (mo, mw, _, _) in zip(read, mapped, strict=True):
            assert np.array_equal(o, mo) and np.array_equal(w, mw)
    assert mapped[-1][3] == (WalkEnd.CLEAN if cut == 0 else WalkEnd.SHORT_DATA)


def test_a_chunk_mapping_is_not_read_as_its_file(tmp_path: Path) -> None:
    """A mapping of part of a file (a worker's chunk) is walked where mapped: its bytes do not
    start at the file's."""
    path = next(p for p in sample_captures() if p.suffix == ".pcap")
    capture, _ = scan_capture(path)
    chunk = next(iter(plan(capture, 0, [read_capture(path).records.take(slice(3, 9))], 100)))
    part = chunking.load(chunk)[0].buffer
    with mapped_file(str(path), part) as file:
        assert file is None
    with mapped_file(str(path), memoryview(path.read_bytes())) as file:
        assert file is None


@pytest.mark.parametrize("path", [p for p in sample_captures() if p.suffix == ".pcap"][:8],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize(("window", "chunk_records", "chunk_bytes"),
                         [(997, 7, 1 << 20), (997, 1000, 5000), (50_000, 13, 2000)])
def test_runs_fill_chunks_across_windows(path: Path, window: int, chunk_records: int,
                                         chunk_bytes: int) -> None:
    """The walk's windows regrouped into chunk-sized runs: every record once, in order, and
    each run but the last as full as the limits allow, wherever the windows end."""
    buf = np.frombuffer(path.read_bytes(), np.uint8)
    windows = [Records(
        frame=np.arange(len(o), dtype=np.uint32), ts_ns=np.zeros(len(o), np.int64),
        iface=np.zeros(len(o), np.uint16), offset=o + 16, caplen=w[:, 2].copy(),
        origlen=w[:, 3].copy(), direction=np.zeros(len(o), np.uint8))
        for o, w, _, _ in find_records_windowed(buf, 24, False, 16, 8, 262144, window=window)]
    runs = list(chunking.runs(iter(windows), chunk_records, chunk_bytes))
    whole = np.concatenate([w.offset for w in windows])
    assert np.array_equal(np.concatenate([r.offset for r in runs]), whole)

    def span(r: Records, n: int) -> int:
        return int(r.offset[n - 1] + r.caplen[n - 1] - r.offset[0])

    for r in runs:
        assert len(r) == 1 or (len(r) <= chunk_records and span(r, len(r)) <= chunk_bytes)
    for r, after in pairwise(runs):  # full: one record more would not fit
        grown = Records.concat([r, after.take(slice(0, 1))])
        assert len(grown) > chunk_records or span(grown, len(grown)) > chunk_bytes


@pytest.mark.parametrize("path", [p for p in sample_captures() if p.suffix == ".pcap"][:8],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_chunk_spans_read_again_are_their_records(path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Evidence frames are read again from the spans of their records, not from a new walk of
    the file: every third chunk's spans (runs of 3 of its 7 records), read again, hold exactly
    that chunk's records."""
    monkeypatch.setattr(chunking, "SPAN_RECORDS", 3)
    capture = read_capture(path)
    chunks = list(plan(capture, 0, [capture.records], 7))[::3]
    spans = [span for c in chunks for span in chunking.spans_of(c.records, c.start)]
    assert len(spans) == sum(-(-len(c.records) // 3) for c in chunks)
    _, windows = scan_capture(path, spans)
    again = Records.concat(list(windows))
    whole = Records.concat([c.records for c in chunks])
    for f in fields(Records):
        expected = getattr(whole, f.name)
        if f.name == "offset":  # a chunk's offsets count from its first byte
            expected = np.concatenate([c.records.offset + c.start for c in chunks])
        assert np.array_equal(getattr(again, f.name), expected), f.name
    assert np.array_equal(again.frame, capture.records.frame[np.isin(
        capture.records.frame, whole.frame)])


def test_undecodable_chunk_is_a_warning(tmp_path: Path) -> None:
    """The file changed under a running analysis: the chunk's bytes are gone."""
    source = SAMPLES / "healthy" / "node-worker-1-any.pcap"
    copy = tmp_path / "node.pcap"
    copy.write_bytes(source.read_bytes())
    capture = read_capture(copy)
    last = list(plan(capture, 0, [capture.records], 100))[-1]
    copy.write_bytes(source.read_bytes()[:last.start])
    decoded = tasks.decode_chunk(tasks.DecodeJob(last, str(tmp_path), 2, "auto", False, False,
                                                 100))
    first, final = int(last.records.frame[0]), int(last.records.frame[-1])
    [facts] = decoded.facts
    assert facts.failed is not None
    warning = facts.failed.warning(0)
    assert warning.startswith(f"frames {first}-{final} could not be decoded")
    assert "the file changed during the analysis" in warning
    assert facts.counts.packets == 0


def _chunk_bytes(chunk: chunking.Chunk) -> bytes:
    return bytes(chunking.load(chunk)[0].buffer)


def test_a_spooled_capture_s_chunks_are_read_from_its_own_spool(tmp_path: Path) -> None:
    """A gzip capture's chunks, planned for workers of this machine, name its decompressed copy:
    read from it, they hold the bytes a carried chunk holds; a path under /proc that names
    another file (the descriptor closed, its number taken again) is refused, not read."""
    packed = gzipped([SAMPLES / "healthy" / "node-worker-1-any.pcap"], tmp_path)[0]
    capture, windows = scan_capture(packed)
    records = Records.concat(list(windows))
    here = list(plan(capture, 0, [records], 100, local=True))
    sent = list(plan(capture, 0, [records], 100))
    assert len(here) > 1 and all(c.spool is not None and c.data is None for c in here)
    assert all(c.spool is None and c.data is not None for c in sent)
    assert [_chunk_bytes(c) for c in here] == [c.data for c in sent]
    spool = here[0].spool
    assert spool is not None
    other = dataclasses.replace(spool, inode=spool.inode + 1)
    elsewhere = dataclasses.replace(here[0], spool=other)
    with pytest.raises(CaptureError, match="decompressed copy is gone"):
        chunking.load(elsewhere)
    assert capture.spool is not None
    capture.spool.close()
    with pytest.raises(CaptureError, match="decompressed copy"):
        chunking.load(here[0])


def test_a_url_s_chunks_are_read_from_the_url_by_workers_elsewhere() -> None:
    """Workers elsewhere read their chunk's byte range from the URL itself; workers of this
    machine, from the copy this process made."""
    local = SAMPLES / "healthy" / "node-worker-1-any.pcap"
    with fsspec.open("memory://incident/range.pcap", "wb") as f:
        f.write(local.read_bytes())
    capture, windows = scan_capture("memory://incident/range.pcap")
    records = Records.concat(list(windows))
    elsewhere = list(plan(capture, 0, [records], 100))
    here = list(plan(capture, 0, [records], 100, local=True))
    assert all(c.spool is None and c.data is None for c in elsewhere)
    assert all(c.spool is not None for c in here)
    whole = local.read_bytes()
    assert [_chunk_bytes(c) for c in elsewhere] == [_chunk_bytes(c) for c in here] == [
        whole[c.start:c.end] for c in here]

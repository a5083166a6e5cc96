"""The evidence frames of a streamed analysis's findings, decoded again by the workers
(`pcapkit.engine.evidence`): the same rows as the main process reads, for every frame they
can read; the rest left to it, and read by it."""

from __future__ import annotations

import dataclasses
from itertools import pairwise
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapkit import engine
from pcapkit.detect import PER_CLIENT, PER_CONNECTION
from pcapkit.detect.config import Config
from pcapkit.engine.chunks import sample
from pcapkit.engine.evidence import EVIDENCE_BYTES, GAP_BYTES, Rewalk, _runs, evidence_jobs
from pcapkit.engine.executor import Inline
from pcapkit.engine.tasks import evidence_rows
from pcapkit.read import scan_capture
from pcapkit.read.pcap import Span
from pcapkit.wireshark.display_filter import PACKET_COLUMNS
from pcapkit.wireshark.evidence import evidence_keys, evidence_packets
from tests.conftest import SAMPLES, gzipped

KEY = ["capture", "frame"]


def _streamed(captures: list[Path], chunk: int) -> tuple[list, engine.Streamed]:
    scans = [scan_capture(p) for p in captures]
    streamed = engine.run(scans, Config(), Inline(), chunk_records=chunk, shards=3,
                          evidence=PACKET_COLUMNS)
    return [capture for capture, _ in scans], streamed


def _rewalks(paths: list[Path], local: bool) -> dict[int, Rewalk]:
    """How the engine has its workers walk the captures again, as it sampled them."""
    out = {}
    for i, path in enumerate(paths):
        sampled = sample(*scan_capture(path), local)
        if sampled is not None and sampled.shape is not None:
            out[i] = Rewalk(sampled.shape)
    return out


def _sorted(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.sort(KEY)


@pytest.mark.parametrize("scenario", ["not_listening", "dns_timeout", "lossy_underlay",
                                      "mtu_blackhole"])
@pytest.mark.parametrize("chunk", [7, 100_000])
def test_the_workers_rows_are_the_main_process_rows(scenario: str, chunk: int) -> None:
    """Every frame cited by a finding of the detectors the workers run is decoded by them, as
    the main process decodes it, from pcap files and the dumpcap pcapng alike; the frames only
    the main process's detectors cite are left to it."""
    paths = sorted((SAMPLES / scenario).glob("*.pcap*"))
    captures, streamed = _streamed(paths, chunk)
    spans = [s.spans for s in streamed.seen]
    expected = _sorted(evidence_packets(captures, streamed.findings, spans, PACKET_COLUMNS))
    assert streamed.evidence is not None
    got = _sorted(streamed.evidence)
    theirs = streamed.findings.filter(pl.col("kind").is_in([*PER_CONNECTION, *PER_CLIENT]))
    wanted = evidence_keys(theirs).select(KEY).unique()
    assert wanted.height > 0
    assert wanted.join(got, on=KEY, how="anti").is_empty()
    assert got.equals(expected.join(got.select(KEY), on=KEY, how="semi"))
    # what the main process reads besides, and only that
    assert _sorted(evidence_packets(captures, streamed.findings, spans, PACKET_COLUMNS,
                                    streamed.evidence)).equals(expected)


def test_frames_a_worker_cannot_read_are_read_here(tmp_path: Path) -> None:
    """A job whose bytes are gone gives nothing back; the main process reads its frames."""
    paths = sorted((SAMPLES / "not_listening").glob("*.pcap"))
    captures, streamed = _streamed(paths, 100_000)
    spans = [s.spans for s in streamed.seen]
    jobs = list(evidence_jobs(captures, spans, _rewalks(paths, True), [streamed.findings],
                              PACKET_COLUMNS, True))
    assert len(jobs) > 1
    gone = dataclasses.replace(jobs[0], chunk=dataclasses.replace(
        jobs[0].chunk, path=str(tmp_path / "gone.pcap")))
    assert evidence_rows(gone) is None
    # walked from its second record, the run's records would be numbered one off
    header = jobs[1].chunk.walk.header_len  # type: ignore[union-attr]
    second = int(np.frombuffer(captures[jobs[1].chunk.capture].buffer, "<u4",
                               count=1, offset=jobs[1].chunk.start + 8)[0]) + header
    assert jobs[1].chunk.format == "pcap"
    shifted = dataclasses.replace(jobs[1], chunk=dataclasses.replace(
        jobs[1].chunk, start=jobs[1].chunk.start + second))
    assert evidence_rows(jobs[1]) is not None and evidence_rows(shifted) is None
    some = pl.concat([r for r in map(evidence_rows, jobs[1:]) if r is not None])
    assert _sorted(evidence_packets(captures, streamed.findings, spans, PACKET_COLUMNS, some)
                   ).equals(_sorted(evidence_packets(captures, streamed.findings, spans,
                                                     PACKET_COLUMNS)))


@pytest.mark.parametrize("local", [True, False])
def test_a_gzip_capture_is_read_from_its_spool_by_workers_of_this_machine(
        tmp_path: Path, local: bool) -> None:
    paths = gzipped(sorted((SAMPLES / "not_listening").glob("*-eth0.pcap")), tmp_path)
    captures, streamed = _streamed(paths, 100_000)
    spans = [s.spans for s in streamed.seen]
    jobs = list(evidence_jobs(captures, spans, _rewalks(paths, local), [streamed.findings],
                              PACKET_COLUMNS, local))
    if not local:  # sent to workers elsewhere, its bytes are this process's to read
        assert jobs == []
        return
    assert jobs and all(j.chunk.spool is not None for j in jobs)
    rows = pl.concat([r for r in map(evidence_rows, jobs) if r is not None])
    assert _sorted(rows).equals(_sorted(evidence_packets(captures, streamed.findings, spans,
                                                         PACKET_COLUMNS)))


HEADER = 16
span_sizes = st.lists(st.tuples(st.integers(1, 5), st.integers(1, 3 << 20)), min_size=1,
                      max_size=30)


@settings(max_examples=300, deadline=None)
@given(span_sizes, st.data())
def test_runs_cover_every_wanted_frame_once(sizes: list[tuple[int, int]],
                                            data: st.DataObject) -> None:
    """Runs of spans that follow each other, from a span holding wanted frames to another,
    never across more than `GAP_BYTES` of spans holding none, nor (but for one span alone)
    over `EVIDENCE_BYTES`."""
    spans, frame, pos = [], 1, 24
    for records, size in sizes:
        spans.append(Span(frame, records, pos + HEADER, pos + size))
        frame, pos = frame + records, pos + size
    wanted = np.array(sorted(data.draw(st.sets(st.integers(1, frame - 1)))), np.uint32)
    runs = list(_runs(spans, wanted, HEADER))
    covered = [f for first, last in runs for f in wanted
               if first.frame <= f < last.frame + last.records]
    assert sorted(covered) == wanted.tolist()
    for first, last in runs:
        assert first.holds(wanted) and last.holds(wanted)
        inside = spans[spans.index(first):spans.index(last) + 1]
        assert first is last or last.end - first.start <= EVIDENCE_BYTES
        holding = [s for s in inside if s.holds(wanted)]
        for a, b in pairwise(holding):
            assert b.start - a.end <= GAP_BYTES


def test_a_pcapng_is_walked_again_up_to_where_this_process_walked_it(tmp_path: Path) -> None:
    """Two sections: the ranges stop at the second's header, and this process walks the rest
    (`pcapkit.engine.chained`); the workers read again the frames of the first section alone,
    and this process the others, as it read them."""
    one = (SAMPLES / "dns_timeout" / "node-worker-1-dumpcap.pcapng").read_bytes()
    path = tmp_path / "two-sections.pcapng"
    path.write_bytes(one + one)
    captures, streamed = _streamed([path], 100_000)
    spans = [s.spans for s in streamed.seen]
    cited = evidence_keys(streamed.findings).select(KEY).unique()
    records = streamed.seen[0].records
    assert cited.filter(pl.col("frame") > records // 2).height > 0  # both sections cited
    assert streamed.evidence is not None
    got = streamed.evidence
    assert got.height > 0 and got["frame"].max() <= records // 2
    assert _sorted(evidence_packets(captures, streamed.findings, spans, PACKET_COLUMNS, got)
                   ).equals(_sorted(evidence_packets(captures, streamed.findings, spans,
                                                     PACKET_COLUMNS)))

"""pcap files cut into byte ranges whose workers find their own records
(`pcapkit.read.ranges`), held together by `pcapkit.engine.chained`: the records are the file's
one walk from its start, whatever a worker guessed, and a walk that ends early ends the
capture where reading it whole does."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from pcapkit import engine
from pcapkit.engine.tasks import DecodeJob
from pcapkit.read import read_capture
from pcapkit.read.pcap import layout
from pcapkit.read.pcapng_ranges import BlockLayout
from pcapkit.read.ranges import Layout, Walked, first_record, walk_range
from pcapkit.read.walk import WalkEnd
from tests.conftest import SAMPLES, decoded_jobs, document, sample_captures
from tests.read.layout import RECORD_HEADER, pcap_records

PCAPS = [p for p in sample_captures() if p.suffix == ".pcap"]
NODE = SAMPLES / "stale_endpoint" / "node-worker-1-any.pcap"


@pytest.mark.parametrize("path", PCAPS[:12], ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("step", [97, 1021, 65_537])
def test_a_range_finds_its_first_record(path: Path, step: int) -> None:
    """On recorded captures, each range's guess is the record the file's walk has there: the
    first that begins in the range, walked up to the first past it."""
    data = path.read_bytes()
    records = np.array(pcap_records(data))
    assert_each_range_walked(data, 24, step, walk_range, layout(read_capture(path)), records,
                             np.array([*records, len(data)]), RECORD_HEADER)


def assert_each_range_walked(data: bytes, first: int, step: int, walk: Callable[..., Walked],
                             shape: Layout | BlockLayout, records: npt.NDArray[np.int64],
                             starts: npt.NDArray[np.int64], header: int) -> None:
    """Each range of `step` bytes of the capture `data` from byte `first` on, walked by
    `walk`: its guess is the first of `records` (where the file's walk finds a record, its
    packet `header` bytes on) in it; it walks them all, and stops at the first of `starts`
    (where the file's walk finds anything: the end of the file last) past it."""
    buf = np.frombuffer(data, np.uint8)
    for start in range(first, len(data), step):
        end = min(len(data), start + step)
        walked = walk(buf[start:min(len(data), end + shape.longest)], start, end - start,
                      start == first, shape)
        inside = records[(records >= start) & (records < end)]
        if not len(inside):
            assert walked.ends.first is None or walked.ends.first >= end
            continue
        assert walked.ends.first == inside[0]
        assert walked.ends.reached == starts[starts >= end][0]
        assert walked.ends.why == WalkEnd.REACHED
        assert np.array_equal(walked.records.offset + start, inside + header)


def _with_fake_headers(data: bytes, after: int) -> bytes:
    """The capture `data` with one more record after its record number `after`, whose bytes
    read as a chain of eight plausible record headers (timestamps at the first record's),
    ending where the next true record begins."""
    starts = pcap_records(data)
    sec = struct.unpack_from("<I", data, 24)[0]
    fake = b"".join(struct.pack("<IIII", sec, 0, 200, 200) + bytes(200) for _ in range(8))
    record = struct.pack("<IIII", sec, 1, len(fake), len(fake)) + fake
    at = starts[after + 1]
    return data[:at] + record + data[at:]


def test_a_wrong_guess_is_walked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A packet whose bytes read as a chain of headers misleads the ranges that begin in it:
    they are decoded again from where the range before them ended, and the document is the
    in-memory one."""
    path = tmp_path / "node.pcap"
    path.write_bytes(_with_fake_headers(NODE.read_bytes(), 40))
    jobs = decoded_jobs(monkeypatch)
    streamed = document([path], [], workers=1, chunk_records=3, shards=2)
    assert any(j.chunk.exact and j.chunk.seq > 0 for j in jobs), "no range was walked again"
    assert streamed == document([path], [])


def test_the_ranges_guessed_wrong_are_decoded_again_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three packets that read as chains of headers, far apart: every range they mislead is
    decoded again in one batch of jobs (where each begins found by walking the headers, not by
    decoding the range before it first), and the document is the in-memory one."""
    data = NODE.read_bytes()
    for after in (30, 90, 150):
        data = _with_fake_headers(data, after)
    batches: list[int] = []
    hold = engine.hold

    def counted(*args: Any) -> Any:
        redo = args[3]
        return hold(*args[:3], lambda again: batches.append(len(again)) or redo(again), *args[4:])

    monkeypatch.setattr(engine, "hold", counted)
    _, redone = _streamed(data, tmp_path, monkeypatch)
    assert len(redone) >= 3
    assert batches == [len(redone)]


@pytest.mark.parametrize("damage", ["cut", "too_long"])
def test_a_walk_that_ends_early_ends_the_capture(tmp_path: Path, damage: str) -> None:
    """A record cut short at the end, or one declaring a length past the limit in the middle:
    the ranges past it are dropped, and the warning names the same byte and frame as reading
    the file whole."""
    data = NODE.read_bytes()
    starts = pcap_records(data)
    middle = starts[len(starts) // 2]
    if damage == "cut":
        data = data[:starts[-1] + RECORD_HEADER + 3]
    else:
        data = data[:middle + 8] + struct.pack("<I", 1 << 30) + data[middle + 12:]
    path = tmp_path / "node.pcap"
    path.write_bytes(data)
    streamed = document([path], [], workers=1, chunk_records=5, shards=2)
    assert streamed == document([path], [])
    assert ("cut short at byte" if damage == "cut" else f"at byte {middle}") in streamed


def _streamed(data: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
              ) -> tuple[list[DecodeJob], list[DecodeJob]]:
    """The capture `data` streamed in ranges of about 5 records, its document the in-memory
    one: its decode jobs, and those of ranges decoded again."""
    path = tmp_path / "node.pcap"
    path.write_bytes(data)
    jobs = decoded_jobs(monkeypatch)
    assert document([path], [], workers=1, chunk_records=5, shards=2) == document([path], [])
    return jobs, [j for j in jobs if j.chunk.exact and j.chunk.seq > 0]


def test_a_first_record_s_clock_off_alone_costs_no_second_walk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first record stamped 1970 (a clock set late): the ranges guess by the time most of the
    first records hold, and none is decoded twice."""
    data = bytearray(NODE.read_bytes())
    data[24:32] = bytes(8)
    jobs, redone = _streamed(bytes(data), tmp_path, monkeypatch)
    assert len(jobs) > 10
    assert not redone


def test_a_clock_set_mid_capture_costs_no_second_walk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From its 60th record on, the capture's clock is two years on (a clock set while
    tcpdump ran): the ranges past it find their records by a chain's own times, and only the
    range whose first chain of records spans the step may be decoded twice (before: every
    range past the step, each after the other)."""
    data = bytearray(NODE.read_bytes())
    step = pcap_records(bytes(data))[60]
    for at in pcap_records(bytes(data))[60:]:
        sec = struct.unpack_from("<I", data, at)[0]
        struct.pack_into("<I", data, at, sec + 2 * 365 * 86400)
    jobs, redone = _streamed(bytes(data), tmp_path, monkeypatch)
    assert len([j for j in jobs if not j.chunk.exact and j.chunk.start > step]) > 10
    assert len(redone) <= 1


def test_a_range_looks_for_its_first_record_one_record_s_length_at_most() -> None:
    """A record begins within one record's longest of any byte, if one begins at all: a range
    whose first bytes so far read as no record is guessed to hold none (and is walked again
    from where the range before it ended), not scanned to its end."""
    data = NODE.read_bytes()
    shape = layout(read_capture(NODE))
    records = data[pcap_records(data)[5]:]
    junk = bytes(shape.longest + 64)
    buf = np.frombuffer(junk + records, np.uint8)
    assert first_record(buf, 0, len(buf), shape) is None
    assert first_record(buf, 100, len(buf), shape) == len(junk)

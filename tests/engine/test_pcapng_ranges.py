"""pcapng files cut into byte ranges whose workers find their own packet blocks
(`pcapkit.read.pcapng_ranges`): the records are those of the file's one walk from its start,
and where a worker cannot read on (a new section, a packet comment, damage), the rest of the
file is walked as a whole read walks it, with the same document."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pcapkit.engine.chunks import sample
from pcapkit.read import read_capture, scan_capture
from pcapkit.read.pcapng_ranges import BlockLayout, walk_blocks
from pcapkit.wireshark.pcapng import Interface, Packet, write_pcapng
from tests.conftest import SAMPLES, decoded_jobs, document, sample_captures
from tests.engine.test_ranges import NODE, assert_each_range_walked
from tests.read.layout import EPB, pcapng_blocks

needs_editcap = pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap not installed")
#: recorded by dumpcap (interface statistics blocks at the end)
DUMPCAPS = [p for p in sample_captures() if p.suffix == ".pcapng"]
#: bytes of an Enhanced Packet Block before its packet
EPB_HEAD = 28


def _as_pcapng(pcap: Path, into: Path, *edits: str) -> Path:
    """`pcap` written as a pcapng by editcap (with `edits`, its other options)."""
    out = into / (pcap.stem + ".pcapng")
    subprocess.run(["editcap", "-F", "pcapng", *edits, str(pcap), str(out)], check=True)
    return out


def _walked_everywhere(path: Path, step: int) -> None:
    """Each range of `step` bytes of `path` finds the packet block the file's walk has there,
    and walks the records of the blocks that begin in it."""
    data = path.read_bytes()
    capture, windows = scan_capture(path)
    sampled = sample(capture, windows, local=True)
    assert sampled is not None and isinstance(sampled.shape, BlockLayout)
    blocks = pcapng_blocks(data)
    packets = np.array([at for at, kind in blocks if kind == EPB])
    starts = np.array([at for at, _ in blocks if at >= sampled.first] + [len(data)])
    assert_each_range_walked(data, sampled.first, step, walk_blocks, sampled.shape, packets,
                             starts, EPB_HEAD)


@pytest.mark.parametrize("path", DUMPCAPS, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("step", [97, 1021, 65_537])
def test_a_range_of_a_dumpcap_file_finds_its_first_block(path: Path, step: int) -> None:
    """dumpcap's files (several interfaces; statistics blocks at the end, which the last
    range's worker skips)."""
    _walked_everywhere(path, step)


@needs_editcap
@pytest.mark.parametrize("step", [97, 1021, 65_537])
def test_a_range_of_an_editcap_file_finds_its_first_block(tmp_path: Path, step: int) -> None:
    _walked_everywhere(_as_pcapng(NODE, tmp_path), step)


def test_a_dumpcap_file_s_ranges_give_the_document_read_whole(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Several interfaces; chunk sizes of a block, a prime, most of the file: nothing is left
    to the walk of the whole file (its statistics blocks are skipped)."""
    path = SAMPLES / "healthy" / "node-worker-1-multi.pcapng"
    whole = document([path], [])
    for chunk_records in (1, 7, 700):
        jobs = decoded_jobs(monkeypatch)
        assert document([path], [], workers=1, chunk_records=chunk_records, shards=2) == whole
        assert all(isinstance(j.chunk.walk, BlockLayout) for j in jobs)


def _two_sections(pcapng: Path) -> bytes:
    return pcapng.read_bytes() + (SAMPLES / "healthy" / "node-worker-1-multi.pcapng").read_bytes()


def _cut(pcapng: Path) -> bytes:
    data = pcapng.read_bytes()
    return data[:len(data) * 2 // 3]


def _with_stats(pcapng: Path) -> bytes:
    """An interface statistics block (interface 0, no options) after the first 50 packets."""
    blocks = [at for at, kind in pcapng_blocks(pcapng.read_bytes()) if kind == EPB]
    data = pcapng.read_bytes()
    isb = struct.pack("<IIIIII", 5, 24, 0, 0, 0, 24)
    return data[:blocks[50]] + isb + data[blocks[50]:]


@needs_editcap
@pytest.mark.parametrize(("edit", "rest"), [
    (_two_sections, True), (_cut, False), (_with_stats, False)],
    ids=["two_sections", "cut", "statistics"])
def test_where_workers_stop_the_file_is_walked_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: object, rest: bool) -> None:
    """A second section (its own interfaces): the ranges stop there, and the rest is walked
    by the engine (chunks of records, not ranges); a block cut short: the ranges stop there,
    and the walk there ends the capture with its warning (no records left); a statistics
    block in the middle is skipped by its range's worker. The document is the one read
    whole, warnings included."""
    path = tmp_path / "edited.pcapng"
    assert callable(edit)
    path.write_bytes(edit(_as_pcapng(NODE, tmp_path)))
    whole = document([path], [])
    assert ("cut short at byte" in whole) == (edit is _cut)
    jobs = decoded_jobs(monkeypatch)
    assert document([path], [], workers=1, chunk_records=5, shards=2) == whole
    ranged = [j for j in jobs if j.chunk.walk is not None]
    walked = [j for j in jobs if j.chunk.walk is None]
    assert len(ranged) > 10
    assert bool(walked) == rest
    assert all(j.chunk.seq > max(r.chunk.seq for r in ranged) for j in walked)


@needs_editcap
def test_packet_comments_leave_the_rest_to_the_walk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Packet comments (added by editcap) stop the worker that meets the first; the rest is
    walked by the engine, on one worker or two, and the document is the one read whole."""
    path = _as_pcapng(NODE, tmp_path, "-a", "40:first comment", "-a", "90:second comment")
    whole = document([path], [])
    assert document([path], [], workers=2, chunk_records=5, shards=2) == whole
    jobs = decoded_jobs(monkeypatch)
    assert document([path], [], workers=1, chunk_records=5, shards=2) == whole
    assert any(j.chunk.walk is None for j in jobs)


def test_a_wrong_guess_is_walked_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A packet whose bytes read as a chain of packet blocks (a pcapng carried in a packet)
    misleads the ranges that begin in it: they are decoded again from where the range before
    them ended, and the document is the one read whole."""
    capture = read_capture(NODE)
    rec, buf = capture.records, capture.buffer
    packets = [Packet(0, int(rec.ts_ns[i]), bytes(buf[rec.offset[i]:rec.offset[i] + rec.caplen[i]]),
                      int(rec.origlen[i])) for i in range(len(rec))]
    fake = b"".join(struct.pack("<IIIIIIII", EPB, 32, 0, 0, 0, 0, 0, 32) for _ in range(64))
    packets.insert(40, Packet(0, packets[40].ts_ns, fake, len(fake)))
    path = tmp_path / "carried.pcapng"
    with path.open("wb") as f:
        write_pcapng(f, [Interface(capture.interfaces[0].link_type)], packets)
    jobs = decoded_jobs(monkeypatch)
    streamed = document([path], [], workers=1, chunk_records=3, shards=2)
    assert any(j.chunk.exact and j.chunk.seq > 0 for j in jobs), "no range was walked again"
    assert streamed == document([path], [])

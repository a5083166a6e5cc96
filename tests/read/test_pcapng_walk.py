"""The pcapng walk, a window of the file at a time, with runs of Enhanced Packet Blocks read by
compiled code (`pcapkit.read.packet_blocks`): every pcapng of the samples and the corpora reads
as the block-by-block walk of the whole file reads it (records, interfaces, comments,
warnings), and a lab capture converted to pcapng by Wireshark's editcap reads, and is analysed,
as the pcap it came from."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pcapkit
from pcapkit.errors import CaptureError
from pcapkit.read import packet_blocks, pcapng, read_capture
from tests.conftest import corpus_captures, sample_captures

PCAPNGS = [p for p in sample_captures() + corpus_captures()
           if p.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"]
#: (compiled from this many bytes on, window bytes): the block-by-block walk of the whole file
WHOLE = (1 << 62, 1 << 62)
#: the fast path on the whole file, on windows of a few blocks, and the slow path on those
WAYS = [(0, 1 << 62), (0, 97), (1 << 62, 97)]
FIELDS = ["frame", "ts_ns", "iface", "offset", "caplen", "origlen", "direction"]


def _read(path: Path, way: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> Any:
    """What a reading of `path` gives, compared whole: its records and metadata, or its error."""
    monkeypatch.setattr(pcapng, "COMPILED_FROM_BYTES", way[0])
    monkeypatch.setattr(pcapng, "WINDOW_BYTES", way[1])
    try:
        c = read_capture(path)
    except CaptureError as e:
        return str(e)
    records = {f: (getattr(c.records, f).dtype.str, getattr(c.records, f).tolist())
               for f in FIELDS}
    return records, c.interfaces, c.warnings, c.comments, c.big_endian


@pytest.mark.parametrize("path", PCAPNGS, ids=lambda p: p.name)
@pytest.mark.parametrize("way", WAYS, ids=["compiled", "compiled-windows", "windows"])
def test_every_way_reads_as_the_walk_of_the_whole_file(
        path: Path, way: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    assert _read(path, way, monkeypatch) == _read(path, WHOLE, monkeypatch)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The largest of the lab's captures and editcap's pcapng of it."""
    if shutil.which("editcap") is None:
        pytest.skip("editcap not installed (Debian package wireshark-common, with tshark)")
    pcap = max((p for p in sample_captures() if p.suffix == ".pcap"),
               key=lambda p: p.stat().st_size)
    out = tmp_path_factory.mktemp("pcapng") / f"{pcap.stem}.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(pcap), str(out)], check=True)
    return pcap, out


def test_the_compiled_walk_reads_a_converted_capture_as_its_pcap(
        converted: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    pcap, ng = converted
    walked = []
    walk = packet_blocks.walk_packet_blocks

    def counted(*args: Any) -> tuple[int, int, int]:
        n, pos, why = walk(*args)
        walked.append(n - args[-1])
        return n, pos, why

    monkeypatch.setattr(packet_blocks, "walk_packet_blocks", counted)
    monkeypatch.setattr(pcapng, "COMPILED_FROM_BYTES", 0)
    monkeypatch.setattr(pcapng, "WINDOW_BYTES", 1 << 16)
    a, b = read_capture(pcap), read_capture(ng)
    assert sum(walked) == len(b.records) == len(a.records) > 500  # every packet block
    for f in ["frame", "ts_ns", "caplen", "origlen"]:
        assert np.array_equal(getattr(a.records, f), getattr(b.records, f)), f
    assert all(a.packet(i) == b.packet(i) for i in range(0, len(a.records), 97))


def _named(document: dict[str, Any], path: Path) -> str:
    """The document with the capture's name and format left out."""
    return json.dumps(document).replace(str(path), "CAPTURE").replace('"pcapng"', '"pcap"')


def test_a_converted_capture_streams_to_the_same_document(
        converted: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    pcap, ng = converted
    monkeypatch.setattr(pcapng, "COMPILED_FROM_BYTES", 0)
    monkeypatch.setattr(pcapng, "WINDOW_BYTES", 1 << 16)
    documents = [
        pcapkit.analyze([path], workers=1, chunk_records=997, shards=3).to_dict()
        for path in (pcap, ng)]
    assert _named(documents[0], pcap) == _named(documents[1], ng)

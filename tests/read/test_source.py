"""A capture's bytes when they cannot be mapped in place: gzip decompressed (and a URL's copied)
a piece at a time into a temporary file, never whole in memory; and the size `analyze` decides
to stream by, counted decompressed."""

from __future__ import annotations

import gzip
import json
import random
import zlib
from pathlib import Path
from typing import Any

import pytest

from pcapkit import api
from pcapkit.read import source
from pcapkit.read.source import content_size, open_source
from tests.conftest import sample_captures

MIXED = (random.Random(7).randbytes(300_000) + bytes(700_000)) * 3


def _written(tmp_path: Path, raw: bytes) -> Path:
    path = tmp_path / "capture.pcap.gz"
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_members_decompress_as_gzip_does_whatever_the_pieces(
        tmp_path: Path, piece: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # members ending mid-piece, at a piece's end, and a magic split across two pieces
    raw = gzip.compress(MIXED) + gzip.compress(b"x" * 10) + gzip.compress(MIXED[:5000])
    monkeypatch.setattr(source, "_GZIP_CHUNK", piece)
    src = open_source(_written(tmp_path, raw))
    assert bytes(src.data) == gzip.decompress(raw) and src.warnings == [] and src.compressed


def test_damage_keeps_what_came_before_it(tmp_path: Path) -> None:
    packed = gzip.compress(MIXED)
    cut = open_source(_written(tmp_path, packed[: len(packed) // 2]))
    whole = zlib.decompressobj(wbits=47).decompress(packed[: len(packed) // 2])
    assert bytes(cut.data) == whole and len(whole) > 100_000
    assert cut.warnings == ["gzip stream cut short; read up to that point"]
    junk = open_source(_written(tmp_path, packed + b"not gzip"))
    assert bytes(junk.data) == MIXED
    assert junk.warnings == ["8 bytes of trailing data after the gzip stream ignored"]
    flipped = bytearray(packed)
    flipped[len(packed) // 2] ^= 0xFF
    corrupt = open_source(_written(tmp_path, bytes(flipped)))
    assert corrupt.warnings[0].startswith("gzip data corrupt")
    assert MIXED.startswith(bytes(corrupt.data)[: len(MIXED) // 4])


def test_content_is_counted_decompressed_and_no_further_than_asked(tmp_path: Path) -> None:
    bomb = _written(tmp_path, gzip.compress(bytes(50_000_000)))
    assert bomb.stat().st_size < 100_000
    assert 1_000_000 <= content_size(bomb, 1_000_000) <= 1_000_000 + source._GZIP_CHUNK
    assert content_size(bomb, 1 << 40) == 50_000_000
    plain = next(iter(sample_captures()))
    assert content_size(plain, 1) == plain.stat().st_size
    assert content_size(tmp_path / "missing.pcap", 1 << 20) == 0


def test_a_capture_that_compresses_well_is_streamed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = max(sample_captures(), key=lambda p: p.stat().st_size)
    packed = _written(tmp_path, gzip.compress(plain.read_bytes()))
    monkeypatch.setattr(api, "STREAM_FROM_BYTES", plain.stat().st_size)
    assert packed.stat().st_size < api.STREAM_FROM_BYTES  # on disk, it looks small
    assert api._large([packed]) and api._large([plain])
    monkeypatch.setattr(api, "STREAM_FROM_BYTES", plain.stat().st_size + 1)
    assert not api._large([packed]) and api._large([packed, plain])


def test_a_streamed_gzip_capture_is_decompressed_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # its evidence frames are read again from the first decompression (`pcapkit.read.rescan`)
    plain = next(p for p in sample_captures() if p.parent.name == "stale_endpoint")
    packed = tmp_path / plain.name
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    calls = []
    gunzip = source._gunzip

    def counted(*args: Any) -> list[str]:
        calls.append(args)
        return gunzip(*args)

    monkeypatch.setattr(source, "_gunzip", counted)
    documents = [json.dumps(api.analyze([path], workers=1, chunk_records=50).to_dict())
                 for path in (plain, packed)]
    assert len(calls) == 1
    assert '"frames"' in documents[0]  # findings, with evidence frames read again
    assert documents[0] == documents[1].replace(str(packed), str(plain)).replace(
        '"compressed": true', '"compressed": false')

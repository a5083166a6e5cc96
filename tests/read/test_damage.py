"""Damaged captures: a pcap cut mid-record, a pcapng cut or with a corrupt block in the middle.

Each is read up to the damage, every record before it is kept exactly as in the intact file, and
one warning names the byte offset where the damage starts. The damage is written here, byte by
byte, into committed samples; where each record and block starts is worked out by a walk
independent of the reader's (`tests/read/layout.py`).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from polars.testing import assert_frame_equal

from pcapkit import read_packets
from pcapkit.read import Capture, read_capture
from tests.conftest import SAMPLES
from tests.read.layout import EPB, PCAPNG, RECORD_HEADER, pcap_records, pcapng_blocks

PCAP = SAMPLES / "stale_endpoint" / "node-worker-1-any.pcap"


def rows(capture: Capture) -> list[tuple[int, ...]]:
    r = capture.records
    return list(zip(r.iface.tolist(), r.ts_ns.tolist(), r.caplen.tolist(), r.origlen.tolist(),
                    r.offset.tolist(), strict=True))


def one_warning(capture: Capture, *needles: str) -> str:
    assert len(capture.warnings) == 1, capture.warnings
    for n in needles:
        assert n in capture.warnings[0], capture.warnings
    return capture.warnings[0]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_pcap_cut_mid_record_keeps_every_whole_record(tmp_path: Path) -> None:
    data = PCAP.read_bytes()
    starts = pcap_records(data)
    whole = read_capture(PCAP)
    assert whole.warnings == []
    for k in (1, len(starts) // 3, len(starts) // 2, len(starts) - 1):
        for into in (3, RECORD_HEADER - 1, RECORD_HEADER + 1):  # header, then data, cut short
            cut = read_capture(write(tmp_path, f"cut-{k}-{into}.pcap",
                                     data[: starts[k] + into]))
            assert rows(cut) == rows(whole)[:k]
            one_warning(cut, "cut short", f"at byte {starts[k]}", f"frame {k + 1}",
                        f"the {k} whole records")
    # A cut exactly between two records is a shorter capture, not damage.
    clean = read_capture(write(tmp_path, "clean.pcap", data[: starts[10]]))
    assert len(clean.records) == 10 and clean.warnings == []


def test_pcap_record_with_an_impossible_length_in_the_middle(tmp_path: Path) -> None:
    data = bytearray(PCAP.read_bytes())
    starts = pcap_records(bytes(data))
    k = len(starts) // 2
    struct.pack_into("<I", data, starts[k] + 8, 0x7FFFFFF0)  # caplen: 2 GB
    damaged = read_capture(write(tmp_path, "long.pcap", bytes(data)))
    assert rows(damaged) == rows(read_capture(PCAP))[:k]
    one_warning(damaged, f"frame {k + 1} at byte {starts[k]}", f"the {k} records")


def test_decoded_packets_before_the_damage_are_unchanged(tmp_path: Path) -> None:
    data = PCAP.read_bytes()
    starts = pcap_records(data)
    k = len(starts) // 2
    cut = write(tmp_path, "cut.pcap", data[: starts[k] + 20])
    assert_frame_equal(read_packets(cut), read_packets(PCAP).head(k))


@pytest.fixture(scope="module")
def pcapng() -> tuple[bytes, list[tuple[int, int]]]:
    data = PCAPNG.read_bytes()
    blocks = pcapng_blocks(data)
    assert read_capture(PCAPNG).warnings == []
    return data, blocks


def _middle_epb(blocks: list[tuple[int, int]], fraction: float) -> tuple[int, int]:
    """(block index, offset) of a packet block about `fraction` of the way through."""
    i = int(len(blocks) * fraction)
    while blocks[i][1] != EPB:
        i += 1
    return i, blocks[i][0]


def _records_before(blocks: list[tuple[int, int]], i: int) -> int:
    return sum(1 for _, t in blocks[:i] if t == EPB)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("into", [4, 11, 40])
def test_pcapng_cut_mid_block(pcapng: tuple[bytes, list[tuple[int, int]]], tmp_path: Path,
                              fraction: float, into: int) -> None:
    data, blocks = pcapng
    i, at = _middle_epb(blocks, fraction)
    n = _records_before(blocks, i)
    cut = read_capture(write(tmp_path, "cut.pcapng", data[: at + into]))
    assert rows(cut) == rows(read_capture(PCAPNG))[:n]
    one_warning(cut, "cut short", f"at byte {at}", f"the {n} whole records")


@pytest.mark.parametrize(("length", "what"), [
    (0x12345, "invalid block length"),  # not a multiple of 4
    (0x7FFFFFF0, "invalid block length"),  # beyond any block
    (4, "invalid block length"),  # shorter than a block's own framing
    (None, "disagree"),  # plausible, but its trailing copy says otherwise
])
def test_pcapng_block_with_a_corrupt_length_in_the_middle(
    pcapng: tuple[bytes, list[tuple[int, int]]], tmp_path: Path, length: int | None, what: str,
) -> None:
    data, blocks = pcapng
    i, at = _middle_epb(blocks, 0.5)
    n = _records_before(blocks, i)
    damaged = bytearray(data)
    (blen,) = struct.unpack_from("<I", data, at + 4)
    struct.pack_into("<I", damaged, at + 4, blen + 8 if length is None else length)
    capture = read_capture(write(tmp_path, "corrupt.pcapng", bytes(damaged)))
    assert rows(capture) == rows(read_capture(PCAPNG))[:n]
    one_warning(capture, "corrupt block", f"at byte {at}", what, f"the {n} records")


def test_pcapng_block_with_a_corrupt_type_is_skipped(
    pcapng: tuple[bytes, list[tuple[int, int]]], tmp_path: Path,
) -> None:
    data, blocks = pcapng
    i, at = _middle_epb(blocks, 0.5)
    n = _records_before(blocks, i)
    damaged = bytearray(data)
    struct.pack_into("<I", damaged, at, 0x00_4F_1C_00)
    capture = read_capture(write(tmp_path, "type.pcapng", bytes(damaged)))
    whole = rows(read_capture(PCAPNG))
    # Its length still frames it (the trailer agrees): only that one block is lost.
    assert rows(capture) == whole[:n] + whole[n + 1:]
    one_warning(capture, f"block at byte {at}", "unknown type 0x004f1c00", "skipped")

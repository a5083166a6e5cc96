"""`pcapkit analyze` on damaged captures, as automation runs it: a pcap cut mid-record (tcpdump
killed mid-write) and a pcapng with a corrupt block in the middle are analysed up to the damage
(exit 0), each capture's `warnings` names the byte offset, every whole record before the damage
is counted, and the symptoms found on those records are the intact capture's."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.spawn import PCAPKIT, cli_env
from tests.conftest import SAMPLES
from tests.read.layout import EPB, PCAPNG, pcap_records, pcapng_blocks

#: a capture with symptoms (RSTs, unanswered SYNs) well before its end
PCAP = SAMPLES / "stale_endpoint" / "pod-client-7c9f8b6d5-h2m4k.pcap"


def analyze(tmp_path: Path, *captures: Path) -> dict[str, Any]:
    proc = subprocess.run([PCAPKIT, "analyze", *map(str, captures), "--format", "json"],
                          capture_output=True, text=True, env=cli_env(tmp_path), timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def symptoms(doc: dict[str, Any]) -> list[tuple[str, str, str, list[list[int]]]]:
    return sorted((s["kind"], s["client"], s["server"],
                   [e["frames"] for e in s["evidence"]]) for s in doc["symptoms"])


def last_evidence_frame(doc: dict[str, Any]) -> int:
    return max(f for s in doc["symptoms"] for e in s["evidence"] for f in e["frames"])


def to_pcapng(pcap: bytes) -> tuple[bytes, list[int]]:
    """The records of a little-endian microsecond pcap as a pcapng (SHB, IDB, one EPB each),
    and where each EPB starts."""
    _magic, _major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(
        "<IHHiIII", pcap)
    shb = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
    idb = struct.pack("<IIHHII", 1, 20, network, 0, snaplen, 20)  # default if_tsresol: µs
    out, starts = [shb, idb], []
    pos = len(shb) + len(idb)
    for at in pcap_records(pcap):
        sec, usec, caplen, origlen = struct.unpack_from("<IIII", pcap, at)
        ts = sec * 1_000_000 + usec
        data = pcap[at + 16: at + 16 + caplen]
        padded = data + b"\0" * (-caplen % 4)
        blen = 32 + len(padded)
        out.append(struct.pack("<IIIIIII", EPB, blen, 0, ts >> 32, ts & 0xFFFFFFFF, caplen,
                               origlen) + padded + struct.pack("<I", blen))
        starts.append(pos)
        pos += blen
    return b"".join(out), starts


@pytest.fixture(scope="module")
def intact(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    doc = analyze(tmp_path_factory.mktemp("intact"), PCAP)
    assert doc["symptoms"] and doc["captures"][0]["warnings"] == []
    return doc


def test_pcap_cut_mid_record_after_the_symptoms(tmp_path: Path, intact: dict[str, Any]) -> None:
    data = PCAP.read_bytes()
    starts = pcap_records(data)
    first = last_evidence_frame(intact)  # 1-based: the record after the last evidence frame
    cuts = [(k, starts[k] + into) for k in (first, (first + len(starts)) // 2, len(starts) - 1)
            for into in (5, 30)]  # in the record header; in its data
    paths = []
    for i, (_k, at) in enumerate(cuts):
        paths.append(tmp_path / f"cut-{i}.pcap")
        paths[-1].write_bytes(data[:at])
    doc = analyze(tmp_path, *paths)  # all at once: the counts and warnings are per capture
    for (k, _at), cap in zip(cuts, doc["captures"], strict=True):
        assert cap["packets"] == k
        assert len(cap["warnings"]) == 1
        assert f"cut short at byte {starts[k]}" in cap["warnings"][0]
    # Cut just after the last evidence frame, alone: the same symptoms, on the same frames.
    assert symptoms(analyze(tmp_path, paths[0])) == symptoms(intact)


def test_pcapng_with_a_corrupt_block_after_the_symptoms(tmp_path: Path,
                                                        intact: dict[str, Any]) -> None:
    ng, starts = to_pcapng(PCAP.read_bytes())
    whole = tmp_path / "whole.pcapng"
    whole.write_bytes(ng)
    assert symptoms(analyze(tmp_path, whole)) == symptoms(intact)  # the conversion is faithful
    k = (last_evidence_frame(intact) + len(starts)) // 2
    bad_length, bad_type = bytearray(ng), bytearray(ng)
    struct.pack_into("<I", bad_length, starts[k] + 4, 0x00FFFFF3)
    struct.pack_into("<I", bad_type, starts[k], 0x00BADBAD)
    (tmp_path / "bad-length.pcapng").write_bytes(bad_length)
    (tmp_path / "bad-type.pcapng").write_bytes(bad_type)
    doc = analyze(tmp_path, tmp_path / "bad-length.pcapng", tmp_path / "bad-type.pcapng")
    length, typ = doc["captures"]
    assert length["packets"] == k
    assert length["warnings"] == [f"corrupt block at byte {starts[k]} (invalid block length "
                                  f"{0x00FFFFF3}); read the {k} records before it"]
    assert typ["packets"] == len(starts) - 1  # only the block whose type is unknown is lost
    assert typ["warnings"] == [f"block at byte {starts[k]} has unknown type 0x00badbad; skipped"]
    # Each capture alone finds what the intact one did (together they are two vantages).
    alone = analyze(tmp_path, tmp_path / "bad-length.pcapng")
    assert symptoms(alone) == symptoms(intact)


def test_dumpcap_pcapng_cut_and_corrupt_in_the_middle(tmp_path: Path) -> None:
    data = PCAPNG.read_bytes()
    blocks = pcapng_blocks(data)
    i = len(blocks) // 2
    while blocks[i][1] != EPB:
        i += 1
    at, n = blocks[i][0], sum(1 for _, t in blocks[:i] if t == EPB)
    cut, corrupt = tmp_path / "cut.pcapng", tmp_path / "corrupt.pcapng"
    cut.write_bytes(data[: at + 50])
    damaged = bytearray(data)
    struct.pack_into("<I", damaged, at + 4, struct.unpack_from("<I", data, at + 4)[0] + 4)
    corrupt.write_bytes(damaged)
    doc = analyze(tmp_path, cut, corrupt)
    for cap in doc["captures"]:
        assert cap["packets"] == n
        assert len(cap["warnings"]) == 1 and f"at byte {at}" in cap["warnings"][0]
    assert "cut short" in doc["captures"][0]["warnings"][0]
    assert "disagree" in doc["captures"][1]["warnings"][0]

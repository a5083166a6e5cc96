"""The vectorised and the compiled decoders on parts of captures: chunks and arbitrary record
subsets give the rows the whole capture's table has, so that large files can be decoded in
bounded memory."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pcapkit.decode
from pcapkit.decode import PACKET_SCHEMA, Engine, decode, decode_chunks, decode_file
from pcapkit.decode.compiled import decode_compiled_stats
from pcapkit.decode.fast import decode_fast_stats
from pcapkit.read import read_capture
from pcapkit.read.walk import WINDOW_BYTES
from tests.conftest import REPO, corpus_captures, sample_captures
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
@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_file_is_the_whole(path: Path) -> None:
    capture, frames = decode_file(path, 3, chunk_records=97)
    assert_frame_equal(pl.concat(list(frames)), decode(read_capture(path), 3, engine="reference"))
    assert capture.warnings == read_capture(path).warnings


def _mapped_kb(buffer: bytes | memoryview) -> int:
    """Resident KB of the memory mapping that holds `buffer` (a mapped capture's): only its
    own, so that another mapping of the same file left alive elsewhere in this process (a
    failed test's locals, kept for post-mortem) is not counted."""
    start = np.frombuffer(buffer, np.uint8).ctypes.data
    end = start + len(buffer)
    kb, found, inside = 0, False, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=1)[0]
        if not head.endswith(":"):  # a mapping's first line: "low-high perms offset ..."
            low, high = (int(a, 16) for a in head.split("-"))
            inside = low < end and start < high
            found |= inside
        elif inside and head == "Rss:":
            kb += int(line.split()[1])
    assert found, "the buffer is not a mapping of this process"
    return kb


@pytest.fixture(scope="module")
def long_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file of more than two of the reader's windows, cut mid-record."""
    data = next(p for p in CAPTURES if p.suffix == ".pcap").read_bytes()
    body = data[24:]
    path = tmp_path_factory.mktemp("long") / "long.pcap"
    path.write_bytes(data[:24] + body * (2 * WINDOW_BYTES // len(body) + 1) + body[:40])
    return path


@pytest.mark.skipif(not CAPTURES, reason="no samples or corpus captures")
@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux's /proc")
def test_file_of_many_windows_is_never_all_resident(long_capture: Path) -> None:
    """Every whole record decoded, as from the file read whole, the cut warned of, and never
    much more than a window of the file resident (it spans more than two; the kernel maps
    pages around a faulting one as well)."""
    capture, frames = decode_file(long_capture, chunk_records=997, engine="fast")
    parts, resident = [], 0
    for frame in frames:
        parts.append(frame)
        resident = max(resident, _mapped_kb(capture.buffer))
    assert 0 < resident < 1.5 * WINDOW_BYTES / 1024
    whole = read_capture(long_capture)
    assert_frame_equal(pl.concat(parts), decode(whole, engine="fast"))
    assert len(capture.warnings) == 1 and "cut short" in capture.warnings[0]
    assert capture.warnings == whole.warnings


@pytest.mark.skipif(not CAPTURES, reason="no samples or corpus captures")
@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs Linux's /proc")
def test_chunks_let_go_of_the_pages_they_decoded(long_capture: Path) -> None:
    capture = read_capture(long_capture)
    for _ in decode_chunks(capture, chunk_records=997, engine="fast"):
        pass
    records = capture.records
    last = records.take(slice((len(records) - 1) // 997 * 997, None))
    span_kb = (int(last.offset[-1] + last.caplen[-1]) - int(last.offset[0])) // 1024 + 1
    # The last chunk's pages, and what the kernel maps with them: a page of the page cache may
    # sit in a large folio, mapped whole (up to a huge page) when one of its pages faults.
    assert _mapped_kb(capture.buffer) < span_kb + 2 * _huge_page_kb() + 64
    assert long_capture.stat().st_size > 16 * (span_kb + 2 * _huge_page_kb() + 64) * 1024


def _huge_page_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Hugepagesize:"):
            return int(line.split()[1])
    return 2048


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
        ["PACKET_SCHEMA", "Layer", "Status", "Tunnel", "decode", "decode_chunks",
         "decode_file"])


def test_auto_takes_the_kernel_once_it_has_run() -> None:
    """`auto` decodes a small capture with the vectorised decoder in a process whose kernel has
    not run, its package imported or not, and with the kernel once it has; a few records with
    the reference decoder either way. In a fresh process, because this one's kernel may have
    run in an earlier test."""
    script = (
        "import sys; from pcapkit.decode import REFERENCE_BELOW as few, decoder\n"
        "import pcapkit.decode.compiled as c\n"
        "from pcapkit.read import read_capture\n"
        "names = lambda: [decoder('auto', n).__name__ for n in (few - 1, few, 10**6)]\n"
        "before = names()\n"
        "c.decode_compiled(read_capture(sys.argv[1]))\n"
        "print(*before, *names())\n"
    )
    sample = sample_captures()[0]
    out = subprocess.run([sys.executable, "-c", script, str(sample)], capture_output=True,
                         text=True, check=True, cwd=REPO).stdout.split()
    assert out == ["decode_reference", "decode_fast", "decode_compiled",
                   "decode_reference", "decode_compiled", "decode_compiled"]

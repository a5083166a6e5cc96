"""The reader against Wireshark's (wiretap), on every capture of both corpora.

capinfos reads all the files in one run (record count, sum of wire lengths); for the per-frame
check the files capinfos reads are concatenated with `mergecap -a` (wiretap
again reading each original) and tshark prints every frame's time, captured and wire length.
Files Wireshark refuses (link types it does not know) are left out: only its readings are
the oracle here.
"""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from pcapkit.errors import CaptureError
from pcapkit.read import Capture, read_capture
from tests.conftest import corpus_captures, needs_corpus

pytestmark = [needs_corpus(), pytest.mark.corpus]


def _ns(seconds: str) -> int:
    """Epoch seconds as tshark prints them (`1591780794.740079000`) to nanoseconds."""
    return int(Decimal(seconds) * 1_000_000_000)


#: LINKTYPE_SUNATM records start with a 4-byte pseudo-header that wiretap leaves out of both
#: lengths; pcapkit's records are the bytes as stored.
SUNATM, SUNATM_PSEUDO_HEADER = 123, 4
#: files whose records carry a time fraction of a second or more (invalid): wiretap multiplies it
#: in 32-bit arithmetic and wraps, pcapkit carries it into the seconds. Their times are not
#: compared.
INVALID_FRACTION = {
    "timestamp_invalid_micro.pcap", "timestamp_invalid_nano.pcap",
    "atm-oam-loopback-print-overrun.pcap", "rx_serviceid_oobr.pcap",
}


@pytest.fixture(scope="module")
def infos() -> dict[Path, tuple[int, int]]:
    """capinfos's (records, sum of wire lengths) of every corpus file it reads."""
    if shutil.which("capinfos") is None:
        pytest.skip("capinfos not installed")
    # -T -r: a table without header; -M exact numbers; -c records; -d data size (wire lengths).
    out = subprocess.run(
        ["capinfos", "-T", "-r", "-M", "-c", "-d", *map(str, corpus_captures())],
        capture_output=True, text=True, check=False,
    ).stdout
    return {Path(name): (int(n), int(size))
            for name, n, size in (line.split("\t") for line in out.splitlines())}


@pytest.fixture(scope="module")
def captures(infos: dict[Path, tuple[int, int]]) -> dict[Path, Capture]:
    return {path: read_capture(path) for path in infos}


def _pseudo_header(capture: Capture) -> int:
    return SUNATM_PSEUDO_HEADER if capture.link_types == [SUNATM] else 0


def test_wireshark_reads_most_of_the_corpus(infos: dict[Path, tuple[int, int]]) -> None:
    # The corpora are mostly captures Wireshark reads; a broken capinfos run would read none.
    assert len(infos) > 0.9 * len(corpus_captures())


def test_counts_and_sizes_agree_with_capinfos(
    infos: dict[Path, tuple[int, int]], captures: dict[Path, Capture]
) -> None:
    wrong = []
    for path, info in infos.items():
        recs = captures[path].records
        size = int(recs.origlen.sum(dtype=np.int64)) - _pseudo_header(captures[path]) * len(recs)
        if (len(recs), size) != info:
            wrong.append(f"{path.name}: capinfos {info}, pcapkit {(len(recs), size)}")
    assert wrong == []


def test_files_wireshark_refuses_fail_cleanly(infos: dict[Path, tuple[int, int]]) -> None:
    for path in corpus_captures():
        if path in infos:
            continue
        try:
            read_capture(path)
        except CaptureError as e:
            assert str(path) in str(e) and "\n" not in str(e)


def test_every_frame_agrees_with_tshark(
    infos: dict[Path, tuple[int, int]], captures: dict[Path, Capture], tmp_path: Path
) -> None:
    if shutil.which("mergecap") is None or shutil.which("tshark") is None:
        pytest.skip("mergecap/tshark not installed")
    paths = [p for p in infos if infos[p][0]]
    merged = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-a", "-w", str(merged), *map(str, paths)], check=True)
    out = subprocess.run(
        ["tshark", "-r", str(merged), "--disable-protocol", "ALL", "-T", "fields",
         "-e", "frame.time_epoch", "-e", "frame.cap_len", "-e", "frame.len"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    theirs = [(_ns(t), int(c), int(n)) for t, c, n in (line.split("\t") for line in out)]
    ours = []
    for p in paths:
        recs, cut = captures[p].records, _pseudo_header(captures[p])
        times = [None] * len(recs) if p.name in INVALID_FRACTION else recs.ts_ns.tolist()
        ours += zip(times, (recs.caplen - cut).tolist(), (recs.origlen - cut).tolist(),
                    strict=True)
    assert len(ours) == len(theirs)
    mismatched = [
        (i, a, b) for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
        if a != (b if a[0] is not None else (None, *b[1:]))
    ]
    assert mismatched == []

"""Whole files mangled the ways captures really get mangled — cut anywhere, bytes flipped in the
file and record headers, gzip cut short — through the CLI: always exit 0 (analysed, maybe with
warnings) or 2 (one line naming the file), never an internal error, never a hang."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcapkit.cli.app import run
from tests.conftest import SAMPLES

SEEDS = [SAMPLES / "not_listening" / "pod-client-7c9f8b6d5-h2m4k.pcap",
         SAMPLES / "healthy" / "node-worker-1-multi.pcapng"]
SEED_BYTES = [p.read_bytes()[:6000] for p in SEEDS if p.exists()]


@pytest.mark.skipif(not SEED_BYTES, reason="lab samples not recorded")
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(range(2)), cut=st.integers(0, 6000),
       flips=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
       compress=st.booleans())
def test_mangled_files_exit_0_or_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   seed: int, cut: int, flips: list[tuple[int, int]],
                                   compress: bool) -> None:
    data = bytearray(SEED_BYTES[seed % len(SEED_BYTES)][:cut])
    for pos, value in flips:  # the first 200 bytes hold the file and first record headers
        if pos < len(data):
            data[pos] = value
    raw = bytes(data)
    if compress:
        raw = gzip.compress(raw)[: max(10, len(raw) // 2 + 10)]
    path = tmp_path / "mangled.pcap"
    path.write_bytes(raw)
    status = run(["analyze", str(path), "--format", "json"])
    err = capsys.readouterr().err
    assert status in (0, 2), err
    if status == 2:
        assert len(err.strip().splitlines()) == 1 and str(path) in err

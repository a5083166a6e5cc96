"""`python -m pcapkit.warm` leaves nothing for an analysis to compile: after it, analysing a
large lab capture (other link types, other traffic than its synthetic one), in this process and
on worker processes, as pcap and as pcapng, adds nothing to numba's cache.

Both run against a cache of their own (`NUMBA_CACHE_DIR`), empty at first: the package's
`__pycache__` holds what the rest of the suite compiled, which would hide a kernel the warm-up
missed. So this test compiles every kernel once (~1.5 minutes of one core)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.copies import make
from tests.conftest import REPO, SAMPLES

#: past every size from which a compiled path is taken (`pcapkit.warm`)
PACKETS = 40_000
ANALYSE = """
import sys
import pcapkit
import pcapkit.decode.compiled  # as a process that has decoded a large capture: any size

for path in sys.argv[1:]:
    pcapkit.analyze([path])
    pcapkit.analyze([path], workers=2, chunk_records=15_000)
"""


def _cache(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


@pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap not installed")
def test_after_the_warm_up_an_analysis_compiles_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "pcapkit.warm"], env=env, check=True, timeout=1200)
    warmed = _cache(tmp_path / "numba")
    assert any(p.suffix == ".nbi" for p in warmed)

    pcap = tmp_path / "node.pcap"
    make(SAMPLES / "lossy_underlay" / "node-worker-1-any.pcap", pcap, PACKETS)
    pcapng = tmp_path / "node.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(pcap), str(pcapng)], check=True)
    subprocess.run([sys.executable, "-c", ANALYSE, str(pcap), str(pcapng)], env=env,
                   check=True, timeout=600)
    assert _cache(tmp_path / "numba") == warmed

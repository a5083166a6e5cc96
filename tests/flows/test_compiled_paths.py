"""The per-packet state machines (`pcapkit/flows/compiled.py`) give the same tables compiled by
numba as run as Python: on every lab scenario (captures analysed together) and on the Zeek
corpus, each path forced regardless of size. The Python path is the one checked against tshark
and Zeek by the other flow tests; this makes the compiled path answer for the same facts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pcapkit.decode import decode
from pcapkit.flows import Tables, build_tables
from pcapkit.read import read_capture
from tests.conftest import REPO, SAMPLES, ZEEK_CORPUS, _captures, needs_corpus

SCENARIOS = sorted(p.name for p in SAMPLES.iterdir() if (p / "truth.jsonl").exists())


def _packets(paths: list[Path]) -> pl.DataFrame:
    return pl.concat([decode(read_capture(p), i) for i, p in enumerate(paths)])


def _same(compiled: Tables, plain: Tables) -> None:
    assert_frame_equal(compiled.packets, plain.packets)
    assert_frame_equal(compiled.connections, plain.connections)


@cache
def _corpus_packets() -> list[tuple[str, pl.DataFrame]]:
    out = []
    for path in _captures(ZEEK_CORPUS):
        try:
            packets = decode(read_capture(path))
        except Exception:  # not a capture the reader accepts: other tests cover those
            continue
        if packets["tcp_flags"].is_not_null().any():
            out.append((path.name, packets))
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_lab_scenario_compiled_equals_python(name: str) -> None:
    folder = SAMPLES / name
    packets = _packets(sorted(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng"}))
    compiled, plain = build_tables(packets, compiled=True), build_tables(packets, compiled=False)
    _same(compiled, plain)


@needs_corpus()
@pytest.mark.corpus
def test_zeek_corpus_compiled_equals_python() -> None:
    captures = _corpus_packets()
    assert len(captures) > 50
    for name, packets in captures:
        try:
            _same(build_tables(packets, compiled=True), build_tables(packets, compiled=False))
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from e


def test_compiled_without_a_writable_cache(tmp_path: Path) -> None:
    """No cache directory numba can write to (the package's own `__pycache__` is a file, the
    user's cache is under a file): the kernels are compiled for the process and give the same
    tables. Run on a copy of the package, in a fresh interpreter."""
    copy = tmp_path / "pkg"
    shutil.copytree(REPO / "pcapkit", copy / "pcapkit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "pcapkit" / "flows" / "__pycache__").write_text("not a directory")
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    sample = sorted((SAMPLES / "healthy").glob("*.pcap"))[0]
    script = (
        "import sys; from pcapkit.decode import decode; from pcapkit.read import read_capture\n"
        "from pcapkit.flows import build_tables; from polars.testing import assert_frame_equal\n"
        f"p = decode(read_capture({str(sample)!r}))\n"
        "a, b = build_tables(p, compiled=True), build_tables(p, compiled=False)\n"
        "assert_frame_equal(a.packets, b.packets); assert_frame_equal(a.connections,"
        " b.connections)\n"
        "import pcapkit.flows.compiled as c\n"
        "print(*sorted(type(k._cache).__name__ for k in c._compiled.values()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(copy), "HOME": str(blocker / "home"),
           "XDG_CACHE_HOME": str(blocker / "cache"), "NUMBA_CACHE_DIR": str(blocker / "numba"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # both kernels compiled, neither cached
    assert done.stdout.split() == ["NullCache", "NullCache"]

"""The lab scenarios read in memory and streamed, as the streaming tests compare them (a module
of their own: the tests are spread over files so that `--dist loadfile` runs them side by
side)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pcapkit
from tests.conftest import SAMPLES, as_document

SCENARIOS = sorted(p for p in SAMPLES.iterdir() if (p / "snapshot.json").is_file())


def scenario_captures(scenario: Path) -> list[Path]:
    return sorted(p for p in scenario.iterdir() if p.suffix in {".pcap", ".pcapng"})


@cache
def in_memory(scenario: Path) -> pcapkit.Analysis:
    """The in-memory pipeline's reading of a lab scenario: what every chunking of it is held to
    (made once, not once per chunk size)."""
    return pcapkit.analyze(scenario_captures(scenario), [scenario / "snapshot.json"])


@cache
def in_memory_document(scenario: Path) -> str:
    return as_document(in_memory(scenario))


@cache
def streamed(scenario: Path, chunk: int, shards: int) -> pcapkit.Analysis:
    """A streamed reading of a lab scenario, one worker: its document and its DNS table are
    each held to the in-memory ones by a test of their own."""
    return pcapkit.analyze(scenario_captures(scenario), [scenario / "snapshot.json"], workers=1,
                           chunk_records=chunk, shards=shards)


def streamed_document(scenario: Path, chunk: int, shards: int) -> str:
    return as_document(streamed(scenario, chunk, shards))

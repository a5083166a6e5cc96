"""The lab's scenarios as the store tests use them: captures, snapshot, and the CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli import _cli
from tests.conftest import SAMPLES

SCENARIOS = sorted(p.parent.name for p in SAMPLES.glob("*/snapshot.json"))
needs_scenarios = pytest.mark.skipif(not SCENARIOS, reason="no lab samples recorded yet")


def captures(scenario: str) -> list[Path]:
    folder = SAMPLES / scenario
    return sorted(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng", ".gz"})


def snapshot(scenario: str) -> Path:
    return SAMPLES / scenario / "snapshot.json"


def cli(args: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script as a real subprocess (`tests/cli/test_cli.py`)."""
    return _cli([str(a) for a in args], cwd)

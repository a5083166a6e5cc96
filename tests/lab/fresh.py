"""Recording a lab run afresh for a test (root only), checked clean: no namespace of the run
left behind, and its truth as its scenarios expect."""

from __future__ import annotations

import secrets
from pathlib import Path

from samples.lab import netns, truth
from samples.lab.record import record
from samples.lab.scenarios import SCENARIOS, VARIANTS


def record_fresh(names: list[str], root: Path) -> Path:
    """One run of the scenarios and variants `names` together, into `root`/a+b/."""
    run_id = secrets.token_hex(3)
    known = SCENARIOS | VARIANTS
    folder = record([known[n] for n in names], root / "+".join(names), run_id)
    assert netns.leftovers(netns.PREFIX + run_id + "-") == []
    assert truth.problems(truth.load(folder)) == []
    return folder

"""What recording the lab needs: root and a few tools. Tests that record carry `LAB`."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest

from samples.lab import netns, truth
from samples.lab.record import record
from samples.lab.scenarios import SCENARIOS, VARIANTS

TOOLS = ("ip", "iptables", "tcpdump", "dumpcap")

LAB = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="lab needs root to create network namespaces"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in TOOLS),
        reason=f"lab needs {', '.join(TOOLS)} (make system-deps installs them)",
    ),
]


def recorded(names: list[str], root: Path) -> Path:
    """A fresh run of the scenarios and variants `names`, combined, in `root`: checked to have
    left no namespace behind and to have written consistent truth."""
    run_id = secrets.token_hex(3)
    known = SCENARIOS | VARIANTS
    folder = record([known[n] for n in names], root / "+".join(names), run_id)
    assert netns.leftovers(netns.PREFIX + run_id + "-") == []
    assert truth.problems(truth.load(folder)) == []
    return folder

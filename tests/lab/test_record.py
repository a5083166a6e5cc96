"""Re-record a quick subset of the lab (root only) and check the outcome against the truth, the
captures' link types, that a node's Linux cooked v1 capture gives the symptoms of its SLL2 one,
and that teardown leaves nothing behind, also after Ctrl-C."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from samples.lab import netns, truth
from samples.lab.record import record
from samples.lab.scenarios import SCENARIOS
from tests.conftest import REPO
from tests.lab.captures import expected_link_types, link_types
from tests.lab.cooked import recorded_v1, sll2_twins, symptoms
from tests.lab.needs import LAB

QUICK = ("healthy", "no_endpoints", "not_listening", "nxdomain_storm")
pytestmark = LAB


@pytest.mark.parametrize("name", QUICK)
def test_rerecorded_outcome_matches_the_fault(name: str, tmp_path: Path) -> None:
    run_id = secrets.token_hex(3)
    folder = record([SCENARIOS[name]], tmp_path / name, run_id)
    lines = truth.load(folder)
    assert truth.problems(lines) == []
    captures = sorted(folder.glob("*.pcap*"))
    assert captures
    for capture in captures:
        assert capture.stat().st_size > 24, capture
        assert link_types(capture) == expected_link_types(capture), capture
    snapshot = folder / "snapshot.json"
    v1s = recorded_v1(folder)
    assert len(v1s) == 2 + SCENARIOS[name].dumpcap_any
    for v1 in v1s:
        assert symptoms([v1], snapshot) == symptoms(sll2_twins(v1), snapshot), v1.name
    if name == "nxdomain_storm":
        storms = [t for t in lines if t["kind"] == "lookup" and t["name"] == "checkout.example.net"]
        assert storms and all(len(t["search_expansion"]) == 4 for t in storms)
    assert netns.leftovers(netns.PREFIX + run_id + "-") == []


def test_ctrl_c_tears_everything_down(tmp_path: Path) -> None:
    run_id = secrets.token_hex(3)
    prefix = f"{netns.PREFIX}{run_id}-"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "samples.lab",
            "record",
            "--scenario",
            "policy_drop",
            "--out",
            str(tmp_path),
            "--run-id",
            run_id,
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not any(p.name.startswith(prefix) for p in Path("/run/netns").glob("*")):
            assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
            time.sleep(0.05)
        time.sleep(2)  # mid-build or mid-capture
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert netns.leftovers(prefix) == []

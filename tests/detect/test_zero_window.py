"""zero_window: written captures of a stalled receiver (its zero windows checked against
tshark's `tcp.analysis.zero_window`), and none in the lab's scenarios."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from pcapkit.detect import zero_window
from pcapkit.detect.config import DEFAULT
from tests.conftest import needs_tshark
from tests.detect.tcp_samples import SCENARIOS, run
from tests.flows.tcp_oracles import Seg, table, write_pcap

SYN, ACK = 0x02, 0x10


def _stall(zero_for: float) -> list[Seg]:
    return [
        Seg(0.0, True, SYN, 1000), Seg(0.001, False, SYN | ACK, 5000, 1001),
        Seg(0.002, True, ACK, 1001, 5001), Seg(0.01, True, ACK, 1001, 5001, 100),
        Seg(0.011, False, ACK, 5001, 1101, win=0),
        Seg(0.011 + zero_for / 2, False, ACK, 5001, 1101, win=0),
        Seg(0.011 + zero_for, False, ACK, 5001, 1101, win=400),
        Seg(0.02 + zero_for, True, ACK, 1101, 5001, 100),
    ]


@needs_tshark()
def test_a_long_stall_of_the_server(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "z.pcap", _stall(0.5))
    found = zero_window.detect(table([path]), DEFAULT)
    assert found.height == 1
    extra = json.loads(found["extra"][0])
    assert extra == {"receiver": "server", "stall_s": 0.5, "zero_windows": 2}
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", "tcp.analysis.zero_window", "-T", "fields",
         "-e", "frame.number"], capture_output=True, text=True, check=True,
    ).stdout.split()
    assert [e["frame"] for e in found["evidence"][0]] == [int(f) for f in out]


def test_short_and_rare_is_not_reported(tmp_path: Path) -> None:
    tables = table([write_pcap(tmp_path / "z.pcap", _stall(0.05))])
    assert zero_window.detect(tables, DEFAULT).is_empty()
    often = replace(DEFAULT, zero_window_min_count=2)
    assert zero_window.detect(tables, often).height == 1


@pytest.mark.parametrize("name", SCENARIOS)
def test_none_in_the_lab(name: str) -> None:
    assert run(zero_window, name).is_empty()


def test_only_connections_with_a_zero_window_are_reported(tmp_path: Path) -> None:
    """With both thresholds at 0 every side qualifies, yet a connection that never advertised a
    zero window has nothing to show: the stalled one is reported, as it is when alone."""
    healthy = [replace(s, server=("10.0.0.3", 8080), win=500) for s in _stall(0.5)]
    both = table([write_pcap(tmp_path / "both.pcap",
                             sorted(_stall(0.5) + healthy, key=lambda s: s.t))])
    alone = table([write_pcap(tmp_path / "alone.pcap", _stall(0.5))])
    anything = replace(DEFAULT, zero_window_min_s=0, zero_window_min_count=0)
    found = zero_window.detect(both, anything)
    assert found["server_port"].to_list() == [80]
    assert found["extra"].to_list() == zero_window.detect(alone, anything)["extra"].to_list()

"""Every finding's `wireshark_filter`, run by the real tshark with its `wireshark_decode_as`
flags, shows every evidence frame of the finding, in every capture of each lab scenario.

Extra frames are allowed, and expected: the filter names the client socket, not the finding's
frames, so other packets of that socket match too (a retransmitted connection's SYN-ACK and
ACKs, the other queries of a DNS socket, every DNS packet of a storm's client). What the test
does bound: the filter is narrower than the capture when the capture holds other traffic.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pcapkit.wireshark.decode_as import WIRESHARK_DEFAULTS
from tests.conftest import needs_tshark
from tests.wireshark.lab import SCENARIOS, merged, scenario, tshark_frames

pytestmark = [needs_tshark(), pytest.mark.tshark]


@pytest.mark.parametrize("name", SCENARIOS)
def test_filter_shows_every_evidence_frame(name: str, tmp_path: Path) -> None:
    s = scenario(name)
    path, offsets = merged(s, tmp_path)
    total = sum(c.packets for c in s.analysis.captures)
    for finding in s.symptoms:
        evidence = {offsets[e["capture"]] + e["frame"] for e in finding["evidence"]}  # type: ignore[attr-defined]
        assert finding["wireshark_filter"], finding
        shown = tshark_frames(path, str(finding["wireshark_filter"]),
                              list(finding["wireshark_decode_as"]))  # type: ignore[call-overload]
        missed = evidence - shown
        assert not missed, (f"{finding['kind']} {finding['wireshark_filter']!r}: tshark does "
                            f"not show frames {sorted(missed)[:10]}")
        assert len(shown) < total


def test_filter_needs_the_decode_as_on_the_overlay(tmp_path: Path) -> None:
    """Without the flag, tshark sees 8472 as plain UDP and misses the underlay's copies."""
    s = scenario("stale_endpoint")
    path, offsets = merged(s, tmp_path)
    finding = s.symptoms[0]
    assert finding["wireshark_decode_as"] == ["udp.port==8472,vxlan"]
    evidence = {offsets[e["capture"]] + e["frame"] for e in finding["evidence"]}  # type: ignore[attr-defined]
    bare = tshark_frames(path, str(finding["wireshark_filter"]), [])
    assert evidence - bare


def test_wireshark_defaults_are_tsharks() -> None:
    """The ports `decode_as` leaves out are those the installed tshark decodes by itself."""
    out = subprocess.run(["tshark", "-G", "decodes"], check=True, capture_output=True,
                         text=True).stdout
    table = {(int(port), name) for field, port, name in
             (line.split("\t") for line in out.splitlines() if line.count("\t") == 2)
             if field == "udp.port" and port.isdigit()}
    assert set(WIRESHARK_DEFAULTS.items()) <= table

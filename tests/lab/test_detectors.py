"""The lab as pcapkit's judge: on each sample, `analyze` finds exactly the injected faults' symptoms
(the `symptoms` of the truth's fault lines) and nothing else, and names the failed connections."""

from __future__ import annotations

from typing import Any

import pytest

from pcapkit.api import analyze
from pcapkit.detect import DETECTORS
from samples.lab import truth
from samples.lab.scenarios import SCENARIOS
from tests.conftest import SAMPLES

FAILED = {"refused", "timeout", "error"}
#: symptoms a connection can show and still succeed: loss repaired by retransmission, a
#: frag-needed that path-MTU discovery recovered from, a receiver that stalled for a while
DEGRADED = {"retransmission", "icmp_unreachable", "zero_window"}


def _document(name: str) -> dict[str, Any]:
    folder = SAMPLES / name
    captures = sorted(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng"})
    return analyze(captures, [folder / "snapshot.json"]).to_dict()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_analyze_finds_exactly_the_injected_faults(name: str) -> None:
    lines = truth.load(SAMPLES / name)
    doc = _document(name)
    injected = {kind for t in lines if t["kind"] == "fault" for kind in t["symptoms"]}
    assert injected <= set(DETECTORS), "the lab injects a fault no detector looks for"
    assert {s["kind"] for s in doc["symptoms"]} == injected
    attempts = [t for t in lines if t["kind"] == "attempt"]
    kinds: dict[str, set[str]] = {}
    for s in doc["symptoms"]:
        if s.get("protocol") == "tcp":
            kinds.setdefault(s["client"], set()).add(s["kind"])
    assert set(kinds) <= {a["client"] for a in attempts}
    for a in attempts:
        got = kinds.get(a["client"], set())
        if a["outcome"] in FAILED:  # every failed connection is named, with an injected kind
            assert got & injected, a
        else:  # a connection that worked shows at most how it was degraded, never a failure
            assert got <= injected & DEGRADED, a

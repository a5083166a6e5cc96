"""A finding cites at most `EVIDENCE_FRAMES` frames of each capture, the earliest, and counts
them all: on the lab's storm of NXDOMAIN answers (DNS evidence, `frames_evidence`) and its lossy
underlay's retransmissions (TCP evidence, `tcp_conn.evidence`), several captures each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import pcapkit
from pcapkit.detect import findings, tcp_conn
from tests.conftest import SAMPLES

CAP = 3


def _symptoms(folder: Path, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    captures = sorted(folder.glob("*.pcap")) + sorted(folder.glob("*.pcapng"))
    doc = pcapkit.analyze(captures, snapshots=[folder / "snapshot.json"]).to_dict()
    return {(s["client"], s["server"]): s for s in doc["symptoms"] if s["kind"] == kind}


@pytest.mark.parametrize(("scenario", "kind"), [("nxdomain_storm", "nxdomain_storm"),
                                                ("lossy_underlay", "retransmission")])
def test_the_earliest_frames_of_each_capture(
        scenario: str, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = _symptoms(SAMPLES / scenario, kind)
    # the scenario's evidence is more than CAP frames in some capture, in more than one capture
    assert max(len(ev["frames"]) for s in whole.values() for ev in s["evidence"]) > CAP
    assert max(len(s["evidence"]) for s in whole.values()) > 1
    monkeypatch.setattr(findings, "EVIDENCE_FRAMES", CAP)
    monkeypatch.setattr(tcp_conn, "EVIDENCE_FRAMES", CAP)
    capped = _symptoms(SAMPLES / scenario, kind)
    assert capped.keys() == whole.keys()
    for key, symptom in whole.items():
        assert capped[key]["evidence"] == [{"capture": ev["capture"], "frames": ev["frames"][:CAP]}
                                           for ev in symptom["evidence"]]
        assert capped[key]["count"] == symptom["count"]
        assert (capped[key]["first_ts"], capped[key]["last_ts"]) == (
            symptom["first_ts"], symptom["last_ts"])

"""From a JSON symptom to `pcapkit show --conn`: every symptom about TCP connections names them
(`conns`), and `show --conn` of those ids prints every evidence frame of the symptom, and no
frame tshark's own display filter for the symptom (`wireshark_filter`, the lab's VXLAN port
decoded) leaves out. On every lab scenario, with its snapshot, through the CLI as a script
would call it."""

from __future__ import annotations

import json
import subprocess
from itertools import accumulate
from pathlib import Path

import pytest

from pcapkit.cli.app import run
from tests.conftest import SAMPLES, needs_tshark
from tests.wireshark.lab import SCENARIOS, shown_frames, tshark_frames

#: kinds whose every symptom is about TCP connections, whatever its `protocol` says
ABOUT_CONNECTIONS = {"retransmission", "rst", "unanswered_syn", "zero_window", "dnat_mismatch",
                     "kube_proxy_missing", "external_traffic_local"}

#: the lab's flannel VXLAN port, which tshark does not decode by itself
VXLAN = "udp.port==8472,vxlan"


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert run(list(args)) == 0
    return capsys.readouterr().out


@needs_tshark()
@pytest.mark.tshark
@pytest.mark.parametrize("name", SCENARIOS)
def test_show_conn_prints_each_symptoms_evidence(name: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = SAMPLES / name
    paths = [str(p) for p in sorted(folder.glob("*.pcap")) + sorted(folder.glob("*.pcapng"))]
    given = [*paths, "--k8s", str(folder / "snapshot.json")]
    doc = json.loads(_cli(capsys, "analyze", *given, "--format", "json"))
    # the captures one after the other, for one tshark start per question
    merged = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-a", "-w", str(merged), *paths], check=True,
                   capture_output=True)
    offsets = list(accumulate((c["packets"] for c in doc["captures"]), initial=0))
    by_conn: dict[int, dict[int, list[int]]] = {}
    for symptom in doc["symptoms"]:
        if symptom["kind"] in ABOUT_CONNECTIONS or symptom["protocol"] == "tcp":
            assert symptom.get("conns"), symptom
        # a DNS finding's `conns` are its NodeLocal cache's upstream connections: a part
        # of its evidence only (tests/detect/test_forwarded.py)
        if not symptom.get("conns") or symptom["protocol"] != "tcp":
            continue
        shown: dict[int, set[int]] = {}
        for conn in symptom["conns"]:
            if conn not in by_conn:  # one connection may have several symptoms
                lines = _cli(capsys, "show", *given, "--conn", str(conn),
                             "--dissector", "dpkt").splitlines()
                assert lines[0].startswith(f"pcapkit connection {conn}: ")
                by_conn[conn] = shown_frames(paths, lines[2:])
            for capture, frames in by_conn[conn].items():
                shown.setdefault(capture, set()).update(frames)
        for ev in symptom["evidence"]:
            capture = paths.index(ev["capture"])
            assert set(ev["frames"]) <= shown.get(capture, set()), (symptom, shown)
        theirs = tshark_frames(merged, symptom["wireshark_filter"],
                               [*symptom.get("wireshark_decode_as", []), VXLAN])
        for capture, frames in shown.items():
            outside = {f for f in frames if f + offsets[capture] not in theirs}
            assert not outside, (symptom, paths[capture], sorted(outside))

"""`pcapkit show` and `pcapkit analyze --cross-check` through pyshark and the real tshark, on the
lab scenarios (and `show` through dpkt on the same evidence); and both without tshark when
tshark is asked for: one line, exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

from pcapkit.cli.app import run
from pcapkit.wireshark.evidence import frames_of
from pcapkit.wireshark.show import dissect_frames
from tests.conftest import REPO, SAMPLES, needs_tshark
from tests.wireshark.lab import SCENARIOS, scenario, shown_frames, tshark_frames

#: what each dissector must show of each kind's evidence (application layers included); dpkt
#: has no expert analysis
SHOWN = {
    "tshark": {"icmp_unreachable": "icmp type 3", "nxdomain_storm": "rcode 3",
               "dns_timeout": "dns id", "unanswered_syn": "flags ··········S·",
               "rst": "Connection reset (RST)", "retransmission": "expert: "},
    "dpkt": {"icmp_unreachable": "icmp type ", "nxdomain_storm": "rcode 3 (nxdomain)",
             "dns_timeout": "dns id 0x", "unanswered_syn": "flags SYN", "rst": "RST"},
}


@pytest.mark.parametrize("dissector", [
    pytest.param("tshark", marks=[needs_tshark(), pytest.mark.tshark]), "dpkt"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_show_dissects_every_evidence_frame(name: str, dissector: Literal["tshark", "dpkt"],
                                            ) -> None:
    s = scenario(name)
    paths = [c.path for c in s.analysis.captures]
    for finding in s.symptoms:
        frames = frames_of(finding)
        decode_as = list(finding["wireshark_decode_as"])  # type: ignore[call-overload]
        lines = list(dissect_frames(dissector, paths, frames, decode_as))
        assert shown_frames(paths, lines) == frames
        marker = SHOWN[dissector].get(str(finding["kind"]))
        if marker:
            assert any(marker in line for line in lines), (finding["kind"], lines[:5])


@needs_tshark()
@pytest.mark.tshark
def test_cli_show(capsys: pytest.CaptureFixture[str]) -> None:
    folder = SAMPLES / "nxdomain_storm"
    captures = sorted(str(p) for p in folder.glob("*.pcap"))
    assert run(["show", *captures, "--k8s", str(folder / "snapshot.json"), "-n", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pcapkit symptom 1: nxdomain_storm")
    assert out.splitlines()[1].startswith("dissector: tshark")
    assert "query api.example.com" in out or "query " in out


@needs_tshark()
@pytest.mark.tshark
def test_cross_check_names_the_copies_tshark_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """lossy_underlay: a retransmission pcapkit counts once; tshark, reading each capture
    alone, flags every copy a node's -i any capture holds. The opinion agrees and names those
    copies, which tshark does flag, and which are not evidence."""
    folder = SAMPLES / "lossy_underlay"
    captures = sorted(str(p) for p in folder.glob("*.pcap"))
    assert run(["analyze", *captures, "--k8s", str(folder / "snapshot.json"), "--cross-check",
                "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    symptom = next(s for s in doc["symptoms"] if s["kind"] == "retransmission")
    check = symptom["wireshark_cross_check"]
    assert check["agrees"] is True
    text = check["explanation"]
    copies = re.search(r"copies as retransmissions: .*? counts once \((.*?)\)\.", text)
    assert copies, text
    named = re.findall(r"(\S+\.pcap): frames ([\d, ]+)", copies.group(1))
    assert named and all("-any" in path for path, _ in named)
    evidence = {ev["capture"]: set(ev["frames"]) for ev in symptom["evidence"]}
    for path, numbers in named:
        frames = {int(n) for n in numbers.split(", ")}
        flagged = tshark_frames(Path(path), "tcp.analysis.retransmission",
                                symptom["wireshark_decode_as"])
        assert frames <= flagged
        assert not frames & evidence.get(path, set())


@pytest.mark.parametrize("args", [["show", "-n", "1", "--dissector", "tshark"],
                                  ["analyze", "--cross-check"]])
def test_without_tshark_one_line_and_exit_2(args: list[str]) -> None:
    """tshark asked for and absent (`show` without `--dissector tshark` falls back to dpkt:
    test_dpkt_show.py)."""
    capture = str(next((SAMPLES / "stale_endpoint").glob("pod-*.pcap")))
    env = {"PATH": "/nonexistent", "PYTHONPATH": str(REPO), "HOME": os.environ.get("HOME", "/")}
    done = subprocess.run([sys.executable, "-m", "pcapkit", args[0], capture, *args[1:]],
                          env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "tshark not found" in lines[0]

"""`pcapkit extract` and `Analysis.extract` on every lab scenario, read back by tshark: each
symptom's pcapng holds exactly its evidence frames, byte for byte (tshark's MD5 of each frame),
with their timestamps, lengths on the wire, link types and interface names, and comments that
name the symptom and the original frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcapkit.cli.app import run
from tests.conftest import SAMPLES, needs_tshark
from tests.wireshark.lab import SCENARIOS, merged, scenario, tshark_table

pytestmark = [needs_tshark(), pytest.mark.tshark]

SAME = ["frame.md5_hash", "frame.time_epoch", "frame.len", "frame.cap_len", "frame.encap_type"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_extract_holds_the_evidence_frames(name: str, tmp_path: Path) -> None:
    s = scenario(name)
    path, offsets = merged(s, tmp_path)
    originals = tshark_table(path)
    paths = [c.path for c in s.analysis.captures]
    for number, finding in enumerate(s.symptoms, 1):
        out = tmp_path / f"symptom-{number}.pcapng"
        written = s.analysis.extract(number, out)
        got = tshark_table(out)
        evidence = {(paths[e["capture"]], e["frame"]) for e in finding["evidence"]}  # type: ignore[attr-defined]
        assert written == len(got) == len(evidence)
        seen = set()
        for frame in got:
            head, _, origin = frame["frame.comment"].rpartition(": frame ")
            assert head.startswith(f"pcapkit symptom {number}: {finding['kind']} ")
            number_in, _, capture = origin.partition(" of ")
            seen.add((capture, int(number_in)))
            index = paths.index(capture)
            original = originals[offsets[index] + int(number_in) - 1]
            assert [frame[f] for f in SAME] == [original[f] for f in SAME]
            if original["frame.interface_name"] not in ("", "unknown"):  # mergecap: no name
                assert frame["frame.interface_name"] == original["frame.interface_name"]
            assert frame["frame.interface_description"].endswith(f"from {capture}")
        assert seen == evidence


def test_extract_keeps_pcapng_interface_names(tmp_path: Path) -> None:
    """A dumpcap pcapng's interfaces keep their names (the lab's pcaps have none to keep)."""
    s = scenario("dns_timeout")
    named = [i for i, c in enumerate(s.analysis.captures) if c.format == "pcapng"]
    assert named
    for number, finding in enumerate(s.symptoms, 1):
        if any(e["capture"] in named for e in finding["evidence"]):  # type: ignore[attr-defined]
            out = tmp_path / "named.pcapng"
            s.analysis.extract(number, out)
            names = {f["frame.interface_name"] for f in tshark_table(out)}
            assert names & set(s.analysis.captures[named[0]].interfaces)
            return
    pytest.fail("no symptom with evidence in the pcapng capture")


def test_cli_extract_flow(tmp_path: Path) -> None:
    """`--flow` takes a 5-tuple as a capture saw it: both directions, every capture."""
    folder = SAMPLES / "stale_endpoint"
    captures = sorted(str(p) for p in folder.glob("*.pcap"))
    out = tmp_path / "flow.pcapng"
    assert run(["extract", *captures, "--flow", "tcp 10.244.1.10:40001 10.96.0.50:80",
                "-o", str(out)]) == 0
    frames = tshark_table(out)
    assert frames
    assert all(f["frame.comment"].startswith("pcapkit flow 10.244.1.10:40001-10.96.0.50:80/tcp")
               for f in frames)


def test_cli_extract_wants_one_selection(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    capture = str(next((SAMPLES / "stale_endpoint").glob("pod-*.pcap")))
    assert run(["extract", capture]) == 2
    assert run(["extract", capture, "--finding", "99"]) == 2
    assert run(["extract", capture, "--flow", "tcp nowhere"]) == 2
    assert "--flow" in capsys.readouterr().err

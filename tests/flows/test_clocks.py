"""Capture clocks: a capture whose clock is off by seconds (shifted for real with `editcap -t`)
has its offset found, to within a millisecond, and gives the same findings, paths and places of
death as the captures on one clock. The lab's captures share one clock (network namespaces of
one host), so the offsets found there are the one-way delays: well under a millisecond."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import pcapkit
from pcapkit.flows import clocks
from tests.conftest import SAMPLES
from tests.lab.captures import tshark

SCENARIOS = sorted(p for p in SAMPLES.iterdir() if (p / "snapshot.json").is_file())
pytestmark = pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap not installed")


def _captures(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng"})


def _shifted(folder: Path, into: Path, seconds: dict[str, float]) -> list[Path]:
    """The scenario's captures in `into`, those named in `seconds` shifted by editcap."""
    out = []
    for p in _captures(folder):
        target = into / p.name
        if p.name in seconds:
            subprocess.run(["editcap", "-t", str(seconds[p.name]), str(p), str(target)],
                           check=True, capture_output=True)
        else:
            shutil.copy(p, target)
        out.append(target)
    return out


def _report(captures: list[Path], snapshot: Path, **streaming: Any) -> dict[str, Any]:
    return pcapkit.analyze(captures, [snapshot], **streaming).to_dict()


def _symptoms(doc: dict[str, Any]) -> str:
    """The symptoms with capture paths reduced to file names (the copies live elsewhere)."""
    text = json.dumps(doc["symptoms"], sort_keys=True)
    for c in doc["captures"]:
        text = text.replace(json.dumps(c["path"]), json.dumps(Path(c["path"]).name))
    return text


def test_lab_offsets_are_delays() -> None:
    folder = SAMPLES / "policy_drop"
    doc = _report(_captures(folder), folder / "snapshot.json")
    offsets = [c["clock_offset_s"] for c in doc["captures"]]
    assert offsets[0] == 0
    assert all(o is not None and abs(o) < 1e-3 for o in offsets), offsets


def test_shift_by_editcap_is_found(tmp_path: Path) -> None:
    """The brief's test: one capture 3.7 s ahead; its offset is found to within 1 ms, and the
    findings (with their paths and places of death) are those of the unshifted captures."""
    folder = SAMPLES / "policy_drop"
    name = "node-worker-2-any.pcap"
    shifted = _report(_shifted(folder, tmp_path, {name: 3.7}), folder / "snapshot.json")
    plain = _report(_captures(folder), folder / "snapshot.json")
    offset = {Path(c["path"]).name: c["clock_offset_s"] for c in shifted["captures"]}
    assert offset[name] == pytest.approx(3.7, abs=1e-3)
    assert _symptoms(shifted) == _symptoms(plain)
    streamed = _report(_shifted(folder, tmp_path, {name: 3.7}), folder / "snapshot.json",
                       workers=1, chunk_records=11, shards=3)
    assert streamed["captures"] == shifted["captures"]
    assert _symptoms(streamed) == _symptoms(plain)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_shifted_captures_give_the_same_findings(scenario: Path, tmp_path: Path) -> None:
    """Every capture but the first off by a different few seconds, some behind, some ahead."""
    plain = _report(_captures(scenario), scenario / "snapshot.json")
    names = [Path(c["path"]).name for c in plain["captures"]]
    seconds = {n: (-1) ** i * (1.25 + 0.9 * i) for i, n in enumerate(names) if i}
    shifted = _report(_shifted(scenario, tmp_path, seconds), scenario / "snapshot.json")
    for c, p in zip(shifted["captures"], plain["captures"], strict=True):
        assert (c["clock_offset_s"] is None) == (p["clock_offset_s"] is None), c["path"]
        if p["clock_offset_s"] is not None:
            expected = p["clock_offset_s"] + seconds.get(Path(c["path"]).name, 0)
            assert c["clock_offset_s"] == pytest.approx(expected, abs=1e-6), c["path"]
    assert _symptoms(shifted) == _symptoms(plain)


def _dns_messages(path: Path) -> set[tuple[str, ...]]:
    """tshark's reading: each DNS message's innermost addresses, ports, IP id and DNS id."""
    port = 4789 if path.parent.name == "vxlan_4789" else 8472
    rows = tshark(path, "dns && udp", "ip.src", "udp.srcport", "ip.dst", "udp.dstport", "ip.id",
                  "dns.id", vxlan_port=port)
    return {tuple(f.split(",")[-1] for f in row) for row in rows}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
def test_a_capture_sharing_a_dns_message_has_an_offset(scenario: Path) -> None:
    """A capture that shares only DNS messages with the others (a pod that sent a few queries,
    a node its queries crossed) is put on the first capture's clock all the same: tshark says
    which captures saw the same message, and every capture linked so to the first has an
    offset."""
    captures = _captures(scenario)
    messages = [_dns_messages(p) for p in captures]
    linked, grew = {0}, True
    while grew:
        more = {i for i, m in enumerate(messages)
                if i not in linked and any(m & messages[j] for j in linked)}
        linked |= more
        grew = bool(more)
    doc = _report(captures, scenario / "snapshot.json")
    offsets = [c["clock_offset_s"] for c in doc["captures"]]
    assert [i for i in sorted(linked) if offsets[i] is None] == []


def _packets(scenario: str) -> pl.DataFrame:
    folder = SAMPLES / scenario
    packets = pcapkit.analyze(_captures(folder), [folder / "snapshot.json"]).packets
    assert packets is not None
    return packets


def _sorted(sights: pl.DataFrame) -> pl.DataFrame:
    return sights.sort(pl.all(), nulls_last=True)


@pytest.mark.parametrize("most", [3, 8, 25])
def test_bounded_sightings_do_not_depend_on_chunks(monkeypatch: pytest.MonkeyPatch,
                                                   most: int) -> None:
    """Each capture keeps at most `most` sightings, the deepest (`_depth`) of those sampling
    found, as few levels dropped as fit; merged from chunks of any size, in any order, they are
    those of the whole."""
    packets = _packets("healthy")
    unbounded = clocks.sightings(packets).with_columns(depth=clocks._depth())
    monkeypatch.setattr(clocks, "MOST_SIGHTINGS", most)
    whole = clocks.sightings(packets)
    assert whole.height < unbounded.height  # the bound bites on this sample
    for capture, rows in unbounded.group_by("capture"):
        kept = whole.filter(pl.col("capture") == capture[0])
        assert kept.height <= most
        floor = int(kept["floor"].max() or 0) if kept.height else 1 << 10
        # the kept rows are every row that deep or deeper, and one level less would not fit
        assert _sorted(kept.drop("floor")).equals(
            _sorted(rows.filter(pl.col("depth") >= floor).drop("depth", "floor")))
        if floor:
            assert rows.filter(pl.col("depth") >= floor - 1).height > most
        else:
            assert rows.height <= most
    for size in (1, 7, 64, 500):
        parts = [clocks.sightings(packets.slice(i, size)) for i in range(0, packets.height, size)]
        assert _sorted(clocks.merge_sightings(parts)).equals(_sorted(whole)), size
        assert _sorted(clocks.merge_sightings(parts[::-1])).equals(_sorted(whole)), size


def test_offset_found_from_few_sightings(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    """A capture 3.7 s ahead, each capture keeping 6 sightings at most: its offset is still
    found to within 1 ms, in memory and streamed alike."""
    folder = SAMPLES / "policy_drop"
    name = "node-worker-2-any.pcap"
    monkeypatch.setattr(clocks, "MOST_SIGHTINGS", 6)
    shifted = _shifted(folder, tmp_path, {name: 3.7})
    doc = _report(shifted, folder / "snapshot.json")
    offset = {Path(c["path"]).name: c["clock_offset_s"] for c in doc["captures"]}
    assert offset[name] == pytest.approx(3.7, abs=1e-3)
    streamed = _report(shifted, folder / "snapshot.json", workers=1, chunk_records=11, shards=3)
    assert streamed["captures"] == doc["captures"]

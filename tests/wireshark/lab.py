"""A lab scenario analysed, and its captures joined into one file for tshark (which starts
slowly, ~0.3 s: one file is one start per question instead of one per capture)."""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pcapkit
from tests.conftest import SAMPLES

SCENARIOS = sorted(p.parent.name for p in SAMPLES.glob("*/snapshot.json"))


@dataclass(frozen=True)
class Scenario:
    name: str
    captures: list[Path]
    analysis: pcapkit.Analysis

    @property
    def symptoms(self) -> list[dict[str, object]]:
        return list(self.analysis.symptoms.iter_rows(named=True))


@functools.cache
def scenario(name: str) -> Scenario:
    folder = SAMPLES / name
    captures = sorted(folder.glob("*.pcap")) + sorted(folder.glob("*.pcapng"))
    return Scenario(name, captures, pcapkit.analyze(captures, [folder / "snapshot.json"]))


def shown_frames(paths: list[str], lines: list[str]) -> dict[int, list[int]]:
    """The frame numbers `show`'s lines give, by capture index: a line naming a capture's path,
    then a line per frame (`  frame N ...`)."""
    shown: dict[int, list[int]] = {}
    capture = -1
    for line in lines:
        if not line.startswith("  "):
            capture = paths.index(line)
        else:
            shown.setdefault(capture, []).append(int(line.split()[1]))
    return shown


def merged(s: Scenario, folder: Path) -> tuple[Path, list[int]]:
    """The scenario's captures one after the other (`mergecap -a`), and the frame number each
    capture's frames are shifted by there."""
    out = folder / f"{s.name}.pcapng"
    subprocess.run(["mergecap", "-a", "-w", str(out), *map(str, s.captures)], check=True,
                   capture_output=True)
    offsets, total = [], 0
    for info in s.analysis.captures:
        offsets.append(total)
        total += info.packets
    return out, offsets


def tshark_frames(path: Path, display_filter: str, decode_as: list[str]) -> set[int]:
    """The frame numbers tshark shows for `display_filter`."""
    flags = [arg for d in decode_as for arg in ("-d", d)]
    out = subprocess.run(["tshark", "-r", str(path), *flags, "-Y", display_filter, "-T",
                          "fields", "-e", "frame.number"],
                         check=True, capture_output=True, text=True).stdout
    return {int(line) for line in out.split()}


#: what tshark says of each frame, to compare an extracted packet with its original
FRAME_FIELDS = ["frame.number", "frame.md5_hash", "frame.time_epoch", "frame.len",
                "frame.cap_len", "frame.encap_type", "frame.interface_name",
                "frame.interface_description", "frame.comment"]


def tshark_table(path: Path) -> list[dict[str, str]]:
    """`FRAME_FIELDS` of every frame of `path`, as tshark reads them."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-o", "frame.generate_md5_hash:TRUE", "-T", "fields",
         "-E", "occurrence=f", *(a for f in FRAME_FIELDS for a in ("-e", f))],
        check=True, capture_output=True, text=True).stdout
    return [dict(zip(FRAME_FIELDS, line.split("\t"), strict=True))
            for line in out.splitlines()]

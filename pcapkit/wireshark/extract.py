"""Evidence packets into one pcapng file for Wireshark: a finding's frames, or one flow's
(`flows`), from every capture of the incident, with their original bytes, link types and
interface names, each packet's comment naming what it is evidence of and where it came from.

Packets are written in timestamp order (each capture's own clock, as recorded), so that a
packet's copies from a pod, its node and the underlay sit side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pcapkit.errors import UsageError
from pcapkit.read import read_capture
from pcapkit.version import __version__
from pcapkit.wireshark.evidence import take_frames
from pcapkit.wireshark.pcapng import Interface, Packet, write_pcapng


def extract_frames(paths: Sequence[str], frames: Mapping[int, Sequence[int]], output: str | Path,
                   label: str) -> int:
    """Write `frames` (1-based frame numbers by index into `paths`) to the pcapng `output`, each
    packet commented `label: frame N of PATH`; returns the packets written."""
    interfaces: list[Interface] = []
    slot: dict[tuple[int, int], int] = {}  # (capture, its interface) -> interface written
    packets: list[tuple[int, int, int, Packet]] = []
    for index, numbers in sorted(frames.items()):
        capture = take_frames(read_capture(paths[index]), numbers)
        records = capture.records
        for i in range(len(records)):
            key = (index, int(records.iface[i]))
            if key not in slot:
                original = capture.interfaces[key[1]]
                slot[key] = len(interfaces)
                interfaces.append(Interface(
                    original.link_type, original.name,
                    f"{original.description}, from {paths[index]}" if original.description
                    else f"from {paths[index]}", original.snaplen))
            frame = int(records.frame[i])
            packets.append((int(records.ts_ns[i]), index, frame, Packet(
                slot[key], int(records.ts_ns[i]), capture.packet(i), int(records.origlen[i]),
                f"{label}: frame {frame} of {paths[index]}")))
    packets.sort(key=lambda p: p[:3])
    try:
        with open(output, "wb") as out:
            return write_pcapng(out, interfaces, (p[3] for p in packets),
                                f"pcapkit {__version__}")
    except OSError as e:
        raise UsageError(f"{output}: cannot write the pcapng: {e.strerror or e}") from None

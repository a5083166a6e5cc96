"""What the lab tests read from a capture: its link types (from the file headers) and tshark's
view of it (an independent oracle for what the truth claims)."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
PCAPNG_SHB, PCAPNG_IDB = 0x0A0D0D0A, 0x00000001
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\x3c\x4d": ">",
}


def link_types(path: Path) -> set[int]:
    """Every link type declared in a pcap header or a pcapng file's interface blocks."""
    data = path.read_bytes()
    if data[:4] in PCAP_MAGICS:
        return {struct.unpack(PCAP_MAGICS[data[:4]] + "I", data[20:24])[0]}
    order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    found, offset = set(), 0
    while offset + 12 <= len(data):
        kind, length = struct.unpack(order + "II", data[offset : offset + 8])
        if kind == PCAPNG_IDB:
            found.add(struct.unpack(order + "H", data[offset + 8 : offset + 10])[0])
        offset += length
    return found


def expected_link_types(path: Path) -> set[int]:
    """The link types the lab's vantage points give: Ethernet NICs, SLL2 for `-i any`, v1 for
    `-i any` asked as LINUX_SLL (`-any-v1`) and in `dumpcap -i eth0 -i any` (`-dumpcap`)."""
    if path.suffix == ".pcapng":
        cooked = LINKTYPE_LINUX_SLL if path.stem.endswith("-dumpcap") else LINKTYPE_LINUX_SLL2
        return {LINKTYPE_ETHERNET, cooked}
    if path.stem.endswith("-any-v1"):
        return {LINKTYPE_LINUX_SLL}
    return {LINKTYPE_LINUX_SLL2} if path.stem.endswith("-any") else {LINKTYPE_ETHERNET}


def tshark(
    path: Path, display_filter: str, *fields: str, vxlan_port: int = 8472
) -> list[list[str]]:
    """The fields of every frame matching `display_filter`, VXLAN decoded on `vxlan_port`."""
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed")
    args = [
        "tshark",
        "-n",
        "-r",
        str(path),
        "-d",
        f"udp.port=={vxlan_port},vxlan",
        "-Y",
        display_filter,
        "-T",
        "fields",
    ]
    for field in fields or ("frame.number",):
        args += ["-e", field]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]

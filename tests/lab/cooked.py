"""Linux cooked captures, v1 from v2: what `dumpcap -i any` would have written of the packets a
`tcpdump -i any -y LINUX_SLL2` capture holds, and the symptoms pcapkit finds in a capture.

libpcap fills either header from the same `sockaddr_ll` the kernel gives it: v2 (20 bytes:
protocol, reserved, interface index, ARPHRD type, packet type, address length, address) and v1
(16 bytes: packet type, ARPHRD type, address length, address, protocol) hold the same fields
but the interface index. Rewriting the header gives the v1 capture of exactly the same packets.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from pcapkit.api import analyze

LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2 = 113, 276
PCAP_ORDER = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<",
              b"\xa1\xb2\x3c\x4d": ">"}
#: what two analyses must agree on, per symptom
SAME = ("kind", "severity", "client", "server", "protocol", "count")


def v1_from_v2(source: Path, out: Path) -> Path:
    """`out`: the pcap `source` (LINUX_SLL2) with every cooked header rewritten as v1."""
    data = source.read_bytes()
    order = PCAP_ORDER[data[:4]]
    header = bytearray(data[:24])
    assert struct.unpack_from(order + "I", header, 20)[0] & 0xFFFF == LINKTYPE_LINUX_SLL2
    struct.pack_into(order + "I", header, 20, LINKTYPE_LINUX_SLL)
    parts, offset = [bytes(header)], 24
    while offset + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from(order + "IIII", data, offset)
        packet = data[offset + 16 : offset + 16 + incl]
        offset += 16 + incl
        protocol, _, _ifindex, hatype, pkttype, halen = struct.unpack_from(">HHiHBB", packet)
        cooked = struct.pack(">HHH8sH", pkttype, hatype, halen, packet[12:20], protocol)
        parts.append(struct.pack(order + "IIII", sec, frac, incl - 4, orig - 4))
        parts.append(cooked + packet[20:])
    out.write_bytes(b"".join(parts))
    return out


def recorded_v1(folder: Path) -> list[Path]:
    """The lab's v1 captures in `folder`: each node's `-i any` taken as v1, and `dumpcap -i eth0
    -i any` (v1 as dumpcap takes `any` unasked)."""
    return sorted([*folder.glob("node-*-any-v1.pcap"), *folder.glob("node-*-dumpcap.pcapng")])


def sll2_twins(v1: Path) -> list[Path]:
    """The SLL2 captures taken at the same time as the lab's v1 capture `v1`, of the same
    interfaces: the node's `-i any` (and, for the dumpcap pcapng, its eth0)."""
    node = v1.name.rpartition("-any-v1.pcap")[0] or v1.name.rpartition("-dumpcap.pcapng")[0]
    eth0 = [v1.with_name(f"{node}-eth0.pcap")] if v1.suffix == ".pcapng" else []
    return [v1.with_name(f"{node}-any.pcap"), *eth0]


def symptoms(captures: list[Path], snapshot: Path) -> list[tuple[Any, ...]]:
    """The symptoms of an analysis, as the fields two vantages of one incident share."""
    doc = analyze(captures, [snapshot]).to_dict()
    return sorted(
        (*(s.get(k) for k in SAME), tuple(sorted((s.get("k8s") or {}).items())))
        for s in doc["symptoms"]
    )

"""The in-Python contestants, each run by `bench.run` as its own process:

    python -m bench.loops decode|dpkt|scapy|pyshark FILE [PACKETS]

Each reads FILE (the first PACKETS packets only, if given) and prints, on stdout, the packets it
went through and the seconds its loop took (after imports), so that a slice can be extrapolated
without the interpreter's start-up.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path


def pcapkit_decode(path: Path, limit: int | None) -> int:
    """pcapkit's read and decode stages alone: the packet table in chunks, each dropped."""
    from pcapkit.decode import decode_file

    _, frames = decode_file(path)
    return sum(frame.height for frame in frames)


def dpkt_loop(path: Path, limit: int | None) -> int:
    """What a hand-written dpkt script does: parse each packet down to its TCP/UDP ports."""
    import dpkt

    count = ports = 0
    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        parse = {276: dpkt.sll2.SLL2, 113: dpkt.sll.SLL}.get(reader.datalink(),
                                                             dpkt.ethernet.Ethernet)
        for _ts, buf in reader:
            count += 1
            try:
                ip = parse(buf).data
            except dpkt.UnpackError:
                continue
            l4 = getattr(ip, "data", None)
            if isinstance(l4, dpkt.tcp.TCP | dpkt.udp.UDP):
                ports += l4.sport ^ l4.dport
    return count


def scapy_loop(path: Path, limit: int | None) -> int:
    """scapy's streaming reader (each packet dissected into layers as it is read)."""
    import scapy.layers.all  # noqa: F401  (binds the link types: without it, SLL2 is Raw)
    from scapy.utils import PcapReader

    count = 0
    with PcapReader(str(path)) as reader:
        for _packet in reader:
            count += 1
            if count == limit:
                break
    return count


def pyshark_loop(path: Path, limit: int | None) -> int:
    """pyshark's FileCapture without keeping packets (tshark dissects, Python parses its XML)."""
    import pyshark

    count = 0
    capture = pyshark.FileCapture(str(path), keep_packets=False)
    try:
        for _packet in capture:
            count += 1
            if count == limit:
                break
    finally:
        capture.close()
    return count


LOOPS: dict[str, Callable[[Path, int | None], int]] = {
    "decode": pcapkit_decode, "dpkt": dpkt_loop, "scapy": scapy_loop, "pyshark": pyshark_loop,
}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    loop, path = LOOPS[args[0]], Path(args[1])
    limit = int(args[2]) if len(args) > 2 else None
    start = time.perf_counter()
    count = loop(path, limit)
    print(count, time.perf_counter() - start)


if __name__ == "__main__":
    main()

"""Measure, in one run on one capture, packets per second of:

(a) pcapkit read + fast decode, (b) pcapkit's whole `analyze`, (c) a plain dpkt loop down to the
TCP/UDP ports, (d) `tshark -q -z expert`, (e) `tcpdump -r FILE -w /dev/null` (libpcap's bare
read loop), (f) the reference decoder on a 20k-packet slice.

The process is pinned to one core and polars to one thread, so (a), (b) and (c) are one-core
figures; the in-process ones are the best of 3 runs (`time.perf_counter`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dpkt

from pcapkit.decode import decode
from pcapkit.decode.fast import decode_fast_stats
from pcapkit.read import read_capture

REPO = Path(__file__).resolve().parent.parent
DEFAULT = REPO / "bench" / "data" / "node-any.pcap"
REFERENCE_SLICE = 20_000
RUNS = 3


def best_of(f: Callable[[], object], runs: int = RUNS) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - start)
    return best


def once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def dpkt_loop(path: Path) -> int:
    """What a hand-written dpkt script does: parse each packet down to its TCP/UDP ports."""
    ports = 0
    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        parse = dpkt.sll2.SLL2 if reader.datalink() == 276 else dpkt.ethernet.Ethernet
        for _ts, buf in reader:
            try:
                ip = parse(buf).data
            except dpkt.UnpackError:
                continue
            l4 = getattr(ip, "data", None)
            if isinstance(l4, dpkt.tcp.TCP | dpkt.udp.UDP):
                ports += l4.sport ^ l4.dport
    return ports


def ensure_capture(path: Path) -> None:
    if path.exists() or path != DEFAULT:
        return
    print(f"recording {path} with the lab (root, network namespaces)…", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "samples.lab", "bench", str(path)], check=True,
                   cwd=REPO)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("capture", type=Path, nargs="?", default=DEFAULT)
    args = parser.parse_args(argv)
    path: Path = args.capture
    ensure_capture(path)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    capture = read_capture(path)
    n = len(capture.records)
    _, stats = decode_fast_stats(capture)
    rows: list[tuple[str, int, float | None, str]] = []
    rows.append(("(a) pcapkit read + decode (fast)", n,
                 best_of(lambda: decode(read_capture(path))),
                 f"{stats.vectorised} rows vectorised, {stats.deferred} deferred"))
    try:
        from pcapkit.api import analyze
    except ImportError:
        rows.append(("(b) pcapkit analyze", n, None, "pcapkit.api not available"))
    else:
        rows.append(("(b) pcapkit analyze", n, best_of(lambda: analyze([path])), ""))
    rows.append(("(c) dpkt loop to TCP/UDP ports", n, best_of(lambda: dpkt_loop(path)), ""))
    rows.append(("(d) tshark -q -z expert", n, once(["tshark", "-q", "-z", "expert", "-r",
                                                     str(path)]), "one run"))
    rows.append(("(e) tcpdump -r FILE -w /dev/null", n,
                 once(["tcpdump", "-r", str(path), "-w", "/dev/null"]), "one run"))
    part = dataclasses.replace(capture, records=capture.records.take(slice(0, REFERENCE_SLICE)))
    rows.append((f"(f) reference decoder, first {len(part.records)}", len(part.records),
                 best_of(lambda: decode(part, engine="reference"), 1), "one run"))
    print(f"{path}: {n} packets, one core\n")
    print(f"{'measure':42} {'packets':>9} {'seconds':>8} {'packets/s':>11}  note")
    rates: dict[str, float] = {}
    for name, count, seconds, note in rows:
        if seconds is None:
            print(f"{name:42} {count:>9} {'-':>8} {'-':>11}  {note}")
            continue
        rates[name[:3]] = count / seconds
        print(f"{name:42} {count:>9} {seconds:>8.3f} {count / seconds:>11,.0f}  {note}")
    print(f"\npcapkit (a) / dpkt (c): {rates['(a)'] / rates['(c)']:.1f}x; "
          f"pcapkit (a) / tshark (d): {rates['(a)'] / rates['(d)']:.1f}x")

"""Measure, in one run on one capture, packets per second of:

(a) pcapkit read + decode with the engine `decode` picks, and with each fast engine forced:
(a1) the compiled kernel, (a2) the numpy vectorised layers, plus (a3) the compiled kernel's
start-up in a fresh process (import numba, load the cached kernel, decode 1 packet);
(b) pcapkit's whole `analyze`, (c) a plain dpkt loop down to the TCP/UDP ports,
(d) `tshark -q -z expert`, (e) `tcpdump -r FILE -w /dev/null` (libpcap's bare read loop),
(f) the reference decoder on a 20k-packet slice.

The process is pinned to one core and polars to one thread, so (a), (b) and (c) are one-core
figures; the in-process ones are the best of 5 runs (`time.perf_counter`), the machine's load
average is printed with them.
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

from pcapkit.decode import COMPILED_FROM, decode, decoder
from pcapkit.decode.compiled import decode_compiled_stats
from pcapkit.decode.fast import decode_fast_stats
from pcapkit.read import read_capture

REPO = Path(__file__).resolve().parent.parent
DEFAULT = REPO / "bench" / "data" / "node-any.pcap"
REFERENCE_SLICE = 20_000
RUNS = 5


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


#: a fresh process decoding the first records with one engine (the read stage imports numba
#: for files above 4 MB: numba is imported before the timed part, and its import timed apart)
STARTUP = """
import sys, time
from pcapkit.decode import decode
from pcapkit.read import read_capture
start = time.perf_counter()
import numba
imported = time.perf_counter()
capture = read_capture(sys.argv[1])
capture.records = capture.records.take(slice(0, 1000))
read = time.perf_counter()
decode(capture, engine=sys.argv[2])
print(imported - start, time.perf_counter() - read)
"""


def startup(path: Path) -> float:
    """The compiled kernel's start-up in a fresh process: importing numba, plus how much longer
    the first 1,000 records take to decode with it (kernel loaded from its cache) than with
    the numpy layers; best of 3."""
    def run(engine: str) -> tuple[float, float]:
        out = subprocess.run([sys.executable, "-c", STARTUP, str(path), engine], check=True,
                             cwd=REPO, capture_output=True, text=True).stdout.split()
        return float(out[-2]), float(out[-1])
    compiled = [run("compiled") for _ in range(3)]
    fast = min(run("fast")[1] for _ in range(3))
    return min(numba + first for numba, first in compiled) - fast


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
    fresh = "compiled" if n >= COMPILED_FROM else "fast"
    _, compiled = decode_compiled_stats(capture)  # compiled (or loaded from its cache) first
    _, vectorised = decode_fast_stats(capture)
    engine = decoder("auto", n).__name__
    rows: list[tuple[str, int, float | None, str]] = []
    rows.append(("(a) pcapkit read + decode", n, best_of(lambda: decode(read_capture(path))),
                 f"engine: {engine} (a fresh process: {fresh})"))
    rows.append(("(a1) read + decode, compiled kernel", n,
                 best_of(lambda: decode_compiled_stats(read_capture(path))),
                 f"{compiled.deferred} rows deferred to the reference decoder"))
    rows.append(("(a2) read + decode, numpy layers", n,
                 best_of(lambda: decode_fast_stats(read_capture(path))),
                 f"{vectorised.deferred} rows deferred to the reference decoder"))
    rows.append(("(a3) compiled kernel start-up", 0, startup(path),
                 "fresh process: import numba, first call (cached kernel)"))
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
    print(f"{path}: {n} packets, one core, load average {os.getloadavg()[0]:.2f}\n")
    print(f"{'measure':42} {'packets':>9} {'seconds':>8} {'packets/s':>11}  note")
    rates: dict[str, float] = {}
    for name, count, seconds, note in rows:
        if seconds is None:
            print(f"{name:42} {count:>9} {'-':>8} {'-':>11}  {note}")
            continue
        if not count:
            print(f"{name:42} {'':>9} {seconds:>8.3f} {'':>11}  {note}")
            continue
        rates[name.split()[0]] = count / seconds
        print(f"{name:42} {count:>9} {seconds:>8.3f} {count / seconds:>11,.0f}  {note}")
    print(f"\npcapkit (a) / dpkt (c): {rates['(a)'] / rates['(c)']:.1f}x; "
          f"pcapkit (a) / tshark (d): {rates['(a)'] / rates['(d)']:.1f}x; "
          f"pcapkit (a) / tcpdump (e): {rates['(a)'] / rates['(e)']:.2f}x; "
          f"analyze (b) / tshark (d): {rates.get('(b)', 0) / rates['(d)']:.1f}x")

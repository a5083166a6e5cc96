"""`python -m pcapkit.warm`: every numba kernel compiled into numba's cache now, ahead of the
first large capture.

numba compiles a kernel the first time a process runs it and caches the machine code on disk
(`pcapkit/decode/compiled/jit.py`, `pcapkit/flows/compiled.py`): after an install, the first
capture large enough to take the compiled paths waits ~1-2 minutes for it, and processes that
start together (the worker pool, or pytest's workers) each compile it at once. Run this where
the cost is expected instead: at the end of a container image's build (`RUN python -m
pcapkit.warm`), or by `make` before the tests.

The kernels are compiled as the analysis runs them, with the very argument types it passes
(numba caches per signature: a read-only buffer or an array that came through a worker's pipe
is a signature of its own), by analysing a synthetic capture large enough for every compiled
path: in this process and on worker processes, as pcap and as pcapng. Already cached, this
takes a few seconds.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from pcapkit import analyze
from pcapkit.codes import LinkType, TcpFlags
from pcapkit.decode.compiled import link
from pcapkit.flows.search_path import SearchPath, walk
from pcapkit.read import scan_capture
from pcapkit.read.pcap import layout
from pcapkit.read.ranges import FILE_HEADER_LEN, walk_range
from pcapkit.read.walk import JIT_THRESHOLD_BYTES, find_records, walker
from pcapkit.wireshark.pcapng import Interface, Packet, write_pcapng

#: TCP connections of the synthetic capture, a handshake, two data segments and a FIN each:
#: past `pcapkit.flows.compiled.JIT_THRESHOLD_ROWS` rows of TCP
CONNECTIONS = 6_000
#: payload of its data segments: the file past `pcapkit.read.pcapng.COMPILED_FROM_BYTES`
PAYLOAD = 256
CHUNK_RECORDS = 10_000  #: the streamed runs' chunks: several per worker

_ETHERNET = bytes.fromhex("0200000000020200000000010800")
_SYN, _ACK = TcpFlags.SYN, TcpFlags.ACK
_SYN_ACK, _PSH_ACK, _FIN_ACK = _SYN | _ACK, TcpFlags.PSH | _ACK, TcpFlags.FIN | _ACK


def _ipv4(src: bytes, dst: bytes, proto: int, payload: bytes) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0,
                       src, dst) + payload


def _tcp(sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + data


def _dns(client: int, answer: bool) -> bytes:
    """A query for a cluster name (the `ndots:5` search path's first try), or its NXDOMAIN."""
    name = b"".join(bytes([len(p)]) + p for p in b"api.default.svc.cluster.local".split(b"."))
    flags = 0x8183 if answer else 0x0100
    message = struct.pack("!HHHHHH", client & 0xFFFF, flags, 1, 0, 0, 0) + name + b"\0\0\1\0\1"
    ports = (53, client) if answer else (client, 53)
    return struct.pack("!HHHH", *ports, 8 + len(message), 0) + message


def packets() -> list[bytes]:
    """The synthetic capture's Ethernet frames, in order: per connection a DNS lookup, then
    the connection."""
    client, server = bytes([10, 244, 1, 5]), bytes([10, 244, 2, 7])
    resolver = bytes([10, 96, 0, 10])
    data = bytes(PAYLOAD)
    frames = []
    for i in range(CONNECTIONS):
        port = 20_000 + i
        frames += [
            _ETHERNET + _ipv4(client, resolver, 17, _dns(port, answer=False)),
            _ETHERNET + _ipv4(resolver, client, 17, _dns(port, answer=True)),
        ]
        segments = [
            (True, 1, 0, _SYN, b""), (False, 7, 2, _SYN_ACK, b""), (True, 2, 8, _ACK, b""),
            (True, 2, 8, _PSH_ACK, data), (False, 8, 2 + PAYLOAD, _PSH_ACK, data),
            (True, 2 + PAYLOAD, 8 + PAYLOAD, _FIN_ACK, b""),
        ]
        for outbound, seq, ack, flags, payload in segments:
            ends = (client, server, port, 8080) if outbound else (server, client, 8080, port)
            tcp = _tcp(ends[2], ends[3], seq, ack, flags, payload)
            frames.append(_ETHERNET + _ipv4(ends[0], ends[1], 6, tcp))
    return frames


def _ts_ns(i: int) -> int:
    """The `i`th frame's time: a millisecond apart."""
    return 1_700_000_000 * 10**9 + i * 10**6


def as_pcap(path: Path, frames: list[bytes]) -> Path:
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, LinkType.EN10MB))
        for i, frame in enumerate(frames):
            seconds, ns = divmod(_ts_ns(i), 10**9)
            f.write(struct.pack("<IIII", seconds, ns // 1000, len(frame), len(frame)) + frame)
    return path


def as_pcapng(path: Path, frames: list[bytes]) -> Path:
    with path.open("wb") as f:
        write_pcapng(f, [Interface(LinkType.EN10MB)],
                     (Packet(0, _ts_ns(i), frame, len(frame)) for i, frame in enumerate(frames)))
    return path


def warm() -> None:
    """Every kernel compiled into numba's cache (loaded from it when it is there already)."""
    link()  # once the kernel has run, `auto` decodes with it at any size

    frames = packets()
    with tempfile.TemporaryDirectory(prefix="pcapkit-warm-") as folder:
        pcap = as_pcap(Path(folder) / "warm.pcap", frames)
        _walks(pcap)
        for capture in (pcap, as_pcapng(Path(folder) / "warm.pcapng", frames)):
            analyze([capture])
            for workers in (1, 2):
                analyze([capture], workers=workers, chunk_records=CHUNK_RECORDS)
    _search_walk()


def _walks(path: Path) -> None:
    """The walks of a large pcap file, compiled: a worker's of a range of it
    (`pcapkit.read.ranges`), on its mapped bytes (read-only: a signature of their own), and
    this process's of the copies it reads of a file it walks whole (`pcapkit.read.walk`): the
    runs below walk this file in pieces too small for either."""
    capture, _ = scan_capture(path)
    shape = layout(capture)
    buf = np.frombuffer(capture.buffer, np.uint8)[FILE_HEADER_LEN:]
    walk_range(buf, FILE_HEADER_LEN, buf.shape[0], True, shape)
    find_records(buf.copy(), 0, shape.big_endian, shape.header_len, 8, shape.max_caplen,
                 walker(JIT_THRESHOLD_BYTES))


def _search_walk() -> None:
    """The search-path walk of a busy client, compiled (`pcapkit.flows.search_walk`): the
    capture above has fewer DNS transactions than the walk compiles for."""
    rows = pl.DataFrame({"client_ip": ["10.244.1.5"] * 2, "qname": ["api.default.svc.k8s", "api"],
                         "qtype": pl.Series([1, 28], dtype=pl.UInt16),
                         "dns_id": pl.Series([7, 8], dtype=pl.UInt16),
                         "ts_ns": [0, 1], "end_ns": [None, 2]})
    walk(SearchPath("k8s", {"10.244.1.5": "default"}), rows, pl.Series([0, 1]), compiled=True)


if __name__ == "__main__":
    warm()

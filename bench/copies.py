"""Large captures for the benchmarks, made of port-shifted copies of one recorded capture.

    python -m bench.copies SOURCE OUT (--copies N | --packets N)

Copy k of the source is the source with

- every *client* port shifted, the same way in every header that carries it: the outer TCP/UDP
  header, the inner one of VXLAN (UDP 8472, 4789) and Geneve (6081) packets, and the quoted
  header inside ICMP/ICMPv6 errors. A client port is one ≥ 1024 facing a server port: one in
  `SERVER_PORTS` or below 1024 (if neither side is, the larger one). Server ports stay as they
  are, so DNS, HTTP and the tunnels are still recognised; a shifted port never lands on one.
  The shift is a bijection of the ports ≥ 1024 outside `SERVER_PORTS`: port p becomes the one
  `k * SHIFT` places further in that list (wrapping), so one port maps to one port in every
  vantage point's copy of a packet, and copy k's flows are not copy 0's;
- every TCP sequence and acknowledgement number (SACK edges too) moved by k × `SEQ_SHIFT`, so
  that copies of one connection do not share its initial sequence numbers;
- every timestamp moved by k × (the source's time span + 1 ms), so copy k follows copy k-1 and
  the file stays in the source's order.

Checksums are not recomputed: the shifted headers carry wrong TCP/UDP checksums, which pcapkit,
tcpdump, tcptrace and tshark (by default) do not verify. Ports wrap after ~8 copies of a source
that uses ~8,000 client ports, so copies far apart may reuse a port, later in time, as real
clients do. Input: pcap (either byte order, micro- or nanosecond), link types Ethernet (802.1Q),
Linux cooked v1 and v2, raw IP; IPv4 (first fragments) and IPv6 (common extension headers).

The source is scanned once in Python for the offsets of the fields to rewrite; each copy is then
a numpy gather/scatter over those offsets (~0.2 s of CPU per 400k-packet, 48 MB copy).
"""

from __future__ import annotations

import argparse
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

#: ports that stay fixed: servers and tunnels the lab and common clusters use
SERVER_PORTS = frozenset({
    53, 80, 443, 2379, 2380, 4789, 4790, 5353, 6081, 6443, 8053, 8080, 8081, 8443, 8472,
    9000, 9090, 9153, 10250, 30080,
})
TUNNEL_PORTS = {8472: "vxlan", 4789: "vxlan", 6081: "geneve"}
#: places a client port moves per copy in the list of movable ports (prime, > the ~7,200 client
#: ports of the lab's bench load, so a few copies never overlap)
SHIFT = 7919
#: added to every TCP sequence and acknowledgement number per copy: copies of one connection
#: must not share initial sequence numbers, which pcapkit (rightly) takes for one connection
#: seen through NAT when they meet the same server
SEQ_SHIFT = 0x9E3779B1
GAP_SECONDS = 0.001  # between the end of one copy and the start of the next

ETHERNET, RAW, SLL, SLL2 = 1, 101, 113, 276
LINKTYPES = {ETHERNET: "Ethernet", 12: "raw IP", 14: "raw IP", RAW: "raw IP", 228: "raw IPv4",
             229: "raw IPv6", SLL: "Linux cooked v1", SLL2: "Linux cooked v2"}
MAGICS = {b"\xd4\xc3\xb2\xa1": ("<", 10**6), b"\xa1\xb2\xc3\xd4": (">", 10**6),
          b"\x4d\x3c\xb2\xa1": ("<", 10**9), b"\xa1\xb2\x3c\x4d": (">", 10**9)}
IPV6_EXTENSIONS = {0, 43, 60, 135}  # hop-by-hop, routing, destination options, mobility
ICMP_ERRORS = {(1, 3), (1, 11), (1, 12), (58, 1), (58, 2), (58, 3), (58, 4)}


@dataclass
class Fields:
    """Offsets found by the scan: client ports, and TCP sequence numbers."""

    ports: list[int]
    seqs: list[int]


@dataclass
class Source:
    """One scan of the source capture: its bytes and the offsets copies rewrite."""

    data: npt.NDArray[np.uint8]
    linktype: int
    endian: str
    units: int  # timestamp units per second
    records: npt.NDArray[np.int64]  # offset of each record header; one past the end last
    ports: npt.NDArray[np.int64]  # offset of each port field to shift (big-endian u16)
    seqs: npt.NDArray[np.int64]  # offset of each TCP sequence-number field (big-endian u32)

    @property
    def packets(self) -> int:
        return len(self.records) - 1

    def timestamps(self) -> npt.NDArray[np.int64]:
        """Each record's time in `units` since the epoch."""
        heads = self.records[:-1]
        sec, frac = _u32(self.data, heads, self.endian), _u32(self.data, heads + 4, self.endian)
        return sec * self.units + frac


def _u32(data: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], endian: str) -> npt.NDArray[
        np.int64]:
    raw = np.ascontiguousarray(data[at[:, None] + np.arange(4)])
    return raw.view(f"{endian}u4")[:, 0].astype(np.int64)


def _put_u32(data: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], values: npt.NDArray[
        np.int64], endian: str) -> None:
    data[at[:, None] + np.arange(4)] = values.astype(f"{endian}u4").view(np.uint8).reshape(-1, 4)


def scan(path: Path) -> Source:
    """Read `path` and find, once, the record offsets and the client port fields."""
    raw = path.read_bytes()
    if len(raw) < 24 or raw[:4] not in MAGICS:
        raise ValueError(f"{path}: not a pcap file (pcapng is not supported here)")
    endian, units = MAGICS[raw[:4]]
    linktype = struct.unpack_from(f"{endian}I", raw, 20)[0] & 0x0FFFFFFF
    if linktype not in LINKTYPES:
        raise ValueError(f"{path}: link type {linktype} is not supported")
    header = struct.Struct(f"{endian}IIII")
    records: list[int] = []
    found = Fields([], [])
    at, end = 24, len(raw)
    while at + 16 <= end:
        caplen = header.unpack_from(raw, at)[2]
        if at + 16 + caplen > end:
            break  # a record cut short: the copies end before it
        records.append(at)
        start = at + 16
        _link(raw, start, start + caplen, linktype, found)
        at = start + caplen
    records.append(at)
    data = np.frombuffer(raw, dtype=np.uint8)[:at]
    return Source(data, linktype, endian, units, np.array(records, dtype=np.int64),
                  np.array(found.ports, dtype=np.int64), np.array(found.seqs, dtype=np.int64))


def _link(buf: bytes, at: int, end: int, linktype: int, out: Fields) -> None:
    if linktype == ETHERNET:
        _ethernet(buf, at, end, out)
    elif linktype == SLL2:
        if at + 20 <= end:
            _ip(buf, at + 20, end, int.from_bytes(buf[at:at + 2]), out)
    elif linktype == SLL:
        if at + 16 <= end:
            _ip(buf, at + 16, end, int.from_bytes(buf[at + 14:at + 16]), out)
    elif at < end:  # raw IP: the version nibble says which
        _ip(buf, at, end, 0x86DD if buf[at] >> 4 == 6 else 0x0800, out)


def _ethernet(buf: bytes, at: int, end: int, out: Fields) -> None:
    at += 12
    while at + 2 <= end:
        ethertype = int.from_bytes(buf[at:at + 2])
        if ethertype in (0x8100, 0x88A8):
            at += 4
            continue
        _ip(buf, at + 2, end, ethertype, out)
        return


def _ip(buf: bytes, at: int, end: int, ethertype: int, out: Fields) -> None:
    """The offsets of the client ports below the IP header at `at`, appended to `out`."""
    if ethertype == 0x0800 and at + 20 <= end and buf[at] >> 4 == 4:
        if int.from_bytes(buf[at + 6:at + 8]) & 0x1FFF:
            return  # a later fragment: no transport header
        proto, l4 = buf[at + 9], at + (buf[at] & 0x0F) * 4
    elif ethertype == 0x86DD and at + 40 <= end and buf[at] >> 4 == 6:
        proto, l4 = buf[at + 6], at + 40
        while proto in IPV6_EXTENSIONS and l4 + 8 <= end:
            proto, l4 = buf[l4], l4 + (buf[l4 + 1] + 1) * 8
        if proto == 44 and l4 + 8 <= end:  # fragment header
            if int.from_bytes(buf[l4 + 2:l4 + 4]) & 0xFFF8:
                return
            proto, l4 = buf[l4], l4 + 8
    else:
        return
    if proto in (6, 17) and l4 + 4 <= end:
        sport, dport = int.from_bytes(buf[l4:l4 + 2]), int.from_bytes(buf[l4 + 2:l4 + 4])
        out.ports.extend(_client_ports(l4, sport, dport))
        if proto == 6:
            out.seqs.extend(_sequence_fields(buf, l4, end))
        tunnel = TUNNEL_PORTS.get(dport) if proto == 17 else None
        if tunnel == "vxlan" and l4 + 16 <= end and buf[l4 + 8] & 0x08:
            _ethernet(buf, l4 + 16, end, out)
        elif tunnel == "geneve" and l4 + 16 <= end:
            inner = l4 + 16 + (buf[l4 + 8] & 0x3F) * 4
            if int.from_bytes(buf[l4 + 10:l4 + 12]) == 0x6558:
                _ethernet(buf, inner, end, out)
            elif int.from_bytes(buf[l4 + 10:l4 + 12]) in (0x0800, 0x86DD):
                _ip(buf, inner, end, int.from_bytes(buf[l4 + 10:l4 + 12]), out)
    elif (proto, buf[l4] if l4 < end else -1) in ICMP_ERRORS and l4 + 8 < end:
        # the quoted packet: its header sits after the 8-byte ICMP header
        _ip(buf, l4 + 8, end, 0x0800 if proto == 1 else 0x86DD, out)


def _sequence_fields(buf: bytes, l4: int, end: int) -> list[int]:
    """The offsets of a TCP header's sequence numbers: seq, ack and SACK block edges (those
    present: a header quoted in an ICMP error holds only its first 8 bytes)."""
    found = [at for at in (l4 + 4, l4 + 8) if at + 4 <= end]
    header_end = min(end, l4 + (buf[l4 + 12] >> 4) * 4) if l4 + 13 <= end else l4
    at = l4 + 20
    while at < header_end:
        kind = buf[at]
        if kind == 0:
            break
        if kind == 1:
            at += 1
            continue
        if at + 2 > header_end or buf[at + 1] < 2:
            break
        if kind == 5:  # SACK: pairs of 32-bit edges
            found.extend(e for e in range(at + 2, at + buf[at + 1], 4) if e + 4 <= header_end)
        at += buf[at + 1]
    return found


def _client_ports(l4: int, sport: int, dport: int) -> list[int]:
    """The offsets of the client port(s) of a TCP/UDP header at `l4`: none or one."""
    s_server = sport < 1024 or sport in SERVER_PORTS
    d_server = dport < 1024 or dport in SERVER_PORTS
    if s_server == d_server:
        return [] if s_server else [l4 if sport >= dport else l4 + 2]
    return [l4 + 2] if s_server else [l4]


def port_table(copy: int, shift: int = SHIFT) -> npt.NDArray[np.uint16]:
    """Port → port in copy `copy`: the movable ports rotated by `copy * shift` places; server
    ports and ports < 1024 map to themselves."""
    movable = np.setdiff1d(np.arange(1024, 65536), np.fromiter(SERVER_PORTS, dtype=np.int64))
    table = np.arange(65536, dtype=np.int64)
    table[movable] = np.roll(movable, -((copy * shift) % len(movable)))
    return table.astype(np.uint16)


def write(source: Source, out: Path, copies: int, packets: int | None = None,
          shift: int = SHIFT) -> int:
    """Write `copies` copies of `source` into `out` (cut after `packets` records if given);
    returns the number of packets written."""
    ts = source.timestamps()
    span = int(ts.max() - ts.min()) + int(GAP_SECONDS * source.units) if len(ts) else 0
    ports = source.data[source.ports].astype(np.uint16) << 8 | source.data[source.ports + 1]
    written = 0
    limit = copies * source.packets if packets is None else packets
    with out.open("wb") as f:
        f.write(source.data[:24].tobytes())
        for k in range(copies):
            if written >= limit:
                break
            take = min(source.packets, limit - written)
            end = int(source.records[take])
            chunk = source.data[:end].copy()
            if k:
                inside = source.ports < end
                at, shifted = source.ports[inside], port_table(k, shift)[ports[inside]]
                chunk[at] = (shifted >> 8).astype(np.uint8)
                chunk[at + 1] = (shifted & 0xFF).astype(np.uint8)
                at = source.seqs[source.seqs < end]
                _put_u32(chunk, at, (_u32(chunk, at, ">") + k * SEQ_SHIFT) % (1 << 32), ">")
                moved = ts[:take] + k * span
                heads = source.records[:take]
                _put_u32(chunk, heads, moved // source.units, source.endian)
                _put_u32(chunk, heads + 4, moved % source.units, source.endian)
            f.write(chunk[24:end].tobytes())
            written += take
    return written


def make(source_path: Path, out: Path, packets: int) -> int:
    """`out` holds `packets` packets: as many copies of `source_path` as needed, the last one
    cut short; returns the packets written."""
    source = scan(source_path)
    copies = -(-packets // source.packets)
    return write(source, out, copies, packets)


def cooked_v1(source_path: Path, out: Path) -> None:
    """Rewrite a Linux cooked v2 capture (`tcpdump -i any -y LINUX_SLL2`) with v1 headers, for
    tools that read only v1 (tcptrace 6.6.7): same packets, 4 bytes shorter each."""
    src = scan(source_path)
    raw, endian = src.data.tobytes(), src.endian
    if src.linktype != SLL2:
        raise ValueError(f"{source_path}: link type {src.linktype}, not Linux cooked v2")
    head = struct.Struct(f"{endian}IIII")
    parts = [raw[:20], struct.pack(f"{endian}I", SLL)]
    for at, end in zip(src.records[:-1].tolist(), src.records[1:].tolist(), strict=True):
        sec, frac, caplen, origlen = head.unpack_from(raw, at)
        if caplen < 20:
            parts += [raw[at:end]]  # too short to hold a v2 header: kept as it is
            continue
        v2 = raw[at + 16:at + 36]
        # v2: protocol, reserved, ifindex, hatype, pkttype, halen, address[8]
        # v1: pkttype, hatype, halen, address[8], protocol
        v1 = bytes([0, v2[10]]) + v2[8:10] + bytes([0, v2[11]]) + v2[12:20] + v2[0:2]
        parts += [head.pack(sec, frac, caplen - 4, origlen - 4), v1, raw[at + 36:end]]
    out.write_bytes(b"".join(parts))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.copies", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--copies", type=int)
    size.add_argument("--packets", type=int, help="as many copies as needed, the last one cut")
    args = parser.parse_args(argv)
    source = scan(args.source)
    copies = args.copies if args.copies is not None else -(-args.packets // source.packets)
    n = write(source, args.out, copies, args.packets)
    print(f"{args.out}: {n} packets ({source.packets} per copy, {len(source.ports)} port "
          f"fields shifted per copy)", file=sys.stderr)


if __name__ == "__main__":
    main()

"""`pcapkit show` through dpkt: a symptom's evidence frames, one line a frame, when tshark is
absent (or `--dissector dpkt`). pcapkit's own decoder removes the encapsulations on its ports
(VXLAN on 8472 and 4789, Geneve, GRE…, and any `--vxlan-port`) and says where the inner IP
packet starts; dpkt reads it from there, and the application layers above (`app_layers`).

The lines read like tshark's (`show.frame_line`): frame, layers, addresses, then what each
layer says. Not there: tshark's expert analysis, and protocols other than HTTP, HTTP/2 (with
gRPC's status), TLS and DNS.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Set
from typing import Any

import dpkt

from pcapkit.codes import ArpOp, LinkType, TcpFlags, code_name
from pcapkit.decode.reference import network_offset
from pcapkit.kube.app_protocols import Socket
from pcapkit.read import Capture, read_capture
from pcapkit.report.document import endpoint_text
from pcapkit.report.escape import printable
from pcapkit.wireshark import app_layers, http2
from pcapkit.wireshark.evidence import take_frames

#: dpkt's class for an IP header, by version, and the name Wireshark gives the layer
IP_CLASSES: dict[int, tuple[Any, str]] = {4: (dpkt.ip.IP, "ip"), 6: (dpkt.ip6.IP6, "ipv6")}
#: Wireshark's names of the link layers, where they differ from the link type's
LINK_NAMES = {LinkType.EN10MB: "eth", LinkType.LINUX_SLL: "sll", LinkType.LINUX_SLL2: "sll",
              LinkType.NULL: "null", LinkType.LOOP: "null"}
#: TCP flags in the order Wireshark's `tcp.flags.str` writes them, high bit first
FLAG_ORDER = sorted(TcpFlags, key=lambda f: -f.value)

StreamKey = tuple[str, int, str, int]


def _flags(value: int) -> str:
    return "|".join(str(f.name) for f in FLAG_ORDER if value & f) or "none"


def _addresses(row: dict[str, Any]) -> str:
    if row.get("src") is None:
        return ""
    if row.get("sport") is None:
        return f"{row['src']} → {row['dst']}"
    # `[v6]:port`: an IPv6 address's own colons would run into the port's
    return f"{endpoint_text(row['src'], row['sport'])} → {endpoint_text(row['dst'], row['dport'])}"


def _transport(inner: Any, row: dict[str, Any], streams: dict[StreamKey, app_layers.Stream],
               h2c: Set[Socket]) -> tuple[list[str], list[str]]:
    """The layers above IP and what they say; TCP payloads go through their direction's
    stream, so a message is said on the segment that completes it (HTTP/2 from the first,
    on the `h2c` sockets)."""
    layer = inner.data
    if row.get("ip_frag_offset"):  # dpkt would take the fragment's bytes for a header
        return [], [f"fragment offset {row['ip_frag_offset']}"]
    if isinstance(layer, dpkt.tcp.TCP):
        key = (row["src"], layer.sport, row["dst"], layer.dport)
        dns = app_layers.DNS_PORT in (layer.sport, layer.dport)
        if key not in streams:
            declared = (row["src"], layer.sport) in h2c or (row["dst"], layer.dport) in h2c
            streams[key] = app_layers.Stream(dns=dns, h2c=declared)
        stream = streams[key]
        messages = stream.segment(layer.seq, bytes(layer.data))
        protocols = dict.fromkeys(m.split()[0] for m in messages)  # "http", "tls", "dns"
        length = row.get("payload_len", len(layer.data))  # on the wire, when pcapkit has it
        return ["tcp", *protocols], [f"flags {_flags(layer.flags)}", f"seq {layer.seq}",
                                     f"len {length}", *messages]
    if isinstance(layer, dpkt.udp.UDP):
        if app_layers.DNS_PORT in (layer.sport, layer.dport):
            try:
                return ["udp", "dns"], app_layers.dns(bytes(layer.data))
            except (dpkt.UnpackError, IndexError):
                return ["udp"], ["dns (malformed)"]
        return ["udp"], []
    if isinstance(layer, dpkt.icmp.ICMP | dpkt.icmp6.ICMP6):
        name = "icmp" if isinstance(layer, dpkt.icmp.ICMP) else "icmpv6"
        return [name], [f"icmp type {layer.type}", f"code {layer.code}"]
    return [], []


def _dissected(capture: Capture) -> Iterator[tuple[int, list[str], dict[str, Any], Any]]:
    """Each record of `capture`: its frame number, its layers up to the inner IP, pcapkit's
    decoded row, and dpkt's inner IP packet (None when there is none, or it is malformed)."""
    recs = capture.records
    for number, offset, caplen, iface in zip(
            recs.frame.tolist(), recs.offset.tolist(), recs.caplen.tolist(),
            recs.iface.tolist(), strict=True):
        pkt = bytes(capture.buffer[offset : offset + caplen])
        link = capture.interfaces[iface].link_type
        at, row = network_offset(pkt, link, capture.big_endian)
        stack = [LINK_NAMES.get(link) or LinkType.name_of(link).lower()]
        if row.get("tunnel"):
            stack.append(row["tunnel"])
        inner = None
        ip_class, ip_name = IP_CLASSES.get(row.get("ip_version") or 0, (None, ""))
        if row.get("arp_op") is None and at >= 0 and ip_class is not None:
            try:
                inner = ip_class(pkt[at:])
            except (dpkt.UnpackError, dpkt.NeedData):
                ip_name += " (malformed)"
            stack.append(ip_name)
        yield number, stack, row, inner


def frame_lines(capture: Capture, h2c: Set[Socket] = frozenset()) -> Iterator[str]:
    """Each record of `capture`, dissected, in file order; TCP to or from the `h2c` sockets
    as HTTP/2 (`app_layers.Stream.h2c`)."""
    streams: dict[StreamKey, app_layers.Stream] = {}
    for number, stack, row, inner in _dissected(capture):
        said: list[str] = []
        if row.get("arp_op") is not None:  # pcapkit decodes ARP itself: its row says it all
            stack.append("arp")
            said = [f"arp {code_name(ArpOp, row['arp_op'])}", f"sender {row.get('arp_sender')}",
                    f"target {row.get('arp_target')}"]
        elif inner is not None:
            layers, said = _transport(inner, row, streams, h2c)
            stack += layers
        parts = [f"frame {number}", "/".join(stack), _addresses(row), *said]
        yield printable("  ".join(p for p in parts if p))


def h2c_decode_as(paths: Sequence[str], frames: dict[int, list[int]],
                  h2c: Set[Socket] = frozenset()) -> list[str]:
    """`tcp.port==P,http2` for each server port a client sent HTTP/2's connection preface to
    among `frames`, and for each port of the `h2c` sockets (the snapshot's word) a frame
    goes to or comes from: cleartext HTTP/2 with prior knowledge (gRPC inside a cluster),
    which tshark dissects on no port unless told."""
    ports = set()
    for index, numbers in sorted(frames.items()):
        for _, _, row, inner in _dissected(take_frames(read_capture(paths[index]), numbers)):
            tcp = getattr(inner, "data", None)
            if not isinstance(tcp, dpkt.tcp.TCP):
                continue
            if bytes(tcp.data).startswith(http2.PREFACE) or (row["dst"], tcp.dport) in h2c:
                ports.add(tcp.dport)
            if (row["src"], tcp.sport) in h2c:
                ports.add(tcp.sport)
    return [f"tcp.port=={port},http2" for port in sorted(ports)]


def show_frames_dpkt(paths: Sequence[str], frames: dict[int, list[int]],
                     h2c: Set[Socket] = frozenset()) -> Iterator[str]:
    """Lines: each capture's path, then its `frames` as dpkt dissects them (the same shape
    as `show.show_frames`), TCP of the `h2c` sockets as HTTP/2."""
    for index, numbers in sorted(frames.items()):
        yield printable(paths[index])
        for line in frame_lines(take_frames(read_capture(paths[index]), numbers), h2c):
            yield "  " + line

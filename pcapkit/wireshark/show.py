"""`pcapkit show`: a symptom's evidence frames as Wireshark dissects them, one line a frame,
with what pcapkit does not decode itself: HTTP requests and status codes, TLS alerts, gRPC
status over HTTP/2, and tshark's expert messages. Strings from the capture are `printable`.

Without tshark, dpkt speaks instead (`dpkt_show`): HTTP, HTTP/2 and gRPC status, TLS and DNS,
no expert analysis.
`choose` picks the dissector and says which; `dissect_frames` runs it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence, Set
from typing import Any, Literal

import dpkt

from pcapkit.kube.app_protocols import Socket
from pcapkit.report.document import endpoint_text
from pcapkit.report.escape import printable
from pcapkit.wireshark.dpkt_show import h2c_decode_as, show_frames_dpkt
from pcapkit.wireshark.http2 import error_said, headers_said
from pcapkit.wireshark.tshark import Dissector, dissect, field, layers, tshark_path

#: (layer, field, label): the fields a frame's line shows, in order, when tshark has them
FIELDS: list[tuple[str, str, str]] = [
    ("tcp", "flags_str", "flags"),
    ("tcp", "seq", "seq"),
    ("tcp", "len", "len"),
    ("icmp", "type", "icmp type"),
    ("icmp", "code", "code"),
    ("dns", "id", "dns id"),
    ("dns", "qry_name", "query"),
    ("dns", "flags_rcode", "rcode"),
    ("http", "request_method", "http"),
    ("http", "request_uri", "uri"),
    ("http", "response_code", "http status"),
    ("http", "response_phrase", "phrase"),
    ("tls", "alert_message_desc", "tls alert"),
    ("tls", "handshake_type", "tls handshake"),
]


def _addresses(packet: Any) -> str:
    """The innermost IP header's addresses, with ports when a TCP or UDP header follows it."""
    inner = port = None
    for layer in packet.layers:
        if layer.layer_name in ("ip", "ipv6"):
            inner, port = layer, None
        elif layer.layer_name in ("tcp", "udp") and inner is not None:
            port = layer
    if inner is None:
        return ""
    src, dst = field(inner, "src"), field(inner, "dst")
    sport, dport = (field(port, "srcport"), field(port, "dstport")) if port else (None, None)
    if src is None or dst is None or sport is None or dport is None:
        return f"{src} → {dst}"
    # `[v6]:port`: an IPv6 address's own colons would run into the port's
    return f"{endpoint_text(src, int(sport))} → {endpoint_text(dst, int(dport))}"


def _expert(packet: Any) -> list[str]:
    out: list[str] = []
    for layer in packet.layers:
        f = layer.get_field("_ws_expert_message")
        if f is not None:
            out += [str(m.showname_value or m) for m in f.all_fields]
    return list(dict.fromkeys(out))


def _values(layer: Any, name: str) -> list[str]:
    """Every occurrence of a field of a pyshark layer, as text."""
    found = layer.get_field(name) if name in layer.field_names else None
    return [str(f.showname_value) for f in found.all_fields] if found is not None else []


def _http2(packet: Any) -> list[str]:
    """Each HTTP/2 frame (pyshark gives one `http2` layer each) said as `http2.Direction`
    says it without tshark: type, stream, the headers that matter, the error code."""
    said = []
    for layer in layers(packet, "http2"):
        kinds = _values(layer, "type")
        if not kinds:  # the connection preface alone
            continue
        words = [f"http2 {kinds[0].split(' (')[0]} stream {field(layer, 'streamid')}"]
        headers = list(zip(_values(layer, "header_name"), _values(layer, "header_value"),
                           strict=False))
        words += headers_said(headers)
        words += [f"last_stream {v}" for v in _values(layer, "goaway_last_stream_id")]
        for error in ("rst_stream_error", "goaway_error"):
            # shown as "Internal Error (2)"
            words += [error_said(int(v.split("(")[-1].rstrip(")"), 0))
                      for v in _values(layer, error)]
        said.append(" ".join(words))
    return said


def frame_line(packet: Any) -> str:
    """One frame as tshark dissected it."""
    stack = "/".join(layer.layer_name for layer in packet.layers)
    parts = [f"frame {packet.number}", stack, _addresses(packet)]
    for layer_name, name, label in FIELDS:
        for layer in layers(packet, layer_name)[-1:]:  # the innermost
            value = field(layer, name)
            if value is not None:
                parts.append(f"{label} {value}")
    parts += _http2(packet)
    expert = _expert(packet)
    if expert:
        parts.append("expert: " + "; ".join(expert))
    return printable("  ".join(p for p in parts if p))


def show_frames(paths: Sequence[str], frames: dict[int, list[int]],
                decode_as: Sequence[str]) -> Iterator[str]:
    """Lines: each capture's path, then its `frames` as Wireshark dissects them."""
    for index, numbers in sorted(frames.items()):
        yield printable(paths[index])
        wanted = f"frame.number in {{{','.join(map(str, numbers))}}}"
        for packet in dissect(paths[index], wanted, decode_as):
            yield "  " + frame_line(packet)


def choose(dissector: Dissector) -> tuple[Literal["tshark", "dpkt"], str]:
    """The dissector that will speak, and the line that says so (and why dpkt, when it is).
    `UsageError` (exit 2) when tshark is asked for by name and absent."""
    if dissector == "tshark" or (dissector == "auto" and shutil.which("tshark")):
        tshark_path()
        return "tshark", "dissector: tshark (Wireshark, through pyshark)"
    why = "as asked" if dissector == "dpkt" else "tshark not found"
    return "dpkt", (f"dissector: dpkt {dpkt.__version__} ({why}): HTTP, HTTP/2, TLS and DNS, "
                    "no expert analysis")


def dissect_frames(dissector: Literal["tshark", "dpkt"], paths: Sequence[str],
                   frames: dict[int, list[int]], decode_as: Sequence[str],
                   h2c: Set[Socket] = frozenset()) -> Iterator[str]:
    """`show_frames` or `show_frames_dpkt`: each capture's path, then its frames, one line
    each. `decode_as` is tshark's (with HTTP/2 added on the ports cleartext HTTP/2 was seen
    on, and on those of the `h2c` sockets, which the snapshot declares HTTP/2): dpkt reads
    the inner packets pcapkit's decoder finds, and tells HTTP/2 by itself, or by `h2c`."""
    if dissector == "tshark":
        return show_frames(paths, frames, [*decode_as, *h2c_decode_as(paths, frames, h2c)])
    return show_frames_dpkt(paths, frames, h2c)

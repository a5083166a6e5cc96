"""HTTP/2 (RFC 9113) and gRPC over it, as `show` describes them without tshark: one direction of
a connection's frames (`dpkt.http2`), its header blocks decoded (`hpack`), each frame said as
`http2 TYPE stream N` and what matters when a Service fails: a request's `:method :path`, a
response's `:status`, gRPC's `grpc-status`/`grpc-message` trailers, the error code of a
RST_STREAM or a GOAWAY.

Cleartext HTTP/2 (h2c, as gRPC runs inside a cluster) is recognised from the start of a
direction: the client's connection preface, or a server's first SETTINGS frame; or, when the
snapshot declares the Service port's `appProtocol` h2c (`pcapkit.kube.app_protocols`), from
wherever the capture starts, its HPACK table then unknown. Over TLS the frames are encrypted
and `show` says TLS records instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dpkt

from pcapkit.codes import GrpcStatus, Http2Error, code_name
from pcapkit.wireshark.hpack import Decoder, HpackError

PREFACE = dpkt.http2.HTTP2_PREFACE
FRAME_HEADER = 9  #: length (24 bits), type, flags, stream id (31 bits)
SETTINGS_TYPE = 4
#: the frames that carry a header block, and the one that continues it
HEADER_FRAMES = (dpkt.http2.HTTP2_FRAME_HEADERS, dpkt.http2.HTTP2_FRAME_PUSH_PROMISE)
CONTINUATION = dpkt.http2.HTTP2_FRAME_CONTINUATION
#: the headers a line shows, in this order, when the block has them
SHOWN = (":method", ":path", ":status", "grpc-status", "grpc-message")
#: the longest header block gathered across CONTINUATION frames
MAX_BLOCK = 1 << 16


def starts_h2(buf: bytes) -> bool | None:
    """Whether a direction starting with `buf` is HTTP/2: the client's preface or a server's
    SETTINGS frame on stream 0 (a whole number of 6-byte settings); None while too short."""
    n = min(len(buf), len(PREFACE))
    if buf[:n] == PREFACE[:n]:
        return True if n == len(PREFACE) else None
    if len(buf) < FRAME_HEADER:
        return None if len(buf) <= 3 or buf[3] == SETTINGS_TYPE else False
    length = int.from_bytes(buf[:3], "big")
    return buf[3] == SETTINGS_TYPE and buf[5:9] == bytes(4) and length % 6 == 0


def opens(buf: bytes) -> bool:
    """Whether a direction that `starts_h2` with `buf` is seen from its very start: the
    client's preface, or the server's first SETTINGS (not the acknowledgement of the
    client's, which a capture begun mid-connection may start with)."""
    return buf.startswith(PREFACE) or not buf[4] & dpkt.http2.HTTP2_FLAG_ACK


def headers_said(pairs: list[tuple[str, str]]) -> list[str]:
    """The `SHOWN` headers of a header block, in that order, a gRPC status with its name."""
    said = []
    for name in SHOWN:
        for value in (v for n, v in pairs if n == name):
            if name == "grpc-status" and value.isdigit():
                value = f"{value} ({code_name(GrpcStatus, int(value))})"
            said.append(f"{name} {value}")
    return said


def error_said(code: int) -> str:
    """An HTTP/2 error code with its name: `error 2 (internal_error)`."""
    return f"error {code} ({code_name(Http2Error, code)})"


@dataclass
class Direction:
    """One direction of an HTTP/2 connection: its HPACK table and a header block still
    waiting for its CONTINUATION frames."""

    decoder: Decoder = field(default_factory=Decoder)
    preface: bool = True  #: the client's preface may still be ahead
    block: bytearray = field(default_factory=bytearray)
    broken: bool = False  #: a header block failed to decode: the table is unknown from there

    def frames(self, buf: bytes) -> tuple[list[str], int]:
        """The whole frames at the start of `buf` described, and the bytes they take."""
        used = 0
        if self.preface and buf.startswith(PREFACE):
            used = len(PREFACE)
        elif self.preface and len(buf) < len(PREFACE) and PREFACE.startswith(buf):
            return [], 0
        self.preface = False
        said: list[str] = []
        while len(buf) - used >= FRAME_HEADER:
            length = int.from_bytes(buf[used : used + 3], "big")
            if len(buf) - used < FRAME_HEADER + length:
                break
            said.append(self._frame(buf[used : used + FRAME_HEADER + length]))
            used += FRAME_HEADER + length
        return said, used

    def _frame(self, raw: bytes) -> str:
        kind, flags = raw[3], raw[4]
        stream = int.from_bytes(raw[5:9], "big") & 0x7FFFFFFF
        known = dpkt.http2.FRAME_TYPES.get(kind)
        if known is None:  # an extension frame: ignored, as RFC 9113 §4.1 says
            return f"http2 type {kind} stream {stream}"
        name, frame_class = known
        head = f"http2 {name} stream {stream}"
        try:
            frame = frame_class(raw)
        except (dpkt.UnpackError, dpkt.http2.HTTP2Exception):
            return f"{head} (malformed)"
        end = ["end_stream"] if kind in (dpkt.http2.HTTP2_FRAME_DATA,
                                         dpkt.http2.HTTP2_FRAME_HEADERS) \
            and flags & dpkt.http2.HTTP2_FLAG_END_STREAM else []
        if kind in HEADER_FRAMES or kind == CONTINUATION:
            return " ".join([head, *end, *self._block(frame.block_fragment, flags)])
        if kind == dpkt.http2.HTTP2_FRAME_DATA:
            return " ".join([head, f"len {len(frame.payload)}", *end])
        if kind == dpkt.http2.HTTP2_FRAME_RST_STREAM:
            return f"{head} {error_said(frame.error_code)}"
        if kind == dpkt.http2.HTTP2_FRAME_GOAWAY:
            return f"{head} last_stream {frame.last_stream_id & 0x7FFFFFFF} " \
                   f"{error_said(frame.error_code)}"
        if kind in (dpkt.http2.HTTP2_FRAME_SETTINGS, dpkt.http2.HTTP2_FRAME_PING) \
                and flags & dpkt.http2.HTTP2_FLAG_ACK:
            return f"{head} ack"
        return head

    def _block(self, fragment: bytes, flags: int) -> list[str]:
        """A header block's fragment taken; the block's headers once END_HEADERS ends it."""
        if len(self.block) + len(fragment) > MAX_BLOCK:
            self.broken = True
        self.block += fragment
        if not flags & dpkt.http2.HTTP2_FLAG_END_HEADERS:
            return []
        block, self.block = bytes(self.block), bytearray()
        if self.broken:
            return ["(headers not decoded: HPACK table lost)"]
        try:
            return headers_said(self.decoder.decode(block))
        except HpackError as e:
            self.broken = True
            return [f"(headers not decoded: {e})"]

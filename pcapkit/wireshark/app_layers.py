"""The application layers pcapkit does not decode, as dpkt reads them: HTTP request lines and
response status (`dpkt.http`), TLS record types, handshake messages and alerts (`dpkt.ssl`),
DNS messages (`dpkt.dns`), cleartext HTTP/2 frames and gRPC status (`http2`). `show`'s
dissector when tshark is absent (`dpkt_show`).

A TCP direction's payload is one byte stream (`Stream`): a message is described on the
segment that completes it, as Wireshark does with its TCP reassembly, so that the two
dissectors name the same frame. What is not one of these protocols is left undescribed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import dpkt

from pcapkit.codes import DnsRcode, TlsAlert, TlsAlertLevel, TlsContentType, code_name
from pcapkit.wireshark import http2

SEQ_SPACE = 1 << 32
DNS_PORT = 53
#: a stream buffered this long without a whole message is not one of ours: dropped
MAX_BUFFERED = 1 << 20
#: a status line, or a whole request line
HTTP_START = re.compile(rb"HTTP/\d\.\d |[A-Z][A-Z_-]{2,16} \S+ HTTP/\d\.\d\r?\n")
#: the longest request line waited for
MAX_LINE = 8192
TLS_VERSIONS = frozenset(dpkt.ssl.SSL3_VERSION_BYTES)
TLS_TYPES = frozenset(TlsContentType)
#: what a stream's start may be while it is too short to be told HTTP or not: a method and
#: URI, or a status line, cut anywhere before `HTTP_START` can match
VERSION_PREFIX = rb"H(?:T(?:T(?:P(?:/(?:\d(?:\.(?:\d\r?)?)?)?)?)?)?)?"
HTTP_PREFIX = re.compile(rb"[A-Z][A-Z_-]{0,16}(?: \S*(?: (?:" + VERSION_PREFIX + rb")?)?)?|"
                         + VERSION_PREFIX)
TLS_RECORD_HEADER = 5  #: content type, version, length
HANDSHAKE_HEADER = 4  #: type, 24-bit length
ALERT_LEN = 2  #: level, description: an alert sent in the clear


def http(buf: bytes) -> tuple[str, bytes] | None:
    """The first HTTP message of `buf` described, and the bytes after it; None while it is
    incomplete. `dpkt.UnpackError` when `buf` is not HTTP."""
    if b"\r\n\r\n" not in buf:  # dpkt would take a header cut short for the whole head
        return None
    try:
        if buf.startswith(b"HTTP/"):
            response = dpkt.http.Response(buf)
            return f"http status {response.status} phrase {response.reason}", response.data
        request = dpkt.http.Request(buf)
        return f"http {request.method} uri {request.uri}", request.data
    except dpkt.NeedData:  # the body is still to come
        return None


def _handshake(data: bytes) -> Iterator[str]:
    """The handshake messages of one record (one record may hold several, as a server's
    ServerHello, Certificate, ServerHelloDone often do)."""
    pos = 0
    while pos + HANDSHAKE_HEADER <= len(data):
        known = dpkt.ssl.HANDSHAKE_TYPES.get(data[pos])
        yield f"tls handshake {known[0] if known else data[pos]}"
        pos += HANDSHAKE_HEADER + int.from_bytes(data[pos + 1 : pos + HANDSHAKE_HEADER], "big")


def tls(buf: bytes, encrypted: bool) -> tuple[list[str], int, bool]:
    """The whole TLS records at the start of `buf` described, the bytes they take, and
    whether what follows is encrypted (`encrypted`: it already was, since a
    ChangeCipherSpec). `dpkt.ssl.SSL3Exception` when `buf` is not TLS."""
    records, used = dpkt.ssl.tls_multi_factory(buf)
    out = []
    for record in records:
        data = record.data
        if record.type == TlsContentType.ALERT and len(data) == ALERT_LEN and not encrypted:
            level, description = code_name(TlsAlertLevel, data[0]), code_name(TlsAlert, data[1])
            out.append(f"tls alert {level} {description}")
        elif record.type in (TlsContentType.ALERT, TlsContentType.HANDSHAKE) and encrypted:
            out.append(f"tls {code_name(TlsContentType, record.type)} (encrypted)")
        elif record.type == TlsContentType.HANDSHAKE:
            out += _handshake(data)
        else:
            out.append(f"tls {code_name(TlsContentType, record.type)}")
        encrypted = encrypted or record.type == TlsContentType.CHANGE_CIPHER_SPEC
    return out, used, encrypted


def dns(message: bytes) -> list[str]:
    """One DNS message described: id, first question, rcode of a response."""
    msg = dpkt.dns.DNS(message)
    out = [f"dns id {msg.id:#06x}"]
    if msg.qd:
        out.append(f"query {msg.qd[0].name}")
    if msg.qr == dpkt.dns.DNS_R:
        out.append(f"rcode {msg.rcode} ({code_name(DnsRcode, msg.rcode)})")
    return out


@dataclass
class Stream:
    """One direction of a TCP connection: the next sequence number expected, and the bytes
    received that do not yet make a whole message."""

    dns: bool  #: DNS over TCP (port 53): messages with a 2-byte length prefix
    next_seq: int | None = None
    buffer: bytes = b""
    encrypted: bool = False  #: TLS: a ChangeCipherSpec went by, what follows is encrypted
    h2: http2.Direction | None = None  #: HTTP/2: this direction's frames and HPACK table
    h2c: bool = False  #: the snapshot says its socket speaks cleartext HTTP/2 (appProtocol)

    def segment(self, seq: int, payload: bytes) -> list[str]:
        """Take one segment's payload; what the messages it completes say."""
        if not payload:
            return []
        if self.next_seq is not None:
            behind = (self.next_seq - seq) % SEQ_SPACE
            if behind < SEQ_SPACE // 2:  # starts at or before the next byte expected
                if behind >= len(payload):
                    return []  # a copy (another interface) or a retransmission: said already
                payload = payload[behind:]
                seq = self.next_seq
            else:  # bytes missing from the capture: a message in them cannot be read
                self.buffer = b""
                if self.h2 is not None:  # nor the header blocks after them (HPACK's table)
                    self.h2.broken = True
        self.next_seq = (seq + len(payload)) % SEQ_SPACE
        self.buffer += payload
        try:
            said = self._messages()
        except (dpkt.UnpackError, dpkt.ssl.SSL3Exception, IndexError, ValueError,
                OverflowError):  # OverflowError: a Content-Length of 2**64 (Zeek's corpus)
            # Not (or no longer) a protocol described here: look again at the next segment's
            # start, where a protocol switched to (STARTTLS, an upgrade) begins.
            self.buffer = b""
            return []
        if len(self.buffer) > MAX_BUFFERED:
            self.buffer = b""
        return said

    def _messages(self) -> list[str]:
        said: list[str] = []
        while self.buffer:
            buf = self.buffer
            if self.dns:
                size = int.from_bytes(buf[:2], "big") + 2
                if len(buf) < size:
                    break
                said += dns(buf[2:size])
                self.buffer = buf[size:]
            elif self.h2 is not None:
                frames, used = self.h2.frames(buf)
                said += frames
                self.buffer = buf[used:]
                if not used:
                    break
            elif self.h2c:
                start = http2.starts_h2(buf)
                if start is None:
                    break
                # Not seen from its start (a capture begun mid-connection, or the preface
                # lost): the frames are read, the HPACK table is unknown, as after a lost
                # segment.
                self.h2 = http2.Direction(broken=not (start and http2.opens(buf)))
            elif http2.starts_h2(buf):
                self.h2 = http2.Direction()
            elif buf[0] in TLS_TYPES and len(buf) < TLS_RECORD_HEADER:
                break
            elif buf[0] in TLS_TYPES and buf[1:3] in TLS_VERSIONS:
                records, used, self.encrypted = tls(buf, self.encrypted)
                said += records
                self.buffer = buf[used:]
                if not used:
                    break
            elif HTTP_START.match(buf):
                found = http(buf)
                if found is None:
                    break
                said.append(found[0])
                self.buffer = found[1]
            elif len(buf) < MAX_LINE and (HTTP_PREFIX.fullmatch(buf)
                                          or http2.starts_h2(buf) is None):
                break  # a status or request line, or HTTP/2's start, not yet whole
            else:
                raise dpkt.UnpackError("neither HTTP, HTTP/2, TLS nor DNS")
        return said

"""The application layers pcapkit does not decode, as dpkt reads them: HTTP request lines and
response status (`dpkt.http`), TLS record types, handshake messages and alerts (`dpkt.ssl`),
DNS messages (`dpkt.dns`). `show`'s dissector when tshark is absent (`dpkt_show`).

A TCP direction's payload is one byte stream (`Stream`): a message is described on the
segment that completes it, as Wireshark does with its TCP reassembly, so that the two
dissectors name the same frame. What is not one of these protocols is left undescribed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dpkt

from pcapkit.codes import DnsRcode, TlsAlert, TlsAlertLevel, TlsContentType, code_name

SEQ_SPACE = 1 << 32
DNS_PORT = 53
#: a stream buffered this long without a whole message is not one of ours: dropped
MAX_BUFFERED = 1 << 20
HTTP_START = re.compile(rb"HTTP/\d|[A-Z][A-Z_-]{2,16} \S")  #: a status line or a request line
TLS_VERSIONS = frozenset(dpkt.ssl.SSL3_VERSION_BYTES)
TLS_TYPES = frozenset(TlsContentType)
#: bytes needed before a stream's start can be told HTTP, TLS or neither
SNIFF_LEN = 8


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


def tls(buf: bytes) -> tuple[list[str], int]:
    """The whole TLS records at the start of `buf` described, and the bytes they take.
    `dpkt.ssl.SSL3Exception` when `buf` is not TLS."""
    records, used = dpkt.ssl.tls_multi_factory(buf)
    out = []
    for record in records:
        data = record.data
        if record.type == TlsContentType.ALERT and len(data) == 2:
            level, description = code_name(TlsAlertLevel, data[0]), code_name(TlsAlert, data[1])
            out.append(f"tls alert {level} {description}")
        elif record.type == TlsContentType.ALERT:  # after the handshake: encrypted
            out.append("tls alert (encrypted)")
        elif record.type == TlsContentType.HANDSHAKE and data:
            known = dpkt.ssl.HANDSHAKE_TYPES.get(data[0])
            out.append(f"tls handshake {known[0] if known else data[0]}")
        else:
            out.append(f"tls {code_name(TlsContentType, record.type)}")
    return out, used


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
    skip: bool = False  #: the stream is not a protocol described here: ignore it from now

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
                self.buffer, self.skip = b"", False
        self.next_seq = (seq + len(payload)) % SEQ_SPACE
        if self.skip:
            return []
        self.buffer += payload
        try:
            said = self._messages()
        except (dpkt.UnpackError, dpkt.ssl.SSL3Exception, IndexError, ValueError):
            self.buffer, self.skip = b"", True
            return []
        if len(self.buffer) > MAX_BUFFERED:
            self.buffer, self.skip = b"", True
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
            elif len(buf) < SNIFF_LEN:
                break
            elif buf[0] in TLS_TYPES and buf[1:3] in TLS_VERSIONS:
                records, used = tls(buf)
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
            else:
                raise dpkt.UnpackError("neither HTTP, TLS nor DNS")
        return said

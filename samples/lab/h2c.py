"""gRPC over cleartext HTTP/2 (h2c, prior knowledge), the standard library only: a server that
fails on purpose, and the client that calls it. Written for the lab, not taken from an HTTP/2
library, so that the captures are an independent input for pcapkit's own HTTP/2 decoding
(tshark is the judge of both).

The server, by the call's `:path`:
- `/lab.Greeter/SayHello`: `:status 200`, one gRPC message, trailers `grpc-status 0`;
- `/lab.Greeter/Unavailable`: a trailers-only response, `grpc-status 14` and `grpc-message`,
  as a gRPC proxy answers when it has no ready backend;
- `/lab.Greeter/Reset`: RST_STREAM INTERNAL_ERROR (2), as a proxy whose upstream went away;
- a third PING in a row: GOAWAY ENHANCE_YOUR_CALM (11) with debug data `too_many_pings`, as
  gRPC servers answer clients whose keepalive pings too often; then it closes.

HPACK: the client sends every header as a literal without indexing, strings raw. The server
indexes: `:status 200` from the static table, its other headers added to its dynamic table on
first use and then sent by index, so the second response of a connection needs the table.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0, 1, 3, 4, 6, 7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
INTERNAL_ERROR, ENHANCE_YOUR_CALM = 2, 11
SERVICE = "/lab.Greeter/"
#: the pings in a row the server takes before its GOAWAY
PINGS_ALLOWED = 2
#: the static-table entries the server's encoder uses (RFC 7541 Appendix A)
STATIC = {(b":status", b"200"): 8}
STATIC_NAMES = {b"content-type": 31}
STATIC_SIZE = 61


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack("!I", len(payload))[1:] + struct.pack("!BBI", kind, flags, stream) + payload


def read_frame(sock: socket.socket, buf: bytearray) -> tuple[int, int, int, bytes] | None:
    """The next frame (type, flags, stream, payload) from `sock`, `buf` holding what was read
    beyond it; None at the end of the stream."""
    while True:
        if len(buf) >= 9:
            length = int.from_bytes(buf[:3], "big")
            if len(buf) >= 9 + length:
                kind, flags, stream = struct.unpack("!BBI", buf[3:9])
                payload = bytes(buf[9 : 9 + length])
                del buf[: 9 + length]
                return kind, flags, stream & 0x7FFFFFFF, payload
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk


def _integer(value: int, prefix: int, first: int) -> bytes:
    """An HPACK integer with a `prefix`-bit prefix, `first` holding the pattern bits."""
    limit = (1 << prefix) - 1
    if value < limit:
        return bytes([first | value])
    out, value = [first | limit], value - limit
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def _string(text: bytes) -> bytes:
    return _integer(len(text), 7, 0) + text


def _read_integer(block: bytes, pos: int, prefix: int) -> tuple[int, int]:
    limit = (1 << prefix) - 1
    value, pos = block[pos] & limit, pos + 1
    shift = 0
    while value >= limit:
        byte = block[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return value, pos


def _read_string(block: bytes, pos: int) -> tuple[bytes, int]:
    if block[pos] & 0x80:
        raise ValueError("Huffman-coded string: not what the lab sends")
    length, pos = _read_integer(block, pos, 7)
    return block[pos : pos + length], pos + length


def request_block(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The client's encoding: each header a literal without indexing, new name, raw."""
    return b"".join(b"\x00" + _string(n) + _string(v) for n, v in headers)


def read_request_block(block: bytes) -> dict[bytes, bytes]:
    """The server's reading of the client's encoding (nothing else is accepted)."""
    headers, pos = {}, 0
    while pos < len(block):
        if block[pos] != 0:
            raise ValueError(f"HPACK representation {block[pos]:#x}: not what the lab sends")
        name, pos = _read_string(block, pos + 1)
        headers[name], pos = _read_string(block, pos)
    return headers


@dataclass
class Table:
    """The server's dynamic table (newest first), as the client mirrors it to decode."""

    entries: list[tuple[bytes, bytes]] = field(default_factory=list)

    def encode(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        out = b""
        for name, value in headers:
            dynamic = [STATIC_SIZE + 1 + i for i, e in enumerate(self.entries)
                       if e == (name, value)]
            if (name, value) in STATIC or dynamic:
                out += _integer(STATIC.get((name, value)) or dynamic[0], 7, 0x80)
                continue
            index = STATIC_NAMES.get(name, 0)
            out += _integer(index, 6, 0x40) + (b"" if index else _string(name)) + _string(value)
            self.entries.insert(0, (name, value))
        return out

    def decode(self, block: bytes) -> dict[bytes, bytes]:
        names = {i: n for n, i in STATIC_NAMES.items()}
        static = {i: e for e, i in STATIC.items()}
        headers, pos = {}, 0
        while pos < len(block):
            if block[pos] & 0x80:
                index, pos = _read_integer(block, pos, 7)
                name, value = static.get(index) or self.entries[index - STATIC_SIZE - 1]
            elif block[pos] & 0xC0 == 0x40:
                index, pos = _read_integer(block, pos, 6)
                name, pos = (names[index], pos) if index else _read_string(block, pos)
                value, pos = _read_string(block, pos)
                self.entries.insert(0, (name, value))
            else:
                raise ValueError(f"HPACK representation {block[pos]:#x}: not what the lab sends")
            headers[name] = value
        return headers


def grpc_message(body: bytes) -> bytes:
    """A gRPC length-prefixed message, uncompressed."""
    return struct.pack("!BI", 0, len(body)) + body


def serve(sock: socket.socket) -> None:
    """One client connection, until its GOAWAY or the server's."""
    buf, table = bytearray(), Table()
    while len(buf) < len(PREFACE):
        chunk = sock.recv(65536)
        if not chunk:
            return
        buf += chunk
    if bytes(buf[: len(PREFACE)]) != PREFACE:
        return
    del buf[: len(PREFACE)]
    sock.sendall(frame(SETTINGS, 0, 0, struct.pack("!HI", 3, 100)))  # MAX_CONCURRENT_STREAMS
    paths: dict[int, bytes] = {}
    pings = last = 0
    while (got := read_frame(sock, buf)) is not None:
        kind, flags, stream, payload = got
        if kind == SETTINGS and not flags & ACK:
            sock.sendall(frame(SETTINGS, ACK, 0))
        elif kind == HEADERS:
            paths[stream] = read_request_block(payload).get(b":path", b"")
            last = stream
        elif kind == DATA and flags & END_STREAM:
            sock.sendall(_answer(table, stream, paths.pop(stream, b"")))
        elif kind == PING and not flags & ACK:
            pings += 1
            if pings > PINGS_ALLOWED:
                sock.sendall(frame(GOAWAY, 0, 0, struct.pack("!II", last, ENHANCE_YOUR_CALM)
                                   + b"too_many_pings"))
                break
            sock.sendall(frame(PING, ACK, 0, payload))
        elif kind == GOAWAY:
            break
    # The client's FIN before ours is closed: nothing it sent is left unread, so no RST.
    sock.shutdown(socket.SHUT_WR)
    while sock.recv(65536):
        pass


def _answer(table: Table, stream: int, path: bytes) -> bytes:
    grpc = [(b"content-type", b"application/grpc")]
    if path == f"{SERVICE}SayHello".encode():
        return (frame(HEADERS, END_HEADERS, stream, table.encode([(b":status", b"200"), *grpc]))
                + frame(DATA, 0, stream, grpc_message(b"hello from the lab"))
                + frame(HEADERS, END_HEADERS | END_STREAM, stream,
                        table.encode([(b"grpc-status", b"0")])))
    if path == f"{SERVICE}Unavailable".encode():
        return frame(HEADERS, END_HEADERS | END_STREAM, stream, table.encode(
            [(b":status", b"200"), *grpc, (b"grpc-status", b"14"),
             (b"grpc-message", b"no ready endpoint")]))
    return frame(RST_STREAM, 0, stream, struct.pack("!I", INTERNAL_ERROR))


def call(sock: socket.socket, buf: bytearray, table: Table, stream: int, host: str,
         method: str) -> str:
    """One unary call on stream `stream`; what came back, said as grpcurl would."""
    block = request_block([(b":method", b"POST"), (b":scheme", b"http"),
                           (b":path", f"{SERVICE}{method}".encode()),
                           (b":authority", host.encode()),
                           (b"content-type", b"application/grpc"), (b"te", b"trailers")])
    sock.sendall(frame(HEADERS, END_HEADERS, stream, block)
                 + frame(DATA, END_STREAM, stream, grpc_message(b"lab")))
    status: dict[bytes, bytes] = {}
    while (got := read_frame(sock, buf)) is not None:
        kind, flags, on, payload = got
        if kind == SETTINGS and not flags & ACK:
            sock.sendall(frame(SETTINGS, ACK, 0))
        elif kind == HEADERS:
            status |= table.decode(payload)
            if flags & END_STREAM and on == stream:
                message = status.get(b"grpc-message", b"").decode()
                return f"{method}: grpc-status {status.get(b'grpc-status', b'?').decode()}" \
                       + (f" ({message})" if message else "")
        elif kind == RST_STREAM and on == stream:
            return f"{method}: RST_STREAM {int.from_bytes(payload, 'big')}"
    raise ValueError(f"{method}: the connection ended mid-call")


def calls(sock: socket.socket, host: str, methods: list[str]) -> str:
    """The preface, one call per method, then pings until the server's GOAWAY; a summary."""
    buf, table = bytearray(), Table()
    sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
    said = [call(sock, buf, table, 1 + 2 * i, host, m) for i, m in enumerate(methods)]
    for n in range(PINGS_ALLOWED + 1):
        sock.sendall(frame(PING, 0, 0, struct.pack("!Q", n)))
    while (got := read_frame(sock, buf)) is not None:
        kind, _, _, payload = got
        if kind == GOAWAY:
            code = struct.unpack("!I", payload[4:8])[0]
            said.append(f"GOAWAY {code} {payload[8:].decode(errors='replace')}")
    return "; ".join(said)

"""HPACK (RFC 7541), the header compression of HTTP/2, decoded: what `show` needs to print a
request's `:method :path`, a response's `:status` and gRPC's `grpc-status` trailers. No HPACK
package is among pcapkit's dependencies, and the decoder is small: the static table, the
dynamic table each direction of a connection keeps, and the Huffman code.

Input is the capture's, so the attacker's: a length, an index or a table size is only ever
checked against bytes already held, never used to reserve memory. The dynamic table is evicted
to the size the encoder sets, which is itself capped at `MAX_TABLE_SIZE` whatever it asks for.
A block that breaks a rule raises `HpackError`; the connection's table is unknown from there.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: RFC 7541 Appendix A: the static table, index 1 to 61
STATIC_TABLE: tuple[tuple[bytes, bytes], ...] = tuple(
    (name.encode(), value.encode()) for name, value in (
        (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"),
        (":path", "/index.html"), (":scheme", "http"), (":scheme", "https"),
        (":status", "200"), (":status", "204"), (":status", "206"), (":status", "304"),
        (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""),
        ("accept", ""), ("access-control-allow-origin", ""), ("age", ""), ("allow", ""),
        ("authorization", ""), ("cache-control", ""), ("content-disposition", ""),
        ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
        ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""),
        ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""),
        ("if-match", ""), ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""),
        ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""), ("location", ""),
        ("max-forwards", ""), ("proxy-authenticate", ""), ("proxy-authorization", ""),
        ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""), ("server", ""),
        ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
        ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", "")))

#: RFC 7541 Appendix B: the Huffman code's length in bits for each symbol 0-255 and EOS (256).
#: The code is canonical (codes assigned in order of length, then symbol), so the lengths
#: alone give it: `HUFFMAN_CODES`.
HUFFMAN_LENGTHS = (
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5,
    7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22,
    22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23,
    22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22,
    21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26,
    26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20,
    24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27,
    27, 28, 27, 27, 27, 27, 27, 26, 30)
EOS = 256


def _canonical(lengths: tuple[int, ...]) -> dict[tuple[int, int], int]:
    """(length, code) → symbol of the canonical code with these lengths."""
    codes: dict[tuple[int, int], int] = {}
    code, previous = -1, 0
    for symbol in sorted(range(len(lengths)), key=lambda s: (lengths[s], s)):
        code = (code + 1) << (lengths[symbol] - previous)
        previous = lengths[symbol]
        codes[(previous, code)] = symbol
    return codes


HUFFMAN_CODES = _canonical(HUFFMAN_LENGTHS)
HUFFMAN_SHORTEST, HUFFMAN_LONGEST = min(HUFFMAN_LENGTHS), max(HUFFMAN_LENGTHS)
#: each entry's size counts its name, its value and this overhead (RFC 7541 §4.1)
ENTRY_OVERHEAD = 32
#: the dynamic table's size before any SETTINGS_HEADER_TABLE_SIZE changes it (RFC 9113 §6.5.2)
DEFAULT_TABLE_SIZE = 4096
#: the largest dynamic table kept, whatever size an encoder sets (real ones stay at 4096-65536)
MAX_TABLE_SIZE = 1 << 16
#: an integer of more continuation bytes than this is no header's length or index
MAX_INTEGER_BYTES = 4


class HpackError(ValueError):
    """A header block that breaks RFC 7541 (or pcapkit's caps): its table is lost."""


def huffman(data: bytes) -> bytes:
    """`data` Huffman-decoded (RFC 7541 §5.2): padding of at most 7 bits, all ones."""
    out = bytearray()
    code = length = 0
    for byte in data:
        for shift in range(7, -1, -1):
            code, length = (code << 1) | (byte >> shift) & 1, length + 1
            symbol = HUFFMAN_CODES.get((length, code)) if length >= HUFFMAN_SHORTEST else None
            if symbol == EOS:
                raise HpackError("Huffman EOS inside a string")
            if symbol is not None:
                out.append(symbol)
                code = length = 0
            elif length > HUFFMAN_LONGEST:
                raise HpackError("not a Huffman code")
    if length > 7 or code != (1 << length) - 1:
        raise HpackError("Huffman padding is not a prefix of EOS")
    return bytes(out)


@dataclass
class Reader:
    """A header block read front to back."""

    data: bytes
    pos: int = 0

    def integer(self, prefix: int) -> int:
        """An integer with a `prefix`-bit prefix (RFC 7541 §5.1), from the current byte."""
        if self.pos >= len(self.data):
            raise HpackError("header block cut short")
        limit = (1 << prefix) - 1
        value = self.data[self.pos] & limit
        self.pos += 1
        if value < limit:
            return value
        for shift in range(0, 7 * MAX_INTEGER_BYTES, 7):
            if self.pos >= len(self.data):
                raise HpackError("header block cut short")
            byte = self.data[self.pos]
            self.pos += 1
            value += (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise HpackError("integer too long")

    def string(self) -> bytes:
        """A string literal (RFC 7541 §5.2): its length, checked against the block."""
        if self.pos >= len(self.data):
            raise HpackError("header block cut short")
        coded = self.data[self.pos] & 0x80
        length = self.integer(7)
        if self.pos + length > len(self.data):
            raise HpackError("string longer than its header block")
        raw = self.data[self.pos : self.pos + length]
        self.pos += length
        return huffman(raw) if coded else raw


@dataclass
class Decoder:
    """One direction's HPACK state: its dynamic table, newest entry first."""

    max_size: int = DEFAULT_TABLE_SIZE
    entries: deque[tuple[bytes, bytes]] = field(default_factory=deque)
    size: int = 0

    def _evict(self) -> None:
        while self.size > self.max_size:
            name, value = self.entries.pop()
            self.size -= len(name) + len(value) + ENTRY_OVERHEAD

    def _add(self, name: bytes, value: bytes) -> None:
        # An entry larger than the table empties it and is not added (RFC 7541 §4.4).
        self.entries.appendleft((name, value))
        self.size += len(name) + len(value) + ENTRY_OVERHEAD
        self._evict()

    def _entry(self, index: int) -> tuple[bytes, bytes]:
        if 1 <= index <= len(STATIC_TABLE):
            return STATIC_TABLE[index - 1]
        if 0 <= index - len(STATIC_TABLE) - 1 < len(self.entries):
            return self.entries[index - len(STATIC_TABLE) - 1]
        raise HpackError(f"no table entry {index}")

    def decode(self, block: bytes) -> list[tuple[str, str]]:
        """A whole header block (HEADERS or PUSH_PROMISE and its CONTINUATIONs) as (name,
        value) pairs in order, the dynamic table updated as the encoder's was."""
        headers: list[tuple[bytes, bytes]] = []
        read = Reader(block)
        while read.pos < len(block):
            first = block[read.pos]
            if first & 0x80:  # indexed field
                headers.append(self._entry(read.integer(7)))
            elif first & 0xE0 == 0x20:  # dynamic table size update
                self.max_size = min(read.integer(5), MAX_TABLE_SIZE)
                self._evict()
            else:  # literal: with incremental indexing (01), without (0000), never (0001)
                indexing = bool(first & 0x40)
                index = read.integer(6 if indexing else 4)
                name = self._entry(index)[0] if index else read.string()
                value = read.string()
                headers.append((name, value))
                if indexing:
                    self._add(name, value)
        return [(n.decode("utf-8", "replace"), v.decode("utf-8", "replace"))
                for n, v in headers]

"""A DNS message's header, first question and answers, read byte by byte for the reference decoder.

The rules are those of docs/packet-table.md (section DNS): names follow backward compression
pointers only (at most 64 hops), labels are joined with `.`, bytes outside printable ASCII and
the bytes `.` and `\\` are written `\\DDD`, the root is `.`. dpkt's `unpack_name` is not used: it
follows forward pointers too and decodes labels as text, which differs on exactly the malformed
names this table must describe.
"""

from __future__ import annotations

import re
import struct
from typing import Any

from pcapkit.decode.addresses import ipv4_text, ipv6_text
from pcapkit.decode.schema import Layer, Status

#: ports whose UDP or TCP payload is a DNS message: unicast DNS, mDNS (RFC 6762) and LLMNR
#: (RFC 4795), both of which use DNS's message format unchanged
DNS_PORT, MDNS_PORT, LLMNR_PORT = 53, 5353, 5355
DNS_PORTS = (DNS_PORT, MDNS_PORT, LLMNR_PORT)
HEADER = struct.Struct(">HHHH")  #: id, flags, qdcount, ancount (nscount, arcount not read)
HEADER_LEN = 12
QUESTION_TAIL = struct.Struct(">HH")  #: type, class after the name
ANSWER_FIXED = struct.Struct(">HHIH")  #: type, class, TTL, rdlength after the name
MAX_HOPS = 64
MAX_ANSWERS = 64
QR = 0x8000
RCODE_MASK = 0x000F
TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_PTR, TYPE_AAAA = 1, 2, 5, 12, 28
NAME_TYPES = (TYPE_NS, TYPE_CNAME, TYPE_PTR)

#: a label byte that must be escaped: anything but printable ASCII 0x21-0x7E, plus `.` and `\`
_NEEDS_ESCAPE = re.compile(rb"[^\x21-\x2d\x2f-\x5b\x5d-\x7e]")
_ESCAPED = [chr(b) if _NEEDS_ESCAPE.match(bytes([b])) is None else f"\\{b:03d}" for b in range(256)]


class _Stop(Exception):
    """Ends the parse of a message: truncated or malformed."""

    def __init__(self, status: Status) -> None:
        self.status = status


def label_text(label: bytes) -> str:
    """One label as dig writes it."""
    if _NEEDS_ESCAPE.search(label) is None:
        return label.decode("ascii")
    return "".join(_ESCAPED[b] for b in label)


def read_name(msg: bytes, pos: int) -> tuple[str, int]:
    """The name at `pos` as text and the position just after it (after its first pointer)."""
    labels: list[str] = []
    after = -1
    hops = 0
    n = len(msg)
    while True:
        if pos >= n:
            raise _Stop(Status.TRUNCATED)
        length = msg[pos]
        if length == 0:
            if after < 0:
                after = pos + 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 2 > n:
                raise _Stop(Status.TRUNCATED)
            target = ((length & 0x3F) << 8) | msg[pos + 1]
            if after < 0:
                after = pos + 2
            hops += 1
            if target >= pos or hops > MAX_HOPS:
                raise _Stop(Status.MALFORMED)
            pos = target
            continue
        if kind:
            raise _Stop(Status.MALFORMED)
        end = pos + 1 + length
        if end > n:
            raise _Stop(Status.TRUNCATED)
        labels.append(label_text(msg[pos + 1 : end]))
        pos = end
    return (".".join(labels) if labels else "."), after


def _answer(msg: bytes, pos: int) -> tuple[dict[str, Any], int]:
    name, pos = read_name(msg, pos)
    if pos + ANSWER_FIXED.size > len(msg):
        raise _Stop(Status.TRUNCATED)
    rtype, _class, ttl, rdlength = ANSWER_FIXED.unpack_from(msg, pos)
    pos += ANSWER_FIXED.size
    end = pos + rdlength
    if end > len(msg):
        raise _Stop(Status.TRUNCATED)
    data: str | None = None
    if rtype == TYPE_A and rdlength == 4:
        data = ipv4_text(msg[pos:end])
    elif rtype == TYPE_AAAA and rdlength == 16:
        data = ipv6_text(msg[pos:end])
    elif rtype in NAME_TYPES:
        data = read_name(msg, pos)[0]
    return {"name": name, "type": rtype, "ttl": ttl, "data": data}, end


def decode_dns(msg: bytes, row: dict[str, Any]) -> None:
    """Fill the `dns_*` columns of `row` from the message `msg` (at least 12 bytes long)."""
    dns_id, flags, qdcount, ancount = HEADER.unpack_from(msg)
    row["dns_id"] = dns_id
    row["dns_flags"] = flags
    row["dns_qr"] = bool(flags & QR)
    row["dns_rcode"] = flags & RCODE_MASK
    row["dns_qdcount"] = qdcount
    row["dns_ancount"] = ancount
    pos = HEADER_LEN
    try:
        for i in range(qdcount):
            name, pos = read_name(msg, pos)
            if pos + QUESTION_TAIL.size > len(msg):
                raise _Stop(Status.TRUNCATED)
            if i == 0:
                qname, qtype = name, QUESTION_TAIL.unpack_from(msg, pos)[0]
            pos += QUESTION_TAIL.size
    except _Stop as stop:
        row["status"], row["status_layer"] = stop.status, Layer.DNS
        return
    if qdcount:
        row["dns_qname"], row["dns_qtype"] = qname, qtype
    answers: list[dict[str, Any]] = []
    row["dns_answers"] = answers
    try:
        for _ in range(min(ancount, MAX_ANSWERS)):
            answer, pos = _answer(msg, pos)
            answers.append(answer)
    except _Stop as stop:
        row["status"], row["status_layer"] = stop.status, Layer.DNS

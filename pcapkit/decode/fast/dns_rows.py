"""DNS on its ports (`DNS_PORTS`: DNS, mDNS, LLMNR): the messages of the few DNS rows, parsed
one by one by `dns_message`.

DNS is a small share of any capture's rows, and a message's names are a walk of pointers and
labels that does not vectorise; the same parser as the reference decoder's keeps the two
decoders identical on it (tests/decode/test_dns.py holds it to tshark).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from pcapkit.decode.dns_message import HEADER_LEN, decode_dns
from pcapkit.decode.fast.columns import LAYER_CODE, OBJECTS, STATUS_CODE, Columns, Ints
from pcapkit.decode.fast.transport import Payload
from pcapkit.decode.fast.tunnel import tunnel_rows
from pcapkit.decode.schema import Layer, Status

TCP_PREFIX = 2  #: the length prefix of a DNS message over TCP, not read
HEADER_COLUMNS = ("dns_flags", "dns_qr", "dns_rcode", "dns_qdcount", "dns_ancount",
                  "dns_qtype")


def dns_rows(p: Payload) -> npt.NDArray[np.bool_]:
    mine: npt.NDArray[np.bool_] = p.whole & p.dns_port()
    return mine


def decode_dns_rows(buffer: bytes | memoryview, offset: Ints, cols: Columns, tcp: Payload,
                    udp: Payload) -> None:
    """The DNS columns of the TCP and UDP rows to or from a DNS port (UDP tunnel ports aside).

    Lengths are checked against the captured bytes: messages are read from the buffer itself."""
    to_tunnel, _ = tunnel_rows(udp)
    mine = dns_rows(udp) & ~to_tunnel
    rows, start, end = udp.rows[mine], udp.start[mine], udp.end[mine]
    short = end - start < HEADER_LEN
    cols.stop(rows[short], Status.TRUNCATED, Layer.DNS)
    parts = [(rows[~short], start[~short], end[~short])]
    mine = dns_rows(tcp)
    rows, start, end = tcp.rows[mine], tcp.start[mine] + TCP_PREFIX, tcp.end[mine]
    whole = end - start >= HEADER_LEN  # shorter: a bare ACK or a continuation, not parsed
    parts.append((rows[whole], start[whole], end[whole]))
    rows, start, end = (np.concatenate([part[i] for part in parts]) for i in range(3))
    _parse(buffer, offset, cols, rows, start, end)


def _parse(buffer: bytes | memoryview, offset: Ints, cols: Columns, rows: Ints, start: Ints,
           end: Ints) -> None:
    """Parse each distinct message once: lookups repeat (retries, search domains, storms), and
    two messages that differ only in their id have the same columns but `dns_id`."""
    base = offset[rows]
    seen: dict[bytes, int] = {}
    parsed: list[dict[str, Any]] = []
    index = np.empty(len(rows), np.int64)
    for i, (a, b) in enumerate(zip((base + start).tolist(), (base + end).tolist(), strict=True)):
        key = bytes(buffer[a + 2 : b])
        j = seen.get(key)
        if j is None:
            j = seen[key] = len(parsed)
            fields: dict[str, Any] = {}
            decode_dns(bytes(buffer[a:b]), fields)
            parsed.append(fields)
        index[i] = j
    ids = np.frombuffer(buffer, np.uint8)
    cols.put("dns_id", rows, (ids[base + start].astype(np.int64) << 8) | ids[base + start + 1])
    for name in (*HEADER_COLUMNS, *OBJECTS, "status"):
        have = np.array([name in fields for fields in parsed], np.bool_)
        if not have.any():
            continue
        known = have[index]
        where, which = rows[known], index[known]
        distinct = [fields.get(name) for fields in parsed]
        if name in OBJECTS:
            cols.put_objects(name, where, which, distinct)
        elif name == "status":  # set only where the parse stopped: truncated or malformed
            status = np.array([STATUS_CODE[Status(s or Status.OK)] for s in distinct], np.uint8)
            cols.status[where] = status[which]
            cols.layer[where] = LAYER_CODE[Layer.DNS]
        else:
            cols.put(name, where, np.array(distinct)[which])

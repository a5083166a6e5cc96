"""DNS messages in the kernel: header, questions and answers (docs/packet-table.md, DNS).

The same rules as `pcapkit.decode.dns_message` (the reference decoder's parser), byte for byte:
names follow backward pointers only (at most 64 hops), labels are escaped as dig does; names
are interned (`texts`), answers appended to the chunk's flat answer list.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pcapkit.decode.compiled import layout as L
from pcapkit.decode.compiled.jit import Int, inlined
from pcapkit.decode.compiled.layout import Out, put
from pcapkit.decode.compiled.texts import (
    ANSWERS,
    KIND_NAME,
    KIND_V4,
    KIND_V6,
    Texts,
    add_answer,
    intern,
)
from pcapkit.decode.dns_message import (
    HEADER_LEN,
    MAX_ANSWERS,
    MAX_HOPS,
    QR,
    RCODE_MASK,
    TYPE_A,
    TYPE_AAAA,
    TYPE_CNAME,
    TYPE_NS,
    TYPE_PTR,
)
from pcapkit.decode.fast.columns import LAYER_CODE, STATUS_CODE
from pcapkit.decode.schema import Layer, Status

NAME_OK, NAME_TRUNCATED, NAME_MALFORMED, NAME_TOO_LONG = 0, 1, 2, 3
TRUNCATED, MALFORMED = STATUS_CODE[Status.TRUNCATED], STATUS_CODE[Status.MALFORMED]
DNS_LAYER = LAYER_CODE[Layer.DNS]
QUESTION_TAIL, ANSWER_FIXED = 4, 10
DOT, BACKSLASH, ZERO = 0x2E, 0x5C, 0x30


@inlined
def read_name(buf: npt.NDArray[np.uint8], m0: Int, mlen: Int, pos: Int,
              scratch: npt.NDArray[np.uint8]) -> tuple[int, Int, Int]:
    """The name at `pos` of the message at `m0` written into `scratch`: (NAME_* outcome,
    position after the name, text length)."""
    after = -1
    hops = 0
    w = 0
    while True:
        if pos >= mlen:
            return NAME_TRUNCATED, 0, 0
        length = np.int64(buf[m0 + pos])
        if length == 0:
            if after < 0:
                after = pos + 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 2 > mlen:
                return NAME_TRUNCATED, 0, 0
            target = ((length & 0x3F) << 8) | np.int64(buf[m0 + pos + 1])
            if after < 0:
                after = pos + 2
            hops += 1
            if target >= pos or hops > MAX_HOPS:
                return NAME_MALFORMED, 0, 0
            pos = target
            continue
        if kind:
            return NAME_MALFORMED, 0, 0
        end = pos + 1 + length
        if end > mlen:
            return NAME_TRUNCATED, 0, 0
        if w + 1 + 4 * length > len(scratch):
            return NAME_TOO_LONG, 0, 0
        if w:
            scratch[w] = DOT
            w += 1
        for k in range(pos + 1, end):
            b = buf[m0 + k]
            if 0x21 <= b <= 0x7E and b != DOT and b != BACKSLASH:
                scratch[w] = b
                w += 1
            else:
                scratch[w] = BACKSLASH
                scratch[w + 1] = ZERO + b // 100
                scratch[w + 2] = ZERO + (b // 10) % 10
                scratch[w + 3] = ZERO + b % 10
                w += 4
        pos = end
    if w == 0:
        scratch[0] = DOT
        w = 1
    return NAME_OK, after, w


@inlined
def _u16(buf: npt.NDArray[np.uint8], a: Int) -> Int:
    return (np.int64(buf[a]) << 8) | np.int64(buf[a + 1])


@inlined
def _name_failed(o: Out, i: Int, outcome: Int) -> None:
    if outcome == NAME_TOO_LONG:
        o.deferred[i] = True
    else:
        o.status[i] = TRUNCATED if outcome == NAME_TRUNCATED else MALFORMED
        o.layer[i] = DNS_LAYER


@inlined
def decode_message(buf: npt.NDArray[np.uint8], m0: Int, mlen: Int, i: Int, o: Out, t: Texts,
                   scratch: npt.NDArray[np.uint8]) -> None:
    """The `dns_*` columns of row `i` from the message of `mlen` (≥ 12) bytes at `m0`."""
    flags = _u16(buf, m0 + 2)
    qdcount, ancount = _u16(buf, m0 + 4), _u16(buf, m0 + 6)
    put(o, L.DNS_ID, i, _u16(buf, m0))
    put(o, L.DNS_FLAGS, i, flags)
    put(o, L.DNS_QR, i, (flags & QR) >> 15)
    put(o, L.DNS_RCODE, i, flags & RCODE_MASK)
    put(o, L.DNS_QDCOUNT, i, qdcount)
    put(o, L.DNS_ANCOUNT, i, ancount)
    pos = HEADER_LEN
    qname: Int = -1
    qtype: Int = 0
    for q in range(qdcount):
        outcome, after, w = read_name(buf, m0, mlen, pos, scratch)
        if outcome != NAME_OK:
            return _name_failed(o, i, outcome)
        if after + QUESTION_TAIL > mlen:
            return _name_failed(o, i, NAME_TRUNCATED)
        if q == 0:
            qname = intern(t, KIND_NAME, scratch, 0, w)
            qtype = _u16(buf, m0 + after)
        pos = after + QUESTION_TAIL
    if qdcount:
        o.text[L.DNS_QNAME, i] = qname
        put(o, L.DNS_QTYPE, i, qtype)
    o.answered[i] = True
    o.ans_start[i] = o.ans_end[i] = t.meta[ANSWERS]
    for _ in range(min(ancount, MAX_ANSWERS)):
        outcome, after, w = read_name(buf, m0, mlen, pos, scratch)
        if outcome != NAME_OK:
            _name_failed(o, i, outcome)
            break
        name = intern(t, KIND_NAME, scratch, 0, w)
        if after + ANSWER_FIXED > mlen:
            _name_failed(o, i, NAME_TRUNCATED)
            break
        a = m0 + after
        rtype, ttl, rdlength = _u16(buf, a), (_u16(buf, a + 4) << 16) | _u16(buf, a + 6), \
            _u16(buf, a + 8)
        pos = after + ANSWER_FIXED
        end = pos + rdlength
        if end > mlen:
            _name_failed(o, i, NAME_TRUNCATED)
            break
        data: Int = -1
        if rtype == TYPE_A and rdlength == 4:
            data = intern(t, KIND_V4, buf, m0 + pos, 4)
        elif rtype == TYPE_AAAA and rdlength == 16:
            data = intern(t, KIND_V6, buf, m0 + pos, 16)
        elif rtype in (TYPE_NS, TYPE_CNAME, TYPE_PTR):
            outcome, _, w = read_name(buf, m0, mlen, pos, scratch)
            if outcome != NAME_OK:
                _name_failed(o, i, outcome)
                break
            data = intern(t, KIND_NAME, scratch, 0, w)
        add_answer(t, name, rtype, ttl, data)
        pos = end
    o.ans_end[i] = t.meta[ANSWERS]

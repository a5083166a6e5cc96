"""IP addresses as text, the way `inet_ntop` writes them, remembered because captures repeat them.

A capture of a few pods talks among a few dozen addresses, so a dictionary lookup replaces
almost every call to `inet_ntop`; the memo is emptied when it grows past a bound so that a
scan of random addresses cannot grow it without limit.
"""

from __future__ import annotations

import socket

#: entries kept per family before the memo is emptied
MEMO_LIMIT = 1 << 16

_v4: dict[bytes, str] = {}
_v6: dict[bytes, str] = {}


def ipv4_text(raw: bytes) -> str:
    """`10.244.1.5` for the 4 bytes of an IPv4 address."""
    text = _v4.get(raw)
    if text is None:
        if len(_v4) >= MEMO_LIMIT:
            _v4.clear()
        text = _v4[raw] = socket.inet_ntop(socket.AF_INET, raw)
    return text


def ipv6_text(raw: bytes) -> str:
    """`fd00::1` (or `::ffff:1.2.3.4`) for the 16 bytes of an IPv6 address."""
    text = _v6.get(raw)
    if text is None:
        if len(_v6) >= MEMO_LIMIT:
            _v6.clear()
        text = _v6[raw] = socket.inet_ntop(socket.AF_INET6, raw)
    return text

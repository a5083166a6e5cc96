"""IP addresses as text, the way `inet_ntop` writes them, remembered because captures repeat them.

A capture of a few pods talks among a few dozen addresses, so a dictionary lookup replaces
almost every call to `inet_ntop`; the memo is emptied when it grows past a bound so that a
scan of random addresses cannot grow it without limit.
"""

from __future__ import annotations

import socket

#: entries kept per family before the memo is emptied
MEMO_LIMIT = 1 << 16

_memos: dict[int, dict[bytes, str]] = {socket.AF_INET: {}, socket.AF_INET6: {}}


def _text(family: int, raw: bytes) -> str:
    memo = _memos[family]
    text = memo.get(raw)
    if text is None:
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        text = memo[raw] = socket.inet_ntop(family, raw)
    return text


def ipv4_text(raw: bytes) -> str:
    """`10.244.1.5` for the 4 bytes of an IPv4 address."""
    return _text(socket.AF_INET, raw)


def ipv6_text(raw: bytes) -> str:
    """`fd00::1` (or `::ffff:1.2.3.4`) for the 16 bytes of an IPv6 address."""
    return _text(socket.AF_INET6, raw)

"""GRE (RFC 2784, 2890) version 0: 4 bytes, then optional checksum, key and sequence words.

    | C . K S . . . . . . . . ver(3) | protocol type (EtherType) |
    [ checksum + reserved ] [ key ] [ sequence number ]
"""

from __future__ import annotations

HEADER_LEN = 4
FLAG_CHECKSUM = 0x8000
FLAG_KEY = 0x2000
FLAG_SEQUENCE = 0x1000
VERSION_MASK = 0x0007
#: inner EtherTypes decapsulated; others (ERSPAN, PPP…) are left as the outer packet
INNER = (0x0800, 0x86DD, 0x6558)

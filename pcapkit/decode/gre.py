"""GRE (RFC 2784, 2890) version 0, and PPTP's enhanced GRE (RFC 2637), version 1.

    | C . K S . . . . A . . . . ver(3) | protocol type (EtherType) |
    version 0: [ checksum + reserved ] [ key ] [ sequence number ]
    version 1: | payload length (16) | call id (16) | [ sequence ] [ acknowledgment if A ]

Version 1 always has the key field (payload length and call id) and carries PPP (0x880B).
GRE-in-UDP (RFC 8086) is the same header as a UDP payload, to port 4754.
"""

from __future__ import annotations

HEADER_LEN = 4
UDP_PORTS = (4754,)
FLAG_CHECKSUM = 0x8000
FLAG_KEY = 0x2000
FLAG_SEQUENCE = 0x1000
FLAG_ACK = 0x0080  #: version 1
VERSION_MASK = 0x0007
PPTP_VERSION, PPTP_PROTO = 1, 0x880B
CALL_ID_OFFSET = 2  #: in version 1's key field
#: inner EtherTypes decapsulated as they are; ERSPAN has its own header (`erspan`)
INNER = (0x0800, 0x86DD, 0x6558)

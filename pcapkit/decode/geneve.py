"""Geneve (RFC 8926): an 8-byte header plus options on UDP, before the inner packet.

    | ver(2) optlen(6) | O C rsvd | protocol type (EtherType, 16 bits) |
    |            VNI (24 bits)                      |   reserved    |
    | options: optlen × 4 bytes                                      |
"""

from __future__ import annotations

HEADER_LEN = 8
OPTLEN_MASK = 0x3F  #: of byte 0; options length in 4-byte words
PROTOCOL_OFFSET = 2
VNI_OFFSET = 4
PORTS = (6081,)

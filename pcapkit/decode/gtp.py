"""GTP-U version 1 (3GPP TS 29.281): mobile user-plane packets in UDP, to port 2152.

    | ver(3)=1 PT(1)=1 . E S PN | message type | length (16) | TEID (32) |
    [ sequence (16) | N-PDU (8) | next extension type (8) ]   when any of E, S, PN is set
    [ extension: length ×4 bytes, its last byte the next type ] … until a next type of 0

Only G-PDUs (message type 255) carry a user packet: IPv4 or IPv6 by its version nibble (the
header does not say which); echo, error and other messages are left undecoded.
"""

from __future__ import annotations

PORTS = (2152,)
HEADER_LEN = 8
VERSION_SHIFT, VERSION = 5, 1
FLAG_PT, OPTIONAL_FLAGS = 0x10, 0x07  #: byte 0
OPTIONAL_LEN = 4  #: sequence, N-PDU, next extension type
MESSAGE_OFFSET, G_PDU = 1, 0xFF
TEID_OFFSET = 4
NEXT_TYPE_OFFSET = 11

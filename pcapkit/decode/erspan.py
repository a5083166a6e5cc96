"""ERSPAN (draft-foschiano-erspan): mirrored Ethernet frames in GRE version 0.

- type I: protocol 0x88BE without the GRE sequence bit, no ERSPAN header at all;
- type II: protocol 0x88BE with the sequence bit, an 8-byte header;
- type III: protocol 0x22EB, a 12-byte header, plus an 8-byte platform-specific subheader when
  its O bit (byte 11, bit 0) is set; frame type (byte 10, bits 6-2) 0 is Ethernet, others
  (IP, …) are not decoded.

Types II and III start with | ver(4) vlan(12) | cos(3) en/bso(2) t(1) session id (10) |.
"""

from __future__ import annotations

TYPE_II_PROTO, TYPE_III_PROTO = 0x88BE, 0x22EB
TYPE_II_LEN, TYPE_III_LEN, SUBHEADER_LEN = 8, 12, 8
SESSION_OFFSET, SESSION_MASK = 2, 0x03FF
FLAGS_OFFSET, SUBHEADER_BIT = 11, 0x01  #: type III
FRAME_TYPE_OFFSET, FRAME_TYPE_SHIFT, FRAME_TYPE_MASK = 10, 2, 0x1F  #: type III; 0 Ethernet

"""MPLS (RFC 3032): a stack of 4-byte label entries, then the payload, with no type field.

    | label (20 bits)                       | TC(3) S(1) | TTL (8) |

The entry whose S bit is set is the bottom of the stack. The payload's type is not written
anywhere: an IP packet is recognised by its version nibble (4 or 6), as Wireshark and Zeek do;
anything else (a pseudowire control word, an Ethernet frame) is left undecoded.
"""

from __future__ import annotations

ETHERTYPES = (0x8847,)  #: unicast MPLS (0x8848, multicast, is not decoded)
UDP_PORTS = (6635,)  #: MPLS-in-UDP (RFC 7510)
ENTRY_LEN = 4
BOTTOM_BYTE, BOTTOM_MASK = 2, 0x01  #: the S bit: byte 2 of each entry
LABEL_SHIFT = 12  #: label = the entry's u32 >> 12

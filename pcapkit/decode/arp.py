"""ARP (RFC 826) after EtherType 0x0806: who has an IPv4 address, and who answers.

    | hardware type (16) | protocol type (16) | hlen (8) | plen (8) | operation (16) |
    | sender hardware address (hlen) | sender protocol address (plen) |
    | target hardware address (hlen) | target protocol address (plen) |

Only IPv4 over any hardware (protocol type 0x0800, plen 4) has its addresses decoded; other
protocol types give the operation alone.
"""

from __future__ import annotations

ETHERTYPE = 0x0806
FIXED_LEN = 8
PROTOCOL_OFFSET = 2  #: u16, an EtherType
HLEN_OFFSET, PLEN_OFFSET = 4, 5
OP_OFFSET = 6  #: u16: 1 request, 2 reply
ADDRESSES_AT = 8
IPV4, IPV4_LEN = 0x0800, 4

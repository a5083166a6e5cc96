"""VNTag (Cisco's virtual network tag, 802.1Qbh's forerunner): a 4-byte tag after its EtherType,
then the frame's next EtherType, as a VLAN tag is.

    | EtherType 0x8926 | d p dvif (14 bits) | l r ver svif (12 bits) | EtherType |
"""

from __future__ import annotations

ETHERTYPES = (0x8926,)
HEADER_LEN = 6  #: the 4-byte tag and the next EtherType

"""PPPoE session stage (RFC 2516): a 6-byte header after EtherType 0x8864, then a PPP frame.

    | ver(4)=1 type(4)=1 | code (0) | session id (16) | length (16) | PPP protocol | payload
"""

from __future__ import annotations

ETHERTYPES = (0x8864,)  #: the session stage (0x8863, discovery, carries no packets)
HEADER_LEN = 6
SESSION_OFFSET = 2

"""PPP (RFC 1661) framing as it arrives in PPPoE sessions and PPTP's enhanced GRE.

    [ 0xFF 0x03 address and control ] | protocol (2 bytes, or 1 when compressed) | payload

Address and control bytes may be left out (ACFC, RFC 1661 §6.6), and a protocol value below
0x100 may be sent as its low byte alone (PFC §6.5): a first byte with its low bit set is such
a one-byte protocol field (every full protocol value has an even high byte).
"""

from __future__ import annotations

ADDRESS_CONTROL = b"\xff\x03"
#: PPP protocol numbers → EtherType of the payload (other protocols: LCP, IPCP… not decoded)
INNER = {0x0021: 0x0800, 0x0057: 0x86DD}

"""Teredo (RFC 4380): IPv6 in UDP, between a Teredo client and a server (port 3544) or a relay
(any port).

    [ authentication: 0x0001 | id-len | au-len | client id | auth value | nonce (8) | conf (1) ]
    [ origin indication: 0x0000 | port (16, obfuscated) | address (32, obfuscated) ]
    | IPv6 header … |

Traffic to a relay uses no fixed port, so a UDP payload is also taken for Teredo when it is a
whole IPv6 packet (after those optional headers) whose length is exactly the rest of the
datagram and one of whose addresses is a Teredo address (2001:0::/32: the client's, which every
Teredo packet carries) — as Wireshark's heuristic (`teredo.heuristic_teredo`) and Zeek's
protocol detection do, with the prefix test added against chance matches.
"""

from __future__ import annotations

PORTS = (3544,)
AUTH, ORIGIN = 0x0001, 0x0000  #: the first two bytes of either optional header
AUTH_FIXED_LEN = 13  #: 4 + nonce 8 + confirmation 1, plus id-len and au-len bytes
ORIGIN_LEN = 8
PREFIX = b"\x20\x01\x00\x00"  #: 2001:0::/32
IP_VERSION = 6

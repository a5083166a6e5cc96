"""VXLAN (RFC 7348) and VXLAN-GPE: an 8-byte header on UDP before the inner packet.

    0               1               2               3
    | flags (I=0x08)| reserved (GPE: flags, reserved, next protocol)  |
    |            VNI (24 bits)                      |   reserved    |

The Linux kernel's default port is 8472 (Flannel, Cilium); IANA's is 4789 (Calico, VMware).
"""

from __future__ import annotations

HEADER_LEN = 8
VNI_OFFSET = 4  #: 3 bytes, big-endian
PORTS = (8472, 4789)

GPE_PORTS = (4790,)
GPE_NEXT_PROTO_OFFSET = 3
#: VXLAN-GPE next-protocol values → EtherType of the inner packet
GPE_NEXT_PROTO = {1: 0x0800, 2: 0x86DD, 3: 0x6558}

"""flannel's UDP backend: the pod's IP packet is the whole UDP payload, no header, on port 8285.

flannel reads packets from its TUN device and sends them as they are to the peer node's
flanneld; the payload is IPv4 or IPv6 by its version nibble.
"""

from __future__ import annotations

PORTS = (8285,)

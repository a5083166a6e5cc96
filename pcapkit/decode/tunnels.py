"""Which UDP destination ports carry which encapsulation. A plain table, extended by `register`.

Wireshark decodes VXLAN only on 4789; Flannel and Cilium use the Linux default 8472, so both are
here by default. A cluster with a custom port calls `register(port, Tunnel.VXLAN)` (or the CLI's
`--vxlan-port`).
"""

from __future__ import annotations

from pcapkit.decode import geneve, vxlan
from pcapkit.decode.schema import Tunnel

UDP_TUNNELS: dict[int, Tunnel] = {
    **{port: Tunnel.VXLAN for port in vxlan.PORTS},
    **{port: Tunnel.VXLAN_GPE for port in vxlan.GPE_PORTS},
    **{port: Tunnel.GENEVE for port in geneve.PORTS},
}

#: IP protocol numbers that carry another packet directly.
IP_TUNNELS: dict[int, Tunnel] = {4: Tunnel.IPIP, 41: Tunnel.IPIP, 47: Tunnel.GRE}

#: encapsulations removed at most; a deeper one is left as it is (also stops loops).
MAX_DEPTH = 4


def register(port: int, tunnel: Tunnel) -> None:
    """Decode UDP destination `port` as `tunnel` from now on."""
    UDP_TUNNELS[port] = tunnel

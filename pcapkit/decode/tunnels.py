"""Which encapsulation each carrier announces. Plain tables, the UDP one extended by `register`.

Wireshark decodes VXLAN only on 4789; Flannel and Cilium use the Linux default 8472, so both are
here by default. A cluster with a custom port calls `register(port, Tunnel.VXLAN)` (or the CLI's
`--vxlan-port`). Teredo is also found off its port, by its payload (`teredo`).
"""

from __future__ import annotations

from pcapkit.decode import erspan, flannel, geneve, gre, gtp, mpls, pppoe, teredo, vntag, vxlan
from pcapkit.decode.schema import Tunnel

#: UDP destination ports
UDP_TUNNELS: dict[int, Tunnel] = {
    **{port: Tunnel.VXLAN for port in vxlan.PORTS},
    **{port: Tunnel.VXLAN_GPE for port in vxlan.GPE_PORTS},
    **{port: Tunnel.GENEVE for port in geneve.PORTS},
    **{port: Tunnel.FLANNEL_UDP for port in flannel.PORTS},
    **{port: Tunnel.GTP_U for port in gtp.PORTS},
    **{port: Tunnel.TEREDO for port in teredo.PORTS},
    **{port: Tunnel.MPLS for port in mpls.UDP_PORTS},
    **{port: Tunnel.GRE for port in gre.UDP_PORTS},
}

#: UDP source ports, looked up when the destination port is no tunnel's (nor DNS's): protocols
#: whose both ends use the well-known port, or whose server answers from it, so that packets
#: to a peer's other port are decoded too (as Wireshark and Zeek do, by either port).
UDP_SOURCE_TUNNELS: dict[int, Tunnel] = {
    **{port: Tunnel.GTP_U for port in gtp.PORTS},
    **{port: Tunnel.TEREDO for port in teredo.PORTS},
}

#: IP protocol numbers that carry another packet directly.
IP_TUNNELS: dict[int, Tunnel] = {4: Tunnel.IPIP, 41: Tunnel.IPIP, 47: Tunnel.GRE}

#: GRE (version 0) protocol types that carry a tunnel header of their own; the EtherTypes
#: `gre.INNER` are decapsulated as plain GRE, and version 1 is PPTP.
GRE_TUNNELS: dict[int, Tunnel] = {
    erspan.TYPE_II_PROTO: Tunnel.ERSPAN, erspan.TYPE_III_PROTO: Tunnel.ERSPAN,
}

#: EtherTypes of shims inside the link layer, walked like VLAN tags.
ETHER_TUNNELS: dict[int, Tunnel] = {
    **{t: Tunnel.MPLS for t in mpls.ETHERTYPES},
    **{t: Tunnel.VNTAG for t in vntag.ETHERTYPES},
    **{t: Tunnel.PPPOE for t in pppoe.ETHERTYPES},
}

#: encapsulations removed at most; a deeper one is left as it is (also stops loops).
MAX_DEPTH = 4


def register(port: int, tunnel: Tunnel) -> None:
    """Decode UDP destination `port` as `tunnel` from now on."""
    UDP_TUNNELS[port] = tunnel

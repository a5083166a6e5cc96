"""The `-d` (decode-as) flags Wireshark needs to see inside the tunnels a finding's packets
crossed. pcapkit decodes VXLAN on 8472 (Flannel's and Cilium's port, the Linux default) and on
any `--vxlan-port`; Wireshark decodes it on 4789 only, and shows 8472 as plain UDP unless told
`-d udp.port==8472,vxlan`.
"""

from __future__ import annotations

import polars as pl

from pcapkit.decode.schema import Tunnel
from pcapkit.decode.tunnels import UDP_SOURCE_TUNNELS, UDP_TUNNELS

#: Wireshark's dissector for each UDP-carried tunnel pcapkit removes (`tshark -d
#: udp.port==N,help` lists them). Flannel's UDP backend carries a bare IPv4 packet.
DISSECTORS: dict[Tunnel, str] = {
    Tunnel.VXLAN: "vxlan",
    Tunnel.VXLAN_GPE: "vxlan_gpe",
    Tunnel.GENEVE: "geneve",
    Tunnel.FLANNEL_UDP: "ip",
    Tunnel.GTP_U: "gtp",
    Tunnel.TEREDO: "teredo",
    Tunnel.MPLS: "mpls",
}

#: UDP ports Wireshark 4.x decodes as a tunnel by itself (`tshark -G decodes`; the test checks
#: this table against the installed tshark): no flag is needed for these.
WIRESHARK_DEFAULTS: dict[int, str] = {
    4789: "vxlan", 4790: "vxlan_gpe", 6081: "geneve", 2152: "gtp", 3544: "teredo", 6635: "mpls",
}


def tunnel_port(tunnel: Tunnel, sport: int | None, dport: int | None) -> int | None:
    """The outer UDP port pcapkit recognised `tunnel` by: the destination's, else the source's."""
    if dport is not None and UDP_TUNNELS.get(dport) == tunnel:
        return dport
    if sport is not None and UDP_SOURCE_TUNNELS.get(sport) == tunnel:
        return sport
    return None


def decode_as(packets: pl.DataFrame) -> list[str]:
    """`udp.port==P,DISSECTOR` for each tunnel port of `packets` Wireshark would not decode by
    itself, sorted: pass each to tshark or Wireshark as `-d` (or Analyze › Decode As)."""
    return decode_as_by_finding(packets.with_columns(finding=pl.lit(0, pl.UInt32)), 1)[0]


#: the packet-table columns `decode_as_by_finding` reads
DECODE_AS_COLUMNS = ["tunnel", "outer_sport", "outer_dport"]


def decode_as_by_finding(rows: pl.DataFrame, findings: int) -> list[list[str]]:
    """`decode_as` of each finding's packets: `rows` are packets with their `finding` (0 to
    `findings` - 1)."""
    flags: list[set[tuple[int, str]]] = [set() for _ in range(findings)]
    tunnelled = rows.filter(pl.col("tunnel").is_not_null())
    for finding, tunnel, sport, dport in tunnelled.select(
            "finding", *DECODE_AS_COLUMNS).unique().rows():
        name = DISSECTORS.get(Tunnel(tunnel))
        port = tunnel_port(Tunnel(tunnel), sport, dport)
        if name is not None and port is not None and WIRESHARK_DEFAULTS.get(port) != name:
            flags[finding].add((port, name))
    return [[f"udp.port=={port},{name}" for port, name in sorted(f)] for f in flags]

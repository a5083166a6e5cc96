"""Reading a capture with tshark, and finding in its layers the packet pcapkit calls innermost.

tshark prints each field once per occurrence (`-E occurrence=a`), outermost first, and lists the
frame's layers in `frame.protocols` (`eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp`). The
layers pcapkit walks through are `THROUGH`; the first layer outside it (tcp, icmp, dns, gtp…)
ends pcapkit's walk, so the innermost IP header pcapkit describes is the last `ip`/`ipv6`
before that point, and the nth `ip` layer is the nth value of `ip.src`.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

FIELDS = (
    "frame.number", "frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.srcport", "tcp.dstport", "tcp.flags", "udp.srcport", "udp.dstport",
    "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
    "dns.id", "dns.flags.rcode", "dns.qry.name", "vxlan.vni", "geneve.vni",
    "ipv6.plen", "udp.length", "gre.proto", "gtp.teid", "mpls.label", "erspan.spanid",
    "pppoe.session_id", "gre.key.call_id",
)
#: the tshark field holding what pcapkit puts in `vni`, by `tunnel` (the outermost's: the first
#: occurrence)
KEYS = {
    "vxlan": "vxlan.vni", "geneve": "geneve.vni", "gtp_u": "gtp.teid", "mpls": "mpls.label",
    "erspan": "erspan.spanid", "pppoe": "pppoe.session_id", "pptp": "gre.key.call_id",
}
#: tshark settings that make it dissect each frame on its own, as pcapkit does: no reassembly
#: (a DNS answer split over TCP segments, IP fragments), VXLAN on the Linux port too, flannel's
#: UDP backend (a bare IP packet on 8285), Teredo off its port (its heuristic).
OPTIONS = (
    "-o", "tcp.desegment_tcp_streams:FALSE", "-o", "ip.defragment:FALSE",
    "-o", "ipv6.defragment:FALSE", "-o", "tcp.analyze_sequence_numbers:FALSE",
    "-d", "udp.port==8472,vxlan", "-d", "udp.port==8285,ip",
    "-o", "teredo.heuristic_teredo:TRUE",
)
AGGREGATOR = "\x1f"

#: which layer may follow which on pcapkit's way to the innermost IP header (`""`: the first)
FOLLOWS: dict[str, frozenset[str]] = {
    "eth": frozenset({"", "vxlan", "geneve", "gre", "erspan"}),
    "sll": frozenset({""}),
    "null": frozenset({""}),
    "loop": frozenset({""}),
    "raw": frozenset({""}),
    "ethertype": frozenset({"eth", "sll", "vlan", "vntag"}),
    "vlan": frozenset({"ethertype", "vlan"}),
    "vntag": frozenset({"ethertype"}),
    "mpls": frozenset({"ethertype", "udp", "mpls"}),
    "pppoes": frozenset({"ethertype"}),
    "ppp": frozenset({"pppoes", "gre"}),
    "erspan": frozenset({"gre"}),
    "gtp": frozenset({"udp"}),
    "teredo": frozenset({"udp"}),
    "ip": frozenset({"", "raw", "null", "loop", "sll", "ethertype", "vlan", "ip", "ipv6", "gre",
                     "geneve", "ipv6.hopopts", "ipv6.routing", "ipv6.dstopts", "ah", "mpls",
                     "ppp", "gtp", "teredo", "udp"}),
    "ipv6.hopopts": frozenset({"ipv6"}),
    "ipv6.routing": frozenset({"ipv6", "ipv6.hopopts", "ipv6.dstopts"}),
    "ipv6.dstopts": frozenset({"ipv6", "ipv6.hopopts", "ipv6.routing"}),
    "ipv6.fraghdr": frozenset({"ipv6", "ipv6.hopopts", "ipv6.routing", "ipv6.dstopts"}),
    "ah": frozenset({"ip", "ipv6", "ipv6.hopopts", "ipv6.routing", "ipv6.dstopts"}),
    "gre": frozenset({"ip", "ipv6", "udp"}),
    "udp": frozenset({"ip", "ipv6", "ipv6.hopopts", "ipv6.routing", "ipv6.dstopts",
                      "ipv6.fraghdr", "ah"}),
    "vxlan": frozenset({"udp"}),
    "geneve": frozenset({"udp"}),
}
FOLLOWS["ipv6"] = FOLLOWS["ip"]
FOLLOWS["tcp"] = FOLLOWS["udp"]
TUNNELS = ("vxlan", "geneve", "gre", "erspan")
#: GRE payload types pcapkit decapsulates (RFC 2784 protocol types = EtherTypes): IP, Ethernet,
#: ERSPAN, PPP (PPTP)
GRE_INNER = (0x0800, 0x86DD, 0x6558, 0x88BE, 0x22EB, 0x880B)
IP_LAYERS = ("ip", "ipv6")
TRANSPORTS = ("tcp", "udp")


@dataclass
class Frame:
    """One frame as tshark dissected it: every occurrence of every field."""

    values: dict[str, list[str]]

    def get(self, field: str, occurrence: int = 0) -> str | None:
        found = self.values.get(field, [])
        return found[occurrence] if occurrence < len(found) else None

    @property
    def layers(self) -> list[str]:
        return (self.get("frame.protocols") or "").split(":")


def read_tshark(path: Path) -> list[Frame]:
    """Every frame of `path` with the fields above, from one run of tshark."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), *OPTIONS, "-T", "fields", "-E", "occurrence=a",
         "-E", f"aggregator={AGGREGATOR}", *(x for f in FIELDS for x in ("-e", f))],
        capture_output=True, text=True, check=False, errors="replace",
    )
    frames = []
    for line in out.stdout.splitlines():
        cells = line.split("\t")
        pairs = zip(FIELDS, cells, strict=True)
        frames.append(Frame({name: cell.split(AGGREGATOR) if cell else [] for name, cell in pairs}))
    return frames


@dataclass
class Inner:
    """Where, among a frame's layers, the packet pcapkit describes sits."""

    ip_layer: str | None  #: "ip" or "ipv6": the innermost IP header pcapkit reaches
    ip_index: int  #: which occurrence of that layer
    transport: str | None  #: "tcp"/"udp" right after it, if any
    transport_index: int
    stop: str | None  #: the first layer pcapkit does not walk through
    beyond: list[str]  #: the layers after it


def innermost(frame: Frame) -> Inner:
    """Walk the layers while each may follow the one before (`FOLLOWS`); a tunnel layer followed
    by a packet starts the inner packet afresh, as pcapkit's primary columns do."""
    layers = frame.layers
    counts: dict[str, int] = {}
    ip_layer: str | None = None
    transport: str | None = None
    previous = ""
    stop_at = len(layers)
    for i, layer in enumerate(layers):
        if previous not in FOLLOWS.get(layer, ()):
            stop_at = i
            break
        if layer == "gre" and int(frame.get("gre.proto", counts.get("gre", 0)) or "0", 16) \
                not in GRE_INNER:
            stop_at = i
            break
        counts[layer] = counts.get(layer, 0) + 1
        if layer in IP_LAYERS:
            ip_layer, transport = layer, None
        elif layer in TRANSPORTS:
            transport = layer
        elif layer in TUNNELS and layers[i + 1 : i + 2] in (["eth"], ["ip"], ["ipv6"]):
            ip_layer = transport = None
        previous = layer
    return Inner(
        ip_layer=ip_layer,
        ip_index=counts.get(ip_layer, 0) - 1 if ip_layer else 0,
        transport=transport,
        transport_index=counts.get(transport, 0) - 1 if transport else 0,
        stop=layers[stop_at] if stop_at < len(layers) else None,
        beyond=layers[stop_at + 1 :],
    )

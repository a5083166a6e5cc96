"""Where a capture was taken: a pod's eth0, a node's `-i any`, or a node's underlay NIC.

Read from the capture itself (link types, tunnels, directions, the busiest address), named with
the snapshot when one is given: `pod NAMESPACE/NAME`, `node NAME`, or the bare address.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pcapkit.codes import LinkType
from pcapkit.decode.schema import empty_packets
from pcapkit.kube.names import node_of_address
from pcapkit.kube.snapshot import Snapshot
from pcapkit.read.records import Direction

COOKED = (LinkType.LINUX_SLL, LinkType.LINUX_SLL2)


@dataclass(frozen=True)
class Vantage:
    #: `pod` (one pod's interface), `node-any` (`-i any`), `node-underlay` (the NIC carrying
    #: the overlay), `host` (a node's own address), `interface` (an address nothing names)
    kind: str
    name: str | None  #: `pod ns/name`, `node NAME`, or an address; None when nothing says


@dataclass(frozen=True)
class AddressCounts:
    """What the vantage is read from, in a form that adds up over a capture's chunks: packet
    counts, and how many packets each address appears in, per `role`:

    - `any`: source or destination (innermost headers), every packet;
    - `out`: source of outgoing packets (`direction` OUTBOUND);
    - `t_any`, `t_out`: the same over encapsulated packets only;
    - `t_outer`: underlay source or destination of encapsulated packets.
    """

    packets: int
    tunneled: int
    counts: pl.DataFrame  #: role, ip, n
    #: packets between addresses that say nothing about the host (`_noise`): IPv6 link-local
    #: chatter (MLD reports, router solicitations) of interfaces coming up
    chatter: int = 0

    @staticmethod
    def of(packets: pl.DataFrame) -> AddressCounts:
        tunneled = packets.filter(pl.col("tunnel").is_not_null())
        out = pl.col("direction") == Direction.OUTBOUND
        parts = [
            _each("any", packets, "src", "dst"),
            _each("out", packets.filter(out), "src"),
            _each("t_any", tunneled, "src", "dst"),
            _each("t_out", tunneled.filter(out), "outer_src"),
            _each("t_outer", tunneled, "outer_src", "outer_dst"),
        ]
        chatter = packets.filter(_noise("src") & _noise("dst")).height
        return AddressCounts(packets.height, tunneled.height, _sum(pl.concat(parts)), chatter)

    @staticmethod
    def merge(parts: list[AddressCounts]) -> AddressCounts:
        if not parts:
            return AddressCounts.of(empty_packets())
        return AddressCounts(sum(p.packets for p in parts), sum(p.tunneled for p in parts),
                             _sum(pl.concat([p.counts for p in parts])),
                             sum(p.chatter for p in parts))

    def role(self, name: str) -> pl.DataFrame:
        """ip, n for one role."""
        return self.counts.filter(pl.col("role") == name).select("ip", "n")


def _each(role: str, packets: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Packets per address over `columns` (an address twice in one packet counts once)."""
    counts = [packets.group_by(pl.col(c).alias("ip")).agg(n=pl.len().cast(pl.Int64))
              for c in columns]
    if len(columns) == 2:  # a packet from an address to itself counts once
        a, b = columns
        same = packets.filter(pl.col(a) == pl.col(b))
        counts.append(same.group_by(pl.col(a).alias("ip")).agg(n=-pl.len().cast(pl.Int64)))
    return (pl.concat(counts).drop_nulls("ip").group_by("ip").agg(pl.col("n").sum())
            .select(pl.lit(role).alias("role"), "ip", pl.col("n").cast(pl.UInt64)))


def _sum(counts: pl.DataFrame) -> pl.DataFrame:
    return counts.group_by("role", "ip").agg(pl.col("n").sum()).sort("role", "ip")


def vantage_of(packets: pl.DataFrame, link_types: list[int], snap: Snapshot | None) -> Vantage:
    """The vantage of one capture's packets."""
    return vantage_from(AddressCounts.of(packets), link_types, snap)


def vantage_from(counts: AddressCounts, link_types: list[int],
                 snap: Snapshot | None) -> Vantage:
    """The vantage of one capture, from its address counts."""
    if not counts.packets:
        return Vantage("interface", None)
    if any(lt in COOKED for lt in link_types):
        return Vantage("node-any", _node_name(counts, snap))
    # Mostly encapsulated, the chatter of interfaces coming up aside: an underlay NIC.
    if counts.tunneled * 2 > counts.packets - counts.chatter:
        return Vantage("node-underlay", _node_name(counts, snap))
    ranked = _ranked(counts.role("any"))
    if ranked.is_empty():
        return Vantage("interface", None)
    busiest = str(ranked["ip"][0])
    if snap is not None:
        pod = snap.pods.filter((pl.col("ip") == busiest) & ~pl.col("host_network"))
        if pod.height:
            return Vantage("pod", f"pod {pod['namespace'][0]}/{pod['name'][0]}")
        node = snap.nodes.filter(pl.col("ip") == busiest)
        if node.height:
            return Vantage("host", f"node {node['name'][0]}")
    return Vantage("interface", busiest)


def _noise(column: str) -> pl.Expr:
    """Multicast, broadcast, link-local and unspecified addresses: they say nothing about the
    host."""
    return pl.col(column).str.contains(r"^(ff|fe[89ab]|::$|22[4-9]\.|23\d\.|255\.|0\.0\.0\.0)")


def _ranked(addrs: pl.DataFrame) -> pl.DataFrame:
    """Addresses (`ip`, `n` packets) by the number of packets they appear in, most first (ties
    by address)."""
    return (addrs.drop_nulls().filter(~_noise("ip")).group_by("ip").agg(len=pl.col("n").sum())
            .sort(["len", "ip"], descending=[True, False]))


def _node_name(counts: AddressCounts, snap: Snapshot | None) -> str | None:
    """The node a node-side capture belongs to.

    Where the capture says which way packets went (`-i any`, pcapng `epb_flags`), the node is
    the one whose address sends the outgoing packets. Otherwise (a plain underlay capture) every
    packet carries the capturing node's address: the node in the most packets. Nodes that tie
    (two nodes on one underlay) are all named, since nothing in the packets tells them apart.
    """
    # The underlay headers name nodes; inner ones mostly name pods and Services.
    prefix = "t_" if counts.tunneled else ""
    addrs = counts.role(f"{prefix}out")
    if addrs.is_empty():
        addrs = counts.role("t_outer" if counts.tunneled else "any")
    if snap is not None:
        names = snap.nodes.select("ip", pl.format("node {}", "name").alias("node"))
        by_address = addrs.join(names, on="ip", how="inner").select(pl.col("node").alias("ip"),
                                                                    "n")
        if by_address.is_empty():
            # No node address on the wire (traffic that stayed on one node): the node whose pod
            # CIDR holds the addresses seen is the one whose bridge the packets crossed.
            every = counts.role(f"{prefix}any")
            # CIDR lookups once per distinct address, not once per packet.
            owners = {ip: _owner(snap, ip) for ip in every["ip"].to_list()}
            by_address = every.select(
                pl.col("ip").replace_strict(owners, default=None, return_dtype=pl.String), "n")
        addrs = by_address
    ranked = _ranked(addrs)
    if ranked.is_empty():
        return None
    return " or ".join(str(ip) for ip in ranked.filter(pl.col("len") == ranked["len"][0])["ip"])


def _owner(snap: Snapshot, ip: str) -> str | None:
    node = node_of_address(snap, ip)
    return f"node {node}" if node else None

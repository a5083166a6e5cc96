"""Where a capture was taken: a pod's eth0, a node's `-i any`, or a node's underlay NIC.

Read from the capture itself (link types, tunnels, directions, the busiest address), named with
the snapshot when one is given: `pod NAMESPACE/NAME`, `node NAME`, or the bare address.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pcapkit.codes import LinkType
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


def vantage_of(packets: pl.DataFrame, link_types: list[int], snap: Snapshot | None) -> Vantage:
    """The vantage of one capture's packets."""
    if packets.is_empty():
        return Vantage("interface", None)
    if any(lt in COOKED for lt in link_types):
        return Vantage("node-any", _node_name(packets, snap))
    if packets.filter(pl.col("tunnel").is_not_null()).height * 2 > packets.height:
        return Vantage("node-underlay", _node_name(packets, snap))
    counts = _ranked(packets.select(pl.concat_list("src", "dst").list.unique().alias("ip"))
                     .explode("ip"))
    if counts.is_empty():
        return Vantage("interface", None)
    busiest = str(counts["ip"][0])
    if snap is not None:
        pod = snap.pods.filter((pl.col("ip") == busiest) & ~pl.col("host_network"))
        if pod.height:
            return Vantage("pod", f"pod {pod['namespace'][0]}/{pod['name'][0]}")
        node = snap.nodes.filter(pl.col("ip") == busiest)
        if node.height:
            return Vantage("host", f"node {node['name'][0]}")
    return Vantage("interface", busiest)


def _ranked(addrs: pl.DataFrame) -> pl.DataFrame:
    """Addresses by the number of packets they appear in, most first (ties by address)."""
    # Multicast, broadcast, link-local and unspecified addresses say nothing about the host.
    noise = pl.col("ip").str.contains(r"^(ff|fe[89ab]|::$|22[4-9]\.|23\d\.|255\.|0\.0\.0\.0)")
    return (addrs.drop_nulls().filter(~noise).group_by("ip").len()
            .sort(["len", "ip"], descending=[True, False]))


def _node_name(packets: pl.DataFrame, snap: Snapshot | None) -> str | None:
    """The node a node-side capture belongs to.

    Where the capture says which way packets went (`-i any`, pcapng `epb_flags`), the node is
    the one whose address sends the outgoing packets. Otherwise (a plain underlay capture) every
    packet carries the capturing node's address: the node in the most packets. Nodes that tie
    (two nodes on one underlay) are all named, since nothing in the packets tells them apart.
    """
    # The underlay headers name nodes; inner ones mostly name pods and Services.
    tunneled = packets.filter(pl.col("tunnel").is_not_null())
    if tunneled.height:
        packets = tunneled
    src, dst = ("outer_src", "outer_dst") if tunneled.height else ("src", "dst")
    outgoing = packets.filter(pl.col("direction") == Direction.OUTBOUND)
    if outgoing.height:
        addrs = outgoing.select(pl.col(src).alias("ip"))
    else:
        addrs = packets.select(pl.concat_list(src, dst).list.unique().alias("ip")).explode("ip")
    if snap is not None:
        names = snap.nodes.select("ip", pl.format("node {}", "name").alias("node"))
        by_address = addrs.join(names, on="ip", how="inner").select(pl.col("node").alias("ip"))
        if by_address.is_empty():
            # No node address on the wire (traffic that stayed on one node): the node whose pod
            # CIDR holds the addresses seen is the one whose bridge the packets crossed.
            every = packets.select(pl.concat_list("src", "dst").list.unique().alias("ip"))
            every = every.explode("ip").drop_nulls()
            # CIDR lookups once per distinct address, not once per packet.
            owners = {ip: _owner(snap, ip) for ip in every["ip"].unique().to_list()}
            by_address = every.select(
                pl.col("ip").replace_strict(owners, default=None, return_dtype=pl.String))
        addrs = by_address
    counts = _ranked(addrs)
    if counts.is_empty():
        return None
    return " or ".join(str(ip) for ip in counts.filter(pl.col("len") == counts["len"][0])["ip"])


def _owner(snap: Snapshot, ip: str) -> str | None:
    node = node_of_address(snap, ip)
    return f"node {node}" if node else None

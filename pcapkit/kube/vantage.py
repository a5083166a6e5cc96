"""Where a capture was taken: a pod's eth0, a node's `-i any`, or a node's underlay NIC.

Read from the capture itself (link types, tunnels, directions, the busiest address), named with
the snapshot when one is given: `pod NAMESPACE/NAME`, `node NAME`, or the bare address (of a
host outside the cluster, or without a snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pcapkit.codes import LinkType, SllPacketType
from pcapkit.decode.schema import empty_packets
from pcapkit.flows.tally import tally
from pcapkit.kube.names import node_of_address
from pcapkit.kube.snapshot import Snapshot
from pcapkit.read.records import Direction

COOKED = (LinkType.LINUX_SLL, LinkType.LINUX_SLL2)
PAIRS = pl.Schema({"a": pl.String, "b": pl.String, "n": pl.UInt64})


@dataclass(frozen=True)
class Vantage:
    #: `pod` (one pod's interface), `node-any` (`-i any`), `node-underlay` (the NIC carrying
    #: the overlay), `host` (a node's own address), `external` (with a snapshot: a host outside
    #: the cluster, named by its address), `interface` (an address nothing names)
    kind: str
    name: str | None  #: `pod ns/name`, `node NAME`, or an address; None when nothing says


@dataclass(frozen=True)
class AddressCounts:
    """What the vantage is read from (made of a capture's `address_kinds`): packet counts, and
    how many packets each address appears in, per `role`:

    - `any`: source or destination (innermost headers), every packet;
    - `uni`: the same over packets to one host: one to a multicast or broadcast address (an
      IPv6 neighbour solicitation, an MLD report) reaches every host on the link, so says
      nothing of whose capture it is;
    - `out`: source of outgoing packets (`direction` OUTBOUND);
    - `t_any`, `t_out`: the same over encapsulated packets only;
    - `t_outer`: underlay source or destination of encapsulated packets;
    - `t_in`: underlay destination of incoming encapsulated packets addressed to the host
      (`direction` INBOUND, and not a promiscuous capture's SLL packet for another host).

    And `pairs`: packets per pair of outermost addresses (the underlay header's of an
    encapsulated packet, else the packet's own), lower address first: which addresses every
    packet of a NIC's capture carries (`_nic_owner`). Only of packets whose direction the
    capture does not give: one that gives it names its node by its outgoing packets.
    """

    packets: int
    tunneled: int
    counts: pl.DataFrame  #: role, ip, n
    #: packets between addresses that say nothing about the host (`_noise`): IPv6 link-local
    #: chatter (MLD reports, router solicitations) of interfaces coming up
    chatter: int = 0
    pairs: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PAIRS))

    @staticmethod
    def of(packets: pl.DataFrame) -> AddressCounts:
        return AddressCounts.of_kinds(address_kinds(tally(packets)))

    @staticmethod
    def of_kinds(kinds: pl.DataFrame) -> AddressCounts:
        """The counts of packets of `kinds` (`address_kinds`, or `merge_kinds` of a capture's
        chunks), in one query."""
        tunneled = pl.col("tunneled")
        out = pl.col("direction") == Direction.OUTBOUND
        inbound = (pl.col("direction") == Direction.INBOUND) & pl.col("to_host")
        roles = kinds.lazy().select(
            "n",
            any=_each("src", "dst"),
            uni=_each("src", "dst", where=~_noise("dst")),
            out=_each("src", where=out),
            t_any=_each("src", "dst", where=tunneled),
            t_out=_each("outer_src", where=tunneled & out),
            t_outer=_each("outer_src", "outer_dst", where=tunneled),
            t_in=_each("outer_dst", where=tunneled & inbound),
        )
        counts = (roles.unpivot(index="n", variable_name="role", value_name="ip")
                  .explode("ip").drop_nulls("ip").group_by("role", "ip")
                  .agg(pl.col("n").sum().cast(pl.UInt64)).sort("role", "ip"))
        totals = kinds.lazy().select(
            packets=pl.col("n").sum(),
            tunneled=pl.col("n").filter(tunneled).sum(),
            chatter=pl.col("n").filter(_noise("src") & _noise("dst")).sum())
        pairs = _pairs(kinds.lazy().filter(pl.col("direction") == Direction.UNKNOWN))
        counts_frame, total, pairs_frame = pl.collect_all([counts, totals, pairs])
        return AddressCounts(int(total["packets"][0]), int(total["tunneled"][0]), counts_frame,
                             int(total["chatter"][0]), pairs_frame)

    def role(self, name: str) -> pl.DataFrame:
        """ip, n for one role."""
        return self.counts.filter(pl.col("role") == name).select("ip", "n")


def address_kinds(kinds: pl.DataFrame) -> pl.DataFrame:
    """The distinct kinds of packet of a `tally` for `AddressCounts`, `n` packets each: their
    addresses, direction, whether tunneled and whether to this host. What a chunk keeps of its
    packets for the vantage: a few rows, summed over the capture's chunks by `merge_kinds`
    (counting the roles of every chunk instead cost ~4 ms a chunk, whatever its size)."""
    return kinds.group_by(
        "src", "dst", "outer_src", "outer_dst", "direction",
        tunneled=pl.col("tunnel").is_not_null(),
        to_host=pl.col("sll_pkttype").fill_null(SllPacketType.HOST) == SllPacketType.HOST,
    ).agg(pl.col("n").sum().cast(pl.Int64))


def merge_kinds(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """`address_kinds` of chunks, as of their packets together."""
    if not parts:
        return address_kinds(tally(empty_packets()))
    return pl.concat(parts).group_by(pl.exclude("n")).agg(pl.col("n").sum())


def _each(*columns: str, where: pl.Expr | None = None) -> pl.Expr:
    """The addresses among `columns` of a kind of packet (`where` it holds, when given; an
    address twice in one packet listed once): what each of its packets counts for."""
    addresses = pl.concat_list(columns).list.unique()
    return addresses if where is None else pl.when(where).then(addresses)


def _pairs(kinds: pl.LazyFrame) -> pl.LazyFrame:
    """PAIRS of packet `kinds`: their outermost addresses, lower first."""
    src = pl.coalesce("outer_src", "src")
    dst = pl.when(pl.col("outer_src").is_not_null()).then("outer_dst").otherwise("dst")
    ends = kinds.select(a=src, b=dst, n="n").drop_nulls()
    ordered = ends.select(a=pl.min_horizontal("a", "b"), b=pl.max_horizontal("a", "b"),
                          n=pl.col("n").cast(pl.UInt64))
    return ordered.group_by("a", "b").agg(pl.col("n").sum()).sort("a", "b").cast(PAIRS)


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
    ranked = _ranked(counts.role("uni"))
    if ranked.is_empty():
        return Vantage("interface", None)
    busiest = str(ranked["ip"][0])
    if snap is not None:
        # Addresses in as many packets as the busiest: a capture of one host talking to one
        # other. Pods and nodes first: the cluster's captures are what this reads.
        tied = [str(ip) for ip in ranked.filter(pl.col("len") == ranked["len"][0])["ip"]]
        for ip in tied:
            pod = snap.pods.filter((pl.col("ip") == ip) & ~pl.col("host_network"))
            if pod.height:
                return Vantage("pod", f"pod {pod['namespace'][0]}/{pod['name'][0]}")
        for ip in tied:
            node = snap.nodes.filter(pl.col("ip") == ip)
            if node.height:
                return Vantage("host", f"node {node['name'][0]}")
        if _outside(snap, busiest):
            return Vantage("external", busiest)
    return Vantage("interface", busiest)


def _outside(snap: Snapshot, ip: str) -> bool:
    """No node, pod, pod network or Service of the snapshot holds `ip`: a host outside the
    cluster (a NodePort's client, a server pods reach through their node's masquerade)."""
    services = [snap.services.select(pl.col("cluster_ip").alias("ip")),
                snap.services.select(pl.col("load_balancer_ips").explode().alias("ip"))]
    held = pl.concat([snap.pods.select("ip"), *services]).filter(pl.col("ip") == ip)
    return held.is_empty() and node_of_address(snap, ip) is None


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
    the one whose address sends the outgoing packets; when none went out (the node only
    received, its answers dropped or never sent), the one the incoming tunnel packets are
    addressed to: a node decapsulates only what its own VTEP receives. Otherwise (a plain
    capture of one NIC) it is the node whose address every packet to or from a node carries
    (`_nic_owner`).
    """
    # The underlay headers name nodes; inner ones mostly name pods and Services.
    prefix = "t_" if counts.tunneled else ""
    addrs = counts.role(f"{prefix}out")
    if addrs.is_empty():
        addrs = counts.role("t_in")
    if addrs.is_empty():
        owner = _nic_owner(counts, snap)
        if owner is not None:
            return owner
        addrs = counts.role("t_outer" if counts.tunneled else "any")
    if snap is not None:
        by_address = addrs.join(_node_names(snap), on="ip", how="inner").select(
            pl.col("node").alias("ip"), "n")
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


def _node_names(snap: Snapshot) -> pl.DataFrame:
    """ip → `node NAME`, for every address the snapshot gives a node."""
    return snap.nodes.select("ip", pl.format("node {}", "name").alias("node")).drop_nulls()


def _nic_owner(counts: AddressCounts, snap: Snapshot | None) -> str | None:
    """The node whose NIC a capture without directions was taken on.

    A NIC sees its own node's traffic: every packet to or from a node carries that node's
    address, in its outermost header (a VXLAN datagram's underlay addresses, or the packet's
    own: a NodePort client's, the kubelet's). Nodes are the snapshot's addresses, or without
    one the tunnel endpoints the capture shows. When two nodes are in every such packet (only
    the tunnel between them was captured) nothing tells which took it: both are named. When no
    node is in all of them the capture was taken between nodes (a router, a switch port
    mirroring several): every node seen is named, none pinned. None when no packet names a
    node.
    """
    if snap is not None:
        names = dict(_node_names(snap).iter_rows())
    else:
        names = {ip: ip for ip in counts.role("t_outer")["ip"].to_list()}
    if not names:
        return None
    named = counts.pairs.select(
        *(pl.col(c).replace_strict(names, default=None, return_dtype=pl.String) for c in "ab"),
        "n").filter(pl.col("a").is_not_null() | pl.col("b").is_not_null())
    if named.is_empty():
        return None
    total = int(named["n"].sum())
    # A packet between two addresses of one node counts once for it.
    other = named.filter(pl.col("a").ne_missing(pl.col("b")))
    present = (pl.concat([named.select(node="a", n="n"), other.select(node="b", n="n")])
               .drop_nulls("node").group_by("node").agg(pl.col("n").sum())
               .sort(["n", "node"], descending=[True, False]))
    every = present.filter(pl.col("n") == total)
    return " or ".join((every if every.height else present)["node"].to_list())


def _owner(snap: Snapshot, ip: str) -> str | None:
    node = node_of_address(snap, ip)
    return f"node {node}" if node else None

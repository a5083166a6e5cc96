"""Where a capture was taken: a pod's eth0, a node's `-i any`, or a node's underlay NIC.

Read from the capture itself (link types, tunnels, the busiest address), named with the snapshot
when one is given: `pod NAMESPACE/NAME`, `node NAME`, or the bare address without a snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pcapkit.codes import LinkType
from pcapkit.kube.names import node_of_address
from pcapkit.kube.snapshot import Snapshot

COOKED = (LinkType.LINUX_SLL, LinkType.LINUX_SLL2)


@dataclass(frozen=True)
class Vantage:
    kind: str  #: `pod` (one pod's interface), `node-any` (`-i any`), `node-underlay`, `host` (a node's own address), `interface` (unnamed)
    name: str | None  #: `pod ns/name`, `node NAME`, or an address; None when nothing says


def vantage_of(packets: pl.DataFrame, link_types: list[int], snap: Snapshot | None) -> Vantage:
    """The vantage of one capture's packets."""
    if packets.is_empty():
        return Vantage("host", None)
    if any(lt in COOKED for lt in link_types):
        return Vantage("node-any", _node_name(packets, snap))
    tunneled = packets.filter(pl.col("tunnel").is_not_null()).height
    if tunneled * 2 > packets.height:
        return Vantage("node-underlay", _node_name(packets, snap, outer=True))
    busiest = _busiest(packets, "src", "dst")
    if busiest is None:
        return Vantage("host", None)
    if snap is not None:
        pod = snap.pods.filter((pl.col("ip") == busiest) & ~pl.col("host_network"))
        if pod.height:
            return Vantage("pod", f"pod {pod['namespace'][0]}/{pod['name'][0]}")
        node = node_of_address(snap, busiest)
        if node is not None and snap.nodes.filter(pl.col("ip") == busiest).height:
            return Vantage("host", f"node {node}")
    return Vantage("interface", busiest)


def _busiest(packets: pl.DataFrame, a: str, b: str) -> str | None:
    addrs = pl.concat([packets.select(pl.col(a).alias("ip")), packets.select(pl.col(b).alias("ip"))])
    counts = addrs.drop_nulls().group_by("ip").len().sort(["len", "ip"], descending=[True, False])
    return None if counts.is_empty() else str(counts["ip"][0])


def _node_name(packets: pl.DataFrame, snap: Snapshot | None, outer: bool = False) -> str | None:
    """The node a node-side capture belongs to: its underlay address is the busiest one."""
    cols = ("outer_src", "outer_dst") if outer else ("src", "dst")
    if snap is None:
        busiest = _busiest(packets, *cols)
        return busiest
    node_ips = set(snap.nodes["ip"].to_list())
    candidates = pl.concat([packets.select(pl.col(c).alias("ip")) for c in
                            ("outer_src", "outer_dst", "src", "dst")]).drop_nulls()
    counts = (candidates.filter(pl.col("ip").is_in(list(node_ips))).group_by("ip").len()
              .sort(["len", "ip"], descending=[True, False]))
    if counts.height:
        return f"node {node_of_address(snap, str(counts['ip'][0]))}"
    return None

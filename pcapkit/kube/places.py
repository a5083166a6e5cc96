"""Places: what each view (one interface of one capture) is on a conversation's path, and on
which node.

A packet from a pod to a pod on another node crosses, in order: the pod's `eth0` (a pod
capture), its veth and the bridge (`cni0`) on the client's node, the overlay device
(`flannel.1`, `vxlan.calico`), the underlay NIC (encapsulated), then the same places in reverse on
the endpoint's node. What a view is comes from general facts, first that applies:

1. the capture is a pod's (its vantage): `pod`; a host's outside the cluster: `external`, with
   that host's address as `pod_ip`;
2. most of its packets came encapsulated: `underlay`;
3. the same interface (its index or name, not a cooked v1 `-i any`) carried encapsulated
   packets too, in another view: `underlay` (the NIC also carries the node's own traffic, and
   its pods' masqueraded to the world);
4. a Linux cooked v1 `-i any`'s unencapsulated view is `any`: v1 has no interface index, so
   every interface of the node is in it (its veths, bridge and overlay device), no one role;
5. its interface is named (pcapng) as CNIs name theirs: `veth*`/`cali*`/`lxc*` a `veth`;
   `cni0`/`cbr0`/`docker0`/`br-*` a `bridge`; `flannel.*`/`vxlan*`/`cilium_vxlan`/`genev_sys*`/
   `tunl*` the `overlay` device;
6. most of the IP packets it received were addressed to another host's link address (SLL packet
   type 3): a bridge port, that is a pod's `veth` (the pod sends to the bridge's MAC); its pod is
   the address that sends them;
7. with a snapshot, by which way the node's own pods' packets cross it (their sources in the
   node's pod CIDR, or the node's address): into the node (`bridge`: the node receives them from
   its pods) or out of it (`overlay`: the node sends them toward other nodes); when none of
   its pods' packets cross it, one that other nodes' pods send into (decapsulated, addressed to
   this node: the bridge and veths only see them leave) is the `overlay` device; of two views the
   pods send into, one whose senders are a single pod among the other's senders, or the same
   single pod but more often to a Service's ClusterIP (before DNAT, which happens as the bridge
   receives), is that pod's `veth` (a veth whose frames are addressed to itself shows no packet
   type 3);
8. otherwise `interface`: a place whose role nothing tells.

The node is the capture's (its vantage: the node of a `-i any` or underlay capture, the node of a
pod's capture from the snapshot); an underlay capture whose packets cannot tell which of two
nodes took it (a plain pcap has no directions, and only the tunnel between the two, or a router
between them, shows both addresses in every packet) has `node` null and both in `nodes`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Protocol

import polars as pl

from pcapkit.codes import LinkType
from pcapkit.kube.snapshot import Snapshot

PLACES = pl.Schema([
    ("view", pl.UInt32()), ("capture", pl.UInt16()), ("kind", pl.String()),
    ("node", pl.String()), ("nodes", pl.List(pl.String())), ("pod_ip", pl.String()),
    ("interface", pl.String()), ("ifindex", pl.Int32()),
])

#: interface names as CNIs and container runtimes make them
NAMED_KINDS = [
    (re.compile(r"^(veth|cali|lxc)"), "veth"),
    (re.compile(r"^(cni\d|cbr\d|docker\d|br-)"), "bridge"),
    (re.compile(r"^(flannel\.|vxlan|cilium_vxlan|cilium_geneve|genev_sys|tunl)"), "overlay"),
]


class Site(Protocol):
    """What places need to know of one capture (`pcapkit.api.CaptureInfo` is one)."""

    @property
    def path(self) -> str: ...
    @property
    def vantage(self) -> str | None: ...
    @property
    def vantage_kind(self) -> str: ...
    @property
    def interfaces(self) -> list[str]: ...


def places(views: pl.DataFrame, sources: pl.DataFrame, sites: list[Site],
           snap: Snapshot | None) -> pl.DataFrame:
    """PLACES: one row per view (VIEWS), from its counts and sources (VIEW_SOURCES)."""
    rows = []
    interface = ["capture", "iface", "sll_ifindex"]
    # (rule 3) an interface known by its index or name whose other view came encapsulated
    underlays = set(views.filter(pl.col("tunnel").is_not_null()
                                 & (pl.col("link_type") != LinkType.LINUX_SLL))
                    .select(interface).rows())
    for v in views.iter_rows(named=True):
        site = sites[v["capture"]]
        nodes = site_nodes(site, snap)
        name = _interface_name(site, v["iface"])
        own = sources.filter(pl.col("view") == v["view"])
        kind, pod_ip, senders = (
            ("underlay", None, set())
            if site.vantage_kind not in ("pod", "external")
            and tuple(v[c] for c in interface) in underlays
            else _kind(v, name, site, own, snap, nodes))
        to_services = 0 if snap is None else int(own.filter(
            (pl.col("direction") == 1)
            & pl.col("dst").is_in(snap.services["cluster_ip"].drop_nulls().implode()))
            ["packets"].sum())
        rows.append({
            "view": v["view"], "capture": v["capture"], "kind": kind,
            "node": nodes[0] if len(nodes) == 1 else None, "nodes": nodes, "pod_ip": pod_ip,
            "interface": name, "ifindex": v["sll_ifindex"], "senders": senders,
            "to_services": to_services,
        })
    _ports(rows)
    return pl.DataFrame([{k: r[k] for k in PLACES} for r in rows], schema=PLACES)


def _ports(rows: list[dict[str, Any]]) -> None:
    """Rule 7's bridges that are ports of another: a view that one of the node's pods sends
    into, whose sender is one of those of another such view of the capture (or its only one, in
    a view that sees more of its packets before DNAT, addressed to a Service), is that pod's veth
    (a pod whose veth frames are addressed to the veth itself shows no packet type 3)."""
    for row in rows:
        if row["kind"] != "bridge" or len(row["senders"]) != 1:
            continue
        wider = [o for o in rows if o is not row and o["capture"] == row["capture"]
                 and o["kind"] == "bridge" and (
                     row["senders"] < o["senders"] or (row["senders"] == o["senders"]
                                                       and row["to_services"] > o["to_services"]))]
        if wider:
            row["kind"], row["pod_ip"] = "veth", next(iter(row["senders"]))


def _interface_name(site: Site, iface: int) -> str | None:
    """The interface's name as the file gives it (pcapng), None for a pcap's or an `any`."""
    names = site.interfaces
    name = names[iface] if iface < len(names) else None
    return None if name is None or name.startswith("#") or name == "any" else name


def site_nodes(site: Site, snap: Snapshot | None) -> list[str]:
    """The node(s) the capture was taken on: one, several when its packets cannot tell, none."""
    vantage = site.vantage or ""
    if site.vantage_kind == "pod" and snap is not None:
        ns, _, name = vantage.removeprefix("pod ").partition("/")
        pod = snap.pods.filter((pl.col("namespace") == ns) & (pl.col("name") == name))
        return [n for n in pod["node"].to_list() if n][:1]
    if site.vantage_kind in ("node-any", "node-underlay", "host") and vantage.startswith("node "):
        return [n.removeprefix("node ") for n in vantage.split(" or ")]
    return []


def _kind(view: dict[str, int], name: str | None, site: Site, sources: pl.DataFrame,
          snap: Snapshot | None, nodes: list[str]) -> tuple[str, str | None, set[str]]:
    """The view's kind, for a pod's capture or veth the pod's address, and the node's own
    addresses that send into it (rules 1, 2, 4-8)."""
    if site.vantage_kind == "external":
        return "external", site.vantage, set()
    if site.vantage_kind == "pod" and snap is not None:
        ns, _, pod_name = (site.vantage or "").removeprefix("pod ").partition("/")
        pod = snap.pods.filter((pl.col("namespace") == ns) & (pl.col("name") == pod_name))
        return "pod", (pod["ip"][0] if pod.height else None), set()
    if view["tunneled"] * 2 > view["packets"]:
        return "underlay", None, set()
    if view["link_type"] == LinkType.LINUX_SLL:  # rule 4
        # A cooked v1 `-i any` names no interface: one view holds them all, no one role.
        return "any", None, set()
    inbound = sources.filter(pl.col("direction") == 1).sort("packets", "src",
                                                            descending=[True, False])
    if name is not None:
        for pattern, kind in NAMED_KINDS:
            if pattern.match(name):
                pod_ip = inbound["src"][0] if kind == "veth" and inbound.height else None
                return kind, pod_ip, set()
    received = int(inbound["packets"].sum())
    if received and view["other_host"] * 2 > received:
        return "veth", inbound["src"][0], set()
    if snap is not None and len(nodes) == 1:
        local = _local(snap, nodes[0])
        own = sources.filter(pl.col("src").map_elements(local, return_dtype=pl.Boolean))
        into = int(own.filter(pl.col("direction") == 1)["packets"].sum())
        out = int(own.filter(pl.col("direction") == 2)["packets"].sum())
        if into != out:
            senders = set(own.filter(pl.col("direction") == 1)["src"].to_list())
            return ("bridge", None, senders) if into > out else ("overlay", None, set())
        remote = _pods_elsewhere(snap, nodes[0])
        if int(sources.filter(pl.col("src").map_elements(remote, return_dtype=pl.Boolean)
                              & (pl.col("direction") == 1))["packets"].sum()):
            return "overlay", None, set()
    return "interface", None, set()


def _local(snap: Snapshot, node: str) -> _Local:
    row = snap.nodes.filter(pl.col("name") == node)
    return _Local(set(row["ip"].drop_nulls().to_list()), _pod_cidrs(row))


def _pods_elsewhere(snap: Snapshot, node: str) -> _Local:
    """Whether an address is in another node's pod CIDR (not its address: a node's own traffic
    crosses the underlay NIC plain)."""
    return _Local(set(), _pod_cidrs(snap.nodes.filter(pl.col("name") != node)))


def _pod_cidrs(nodes: pl.DataFrame) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    cidrs = [c for r in nodes["pod_cidr"].to_list() for c in (r or "").split(",") if c]
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


class _Local:
    """Whether an address is a node's own: its address, or one of its pods'."""

    def __init__(self, addresses: set[str],
                 networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self.addresses = addresses
        self.networks = networks

    def __call__(self, ip: str) -> bool:
        if ip in self.addresses:
            return True
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr.version == n.version and addr in n for n in self.networks)

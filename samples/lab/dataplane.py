"""Build the cluster's dataplane in namespaces, the way flannel's vxlan backend and CNI lay it out.

    external ─┐
    worker-1 eth0 ─┤ underlay bridge br0 (172.18.0.0/24, its own namespace)
    worker-2 eth0 ─┘
    each worker: cni0 bridge (10.244.N.1/24) ─ vethXXXX ─ pod eth0; flannel.1 (VXLAN, 10.244.N.0/32)
    routes 10.244.M.0/24 via 10.244.M.0 dev flannel.1 onlink, with static neighbour and FDB entries

In an IPv6 cluster (`ipv6_pods`) cni0, flannel.1, the pods and their routes hold the IPv6
addresses (fd00:10:244:N::1/64, fd00:10:244:N::/128, …) over the same IPv4 underlay: VXLAN
carries the IPv6 frames as it carries IPv4 ones, and the nodes' IPv6 default route points at
ROUTER_IP6, the external host's link-local address.

No address is ever put on the root namespace. The nodes' default route points at ROUTER_IP, a
second address of the external host, which does not forward: a packet to an unknown destination
(a ClusterIP nobody DNATs, say) reaches the node's FORWARD chain as on a real node, and then dies
inside the lab.
"""

from __future__ import annotations

from samples.lab.cluster import (
    DOMAIN,
    EXTERNAL_HOST_IP,
    EXTERNAL_HOST_IP6,
    UNDERLAY_MTU,
    Cluster,
    Pod,
    with_prefix,
)
from samples.lab.netns import Lab, run

UNDERLAY = "underlay"
EXTERNAL = "external"
ROUTER_IP = "172.18.0.1"
ROUTER_IP6 = "fe80::1"


def build(lab: Lab, cluster: Cluster) -> dict[str, str]:
    """Create every namespace, link and route; returns each node's VTEP MAC (for the snapshot)."""
    lab.add_ns(UNDERLAY)
    lab.sh(UNDERLAY, "ip", "link", "add", "br0", "type", "bridge")
    lab.sh(UNDERLAY, "ip", "link", "set", "br0", "up")
    for index, node in enumerate(cluster.nodes):
        lab.add_ns(node.name)
        _underlay_port(lab, node.name, f"u{index}", f"{node.underlay_ip}/24")
        _node(lab, cluster, node.name)
    lab.add_ns(EXTERNAL)
    _underlay_port(lab, EXTERNAL, "ux", f"{EXTERNAL_HOST_IP}/24")
    lab.sh(EXTERNAL, "ip", "addr", "add", f"{ROUTER_IP}/24", "dev", "eth0")
    if cluster.ipv6_pods:
        _addr(lab, EXTERNAL, f"{ROUTER_IP6}/64", "eth0")
    if cluster.ipv6_underlay:
        # nodad: usable at once, not after duplicate address detection's second
        for ns, address in [(n.name, n.underlay_ip6) for n in cluster.nodes] + [
                (EXTERNAL, EXTERNAL_HOST_IP6)]:
            _addr(lab, ns, f"{address}/64", "eth0")
    # A LoadBalancer's ingress IP is routed to the first node, as a load balancer speaking BGP
    # (MetalLB's BGP mode, a cloud's) sends it to one node, whose kube-proxy takes it from there.
    for service in cluster.services:
        if service.load_balancer_ip:
            lab.sh(EXTERNAL, "ip", "route", "add", service.load_balancer_ip, "via",
                   cluster.nodes[0].underlay_ip)
    macs = {n.name: _link_mac(lab, n.name, cluster.vxlan.device) for n in cluster.nodes}
    _overlay_routes(lab, cluster, macs)
    for index, pod in enumerate(p for p in cluster.pods if not p.terminating):
        _pod(lab, cluster, pod, index)
    return macs


def _addr(lab: Lab, ns: str, address: str, dev: str) -> None:
    """An address on `dev`; an IPv6 one `nodad`, usable at once rather than after duplicate
    address detection's second."""
    lab.sh(ns, "ip", "addr", "add", address, "dev", dev, *(["nodad"] if ":" in address else []))


def _ip(address: str) -> tuple[str, ...]:
    """`ip`, told the family of `address` (a `default` route does not say it)."""
    return ("ip", "-6") if ":" in address else ("ip",)


def _underlay_port(lab: Lab, ns: str, tag: str, address: str) -> None:
    """A veth from `ns` (renamed eth0 there) to the underlay bridge."""
    inside, outside = f"e{lab.run_id}{tag}", f"br{lab.run_id}{tag}"
    _veth(lab, ns, inside, UNDERLAY, outside)
    lab.sh(UNDERLAY, "ip", "link", "set", outside, "master", "br0", "up")
    lab.sh(ns, "ip", "link", "set", inside, "name", "eth0")
    lab.sh(ns, "ip", "link", "set", "eth0", "mtu", str(UNDERLAY_MTU), "up")
    lab.sh(ns, "ip", "addr", "add", address, "dev", "eth0")


def _veth(lab: Lab, ns_a: str, name_a: str, ns_b: str, name_b: str) -> None:
    """Created directly inside both namespaces: the root namespace never holds either end."""
    run(
        [
            "ip",
            "link",
            "add",
            name_a,
            "netns",
            lab.ns(ns_a),
            "type",
            "veth",
            "peer",
            "name",
            name_b,
            "netns",
            lab.ns(ns_b),
        ]
    )


def _node(lab: Lab, cluster: Cluster, name: str) -> None:
    node = cluster.node(name)
    lab.sh(name, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    # br_netfilter is per namespace since Linux 5.3: bridged pod traffic then meets iptables.
    lab.sh(name, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
    if cluster.ipv6_pods:
        lab.sh(name, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        lab.sh(name, "sysctl", "-qw", "net.bridge.bridge-nf-call-ip6tables=1")
    lab.sh(name, "ip", "link", "add", "cni0", "type", "bridge")
    lab.sh(name, "ip", "link", "set", "cni0", "mtu", str(cluster.pod_mtu), "up")
    _addr(lab, name, f"{node.gateway}/{_prefix_len(node.pod_cidr)}", "cni0")
    lab.sh(name, "ip", "route", "add", "default", "via", ROUTER_IP, "dev", "eth0")
    if cluster.ipv6_pods:
        lab.sh(name, "ip", "-6", "route", "add", "default", "via", ROUTER_IP6, "dev", "eth0")
    vx = cluster.vxlan
    lab.sh(
        name,
        "ip",
        "link",
        "add",
        vx.device,
        "type",
        "vxlan",
        "id",
        str(vx.vni),
        "dstport",
        str(vx.port),
        "dev",
        "eth0",
        "local",
        node.underlay_ip,
        "nolearning",
    )
    lab.sh(name, "ip", "link", "set", vx.device, "mtu", str(cluster.overlay_mtu), "up")
    _addr(lab, name, with_prefix(node.vtep_ip), vx.device)
    # flanneld's own rules: masquerade pod traffic leaving the cluster CIDR, accept forwarding.
    restore = "ip6tables-restore" if cluster.ipv6_pods else "iptables-restore"
    lab.sh(name, restore, "--noflush", input=_flannel_rules(cluster, node.pod_cidr))


def _prefix_len(cidr: str) -> str:
    return cidr.split("/")[1]


def _flannel_rules(cluster: Cluster, pod_cidr: str) -> str:
    masq = '-m comment --comment "flanneld masq"'
    cluster_cidr = cluster.cluster_cidr
    multicast = "ff00::/8" if cluster.ipv6_pods else "224.0.0.0/4"
    return f"""*nat
:FLANNEL-POSTRTG - [0:0]
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 {masq} -j RETURN
-A FLANNEL-POSTRTG -s {pod_cidr} -d {cluster_cidr} {masq} -j RETURN
-A FLANNEL-POSTRTG -s {cluster_cidr} -d {pod_cidr} {masq} -j RETURN
-A FLANNEL-POSTRTG ! -s {cluster_cidr} -d {pod_cidr} {masq} -j RETURN
-A FLANNEL-POSTRTG -s {cluster_cidr} ! -d {multicast} {masq} -j MASQUERADE --random-fully
-A FLANNEL-POSTRTG ! -s {cluster_cidr} -d {cluster_cidr} {masq} -j MASQUERADE --random-fully
COMMIT
*filter
:FLANNEL-FWD - [0:0]
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FLANNEL-FWD -s {cluster_cidr} -m comment --comment "flanneld forward" -j ACCEPT
-A FLANNEL-FWD -d {cluster_cidr} -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
"""


def _link_mac(lab: Lab, ns: str, device: str) -> str:
    return lab.sh(ns, "cat", f"/sys/class/net/{device}/address").strip()


def _overlay_routes(lab: Lab, cluster: Cluster, macs: dict[str, str]) -> None:
    """What flanneld programs for every other node: route, permanent neighbour, FDB entry."""
    dev = cluster.vxlan.device
    for node in cluster.nodes:
        for peer in cluster.nodes:
            if peer is node:
                continue
            lab.sh(
                node.name,
                "ip",
                "route",
                "add",
                peer.pod_cidr,
                "via",
                peer.vtep_ip,
                "dev",
                dev,
                "onlink",
            )
            lab.sh(
                node.name,
                "ip",
                "neigh",
                "add",
                peer.vtep_ip,
                "lladdr",
                macs[peer.name],
                "dev",
                dev,
                "nud",
                "permanent",
            )
            lab.sh(
                node.name,
                "bridge",
                "fdb",
                "append",
                macs[peer.name],
                "dev",
                dev,
                "dst",
                peer.underlay_ip,
                "self",
                "permanent",
            )


def _pod(lab: Lab, cluster: Cluster, pod: Pod, index: int) -> None:
    """A pod the flannel CNI way: veth into cni0 (hairpin on), default route via the gateway."""
    node = cluster.node(pod.node)
    ns = pod.name  # pod names are unique across the lab, so they name the pod's namespace
    lab.add_ns(ns)
    host, inside = f"veth{lab.run_id}{index:02x}", f"p{lab.run_id}{index:02x}"
    _veth(lab, node.name, host, ns, inside)
    lab.sh(
        node.name, "ip", "link", "set", host, "mtu", str(cluster.pod_mtu), "master", "cni0", "up"
    )
    lab.sh(node.name, "bridge", "link", "set", "dev", host, "hairpin", "on")
    lab.sh(ns, "ip", "link", "set", inside, "name", "eth0")
    lab.sh(ns, "ip", "link", "set", "eth0", "mtu", str(cluster.pod_mtu), "up")
    _addr(lab, ns, f"{pod.ip}/{_prefix_len(node.pod_cidr)}", "eth0")
    lab.sh(ns, *_ip(node.gateway), "route", "add", "default", "via", node.gateway, "dev", "eth0")
    lab.write_etc(ns, pod_etc(cluster, pod))


def pod_etc(cluster: Cluster, pod: Pod) -> dict[str, str]:
    """The resolv.conf and hosts kubelet writes for a ClusterFirst pod, and an nsswitch.conf
    that keeps lookups on files and DNS (no host resolver daemon can be asked instead)."""
    dns = pod.nameserver or cluster.service("kube-system/kube-dns").cluster_ip
    search = f"{pod.namespace}.svc.{DOMAIN} svc.{DOMAIN} {DOMAIN}"
    options = " ".join(["ndots:5", *(f"{name}:{value}" for name, value in pod.resolver_options)])
    return {
        "resolv.conf": f"search {search}\nnameserver {dns}\noptions {options}\n",
        "hosts": (
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost\n"
            f"{pod.ip}\t{pod.name}\n"
        ),
        "nsswitch.conf": "hosts: files dns\n",
    }

"""The cluster the lab builds, as plain data: nodes, pods, Services, and the overlay settings.

Everything downstream reads this one description: the dataplane builder, the kube-proxy rules, the
snapshot and the DNS records. A scenario changes a copy of `base_cluster()` and nothing else, so the
snapshot always describes exactly what was built.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field

CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
# Single-stack IPv6 (the `ipv6_pods` variant): kubeadm's defaults moved into a ULA prefix, each
# node a /64 of the cluster CIDR and Services a /112, as IPv6 clusters are commonly set up
CLUSTER_CIDR6 = "fd00:10:244::/56"
SERVICE_CIDR6 = "fd00:10:96::/112"
UNDERLAY_CIDR = "172.18.0.0/24"
DOMAIN = "cluster.local"
UNDERLAY_MTU = 1500
VXLAN_OVERHEAD = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8, as flannel subtracts it


@dataclass(frozen=True)
class Vxlan:
    """The overlay device: flannel's defaults, or Calico's in the `vxlan_4789` variant."""

    device: str = "flannel.1"
    vni: int = 1
    port: int = 8472


@dataclass(frozen=True)
class Node:
    name: str
    index: int  # the third octet of its pod CIDR (the fourth group of its IPv6 one)
    ipv6: bool = False  # its pods' addresses are IPv6 (`Cluster.ipv6_pods`)

    @property
    def underlay_ip(self) -> str:
        return f"172.18.0.{10 + self.index}"

    @property
    def underlay_ip6(self) -> str:
        """Its IPv6 address on the underlay, when the cluster has one (`Cluster.ipv6_underlay`)."""
        return f"fd00:18::{10 + self.index}"

    @property
    def pod_cidr(self) -> str:
        return f"fd00:10:244:{self.index}::/64" if self.ipv6 else f"10.244.{self.index}.0/24"

    @property
    def gateway(self) -> str:
        """cni0's address, the pods' default gateway."""
        return pod_address(self.index, 1, self.ipv6)

    @property
    def vtep_ip(self) -> str:
        """The overlay device's address: flannel gives it the network address of the pod CIDR."""
        return self.pod_cidr.split("/")[0]


@dataclass(frozen=True)
class ContainerPort:
    name: str
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class Process:
    """What really runs in a pod: `http`, `blob` (TCP), `grpc` (h2c) or `dns`, on `port`."""

    kind: str
    port: int


@dataclass
class Pod:
    namespace: str
    name: str
    node: str
    ip: str
    labels: dict[str, str]
    ports: tuple[ContainerPort, ...] = ()
    process: Process | None = None
    # A terminating pod whose network is already gone: it stays in the snapshot and in the
    # EndpointSlice (serving, terminating) but has no namespace, so nothing answers at its IP.
    terminating: bool = False
    # `dnsPolicy: None` with this `dnsConfig` nameserver instead of kube-dns (ClusterFirst)
    nameserver: str | None = None
    # `dnsConfig.options` kubelet adds to the resolv.conf it writes (after `ndots:5`), e.g.
    # (("timeout", "1"), ("attempts", "1"))
    resolver_options: tuple[tuple[str, str], ...] = ()
    # Running, but its readiness probe fails: listed in its Services' EndpointSlices with
    # ready=false and serving=false, so kube-proxy and the cluster DNS leave it out.
    ready: bool = True

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int
    target_port: int | str  # a number or the name of a container port, as in the real spec
    protocol: str = "TCP"
    node_port: int | None = None
    #: `appProtocol` (`kubernetes.io/h2c`: cleartext HTTP/2 with prior knowledge), copied by
    #: the EndpointSlice controller into the slice's port
    app_protocol: str | None = None


@dataclass
class Service:
    namespace: str
    name: str
    cluster_ip: str
    ports: tuple[ServicePort, ...]
    selector: dict[str, str]
    #: for a NodePort: "Cluster" (any endpoint, masqueraded) or "Local" (this node's only)
    external_traffic_policy: str = "Cluster"
    #: a LoadBalancer's ingress IP (status.loadBalancer.ingress), routed to a node, or None
    load_balancer_ip: str | None = None
    #: clusterIP None: no ClusterIP, no kube-proxy rules; the DNS answers the ready pods' IPs
    headless: bool = False
    #: type ExternalName: the DNS answers a CNAME to this name; no ClusterIP, no endpoints
    external_name: str | None = None
    #: spec.publishNotReadyAddresses (a StatefulSet's peers find each other before they are
    #: ready): the EndpointSlice controller marks every pod's endpoint ready (serving stays the
    #: pod's readiness), so kube-proxy and the DNS use pods that are not ready too
    publish_not_ready: bool = False

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def type(self) -> str:
        if self.external_name:
            return "ExternalName"
        if self.load_balancer_ip:
            return "LoadBalancer"
        return "NodePort" if any(p.node_port for p in self.ports) else "ClusterIP"

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{self.namespace}.svc.{DOMAIN}"


@dataclass
class Cluster:
    nodes: list[Node]
    pods: list[Pod]
    services: list[Service]
    vxlan: Vxlan = Vxlan()
    kube_proxy: str = "iptables"  # kube-proxy's mode, a key of proxymodes.MODES
    overlay_mtu: int = UNDERLAY_MTU - VXLAN_OVERHEAD
    pod_mtu: int = UNDERLAY_MTU - VXLAN_OVERHEAD  # the CNI's MTU; too large in `mtu_blackhole`
    # Names outside the cluster that the lab's DNS answers itself (it never forwards upstream).
    external_names: dict[str, str] = field(default_factory=dict)
    # Socket-level load balancing (Cilium's kube-proxy replacement): each pod DNATs its own
    # connections to a Service before they leave it, so no capture shows the ClusterIP.
    socket_lb: bool = False
    # NodeLocal DNSCache's listen address on every node (samples/lab/nodelocal_cache.py), when
    # it runs
    nodelocal_dns: str | None = None
    # The underlay is dual-stack: each node and the external host also hold an IPv6 address
    # there, and each Node object lists it as an InternalIP
    ipv6_underlay: bool = False

    @property
    def ipv6_pods(self) -> bool:
        """Pods and Services are single-stack IPv6 (over the same IPv4 underlay and VXLAN)."""
        return any(n.ipv6 for n in self.nodes)

    @property
    def cluster_cidr(self) -> str:
        return CLUSTER_CIDR6 if self.ipv6_pods else CLUSTER_CIDR

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def pod(self, ref: str) -> Pod:
        return next(p for p in self.pods if p.ref == ref)

    def service(self, ref: str) -> Service:
        return next(s for s in self.services if s.ref == ref)

    def endpoints(self, service: Service) -> list[Pod]:
        """The pods an EndpointSlice controller would list for `service`, in IP order."""
        chosen = [
            p
            for p in self.pods
            if p.namespace == service.namespace
            and service.selector
            and all(p.labels.get(k) == v for k, v in service.selector.items())
        ]
        return sorted(chosen, key=lambda p: ipaddress.ip_address(p.ip))

    def proxied_services(self) -> list[Service]:
        """The Services kube-proxy programs: not headless, not ExternalName."""
        return [s for s in self.services if not s.headless and not s.external_name]

    def dns_records(self) -> dict[str, list[str] | str]:
        """What the in-lab DNS serves: every Service's FQDN (its ClusterIP; a headless
        Service's ready pod IPs; an ExternalName's target, as a CNAME), then the external
        names."""
        records: dict[str, list[str] | str] = {}
        for s in self.services:
            if s.external_name:
                records[s.fqdn] = s.external_name
            elif s.headless:
                records[s.fqdn] = [p.ip for p in self.endpoints(s) if published(s, p)]
            else:
                records[s.fqdn] = [s.cluster_ip]
        return records | {name: [ip] for name, ip in self.external_names.items()}

    def copy(self) -> Cluster:
        return copy.deepcopy(self)


def pod_address(node_index: int, host: int, ipv6: bool) -> str:
    """Address `host` of node `node_index`'s pod CIDR, written alike in both families (host 11
    of node 2: 10.244.2.11, fd00:10:244:2::11) so that a recording reads the same in either."""
    return f"fd00:10:244:{node_index}::{host}" if ipv6 else f"10.244.{node_index}.{host}"


def as_ipv6(address: str) -> str:
    """The IPv6 twin of a lab pod or Service address (10.244.2.30 → fd00:10:244:2::30,
    10.96.0.50 → fd00:10:96::50): the same digits, read as hex, in the IPv6 prefixes."""
    a, b, c, d = address.split(".")
    if f"{a}.{b}." == "10.244.":
        return pod_address(int(c), int(d), True)
    assert f"{a}.{b}." == "10.96.", address
    return f"fd00:10:96::{c}:{d}" if c != "0" else f"fd00:10:96::{d}"


def with_prefix(address: str) -> str:
    """One address as a host route: /32, or /128 for IPv6."""
    return f"{address}/{128 if ':' in address else 32}"


def published(service: Service, pod: Pod) -> bool:
    """The endpoint's `ready` condition as the EndpointSlice controller writes it: the pod is
    ready, or the Service publishes not-ready addresses; never while terminating."""
    return (pod.ready or service.publish_not_ready) and not pod.terminating


def target_port(pod: Pod, port: ServicePort) -> int:
    """Resolve a Service's targetPort against a pod's named container ports, as kube-proxy does."""
    if isinstance(port.target_port, int):
        return port.target_port
    return next(c.port for c in pod.ports if c.name == port.target_port)


EXTERNAL_HOST_IP = "172.18.0.100"  # the "external client" namespace on the underlay
EXTERNAL_HOST_IP6 = "fd00:18::100"  # its IPv6 address, on a dual-stack underlay
EXTERNAL_NAME = "api.example.com"  # answered inside the lab with EXTERNAL_HOST_IP

CLIENT = "default/client-7c9f8b6d5-h2m4k"
BLOB = "default/blob-59c8d7f6b-r8v2n"
HTTP_PORTS = (ContainerPort("http", 8080),)


def _web(name: str, node: str, ip: str) -> Pod:
    labels = {"app": "web", "pod-template-hash": "6d4b75cb6d"}
    return Pod("default", name, node, ip, labels, HTTP_PORTS, Process("http", 8080))


def base_cluster() -> Cluster:
    """Two workers, a client, two web replicas, a TCP blob server and CoreDNS behind kube-dns."""
    nodes = [Node("worker-1", 1), Node("worker-2", 2)]
    pods = [
        Pod(
            "default",
            CLIENT.split("/")[1],
            "worker-1",
            "10.244.1.10",
            {"app": "client", "pod-template-hash": "7c9f8b6d5"},
        ),
        _web("web-6d4b75cb6d-x7k2p", "worker-1", "10.244.1.11"),
        _web("web-6d4b75cb6d-9gq4z", "worker-2", "10.244.2.11"),
        Pod(
            "default",
            BLOB.split("/")[1],
            "worker-2",
            "10.244.2.20",
            {"app": "blob", "pod-template-hash": "59c8d7f6b"},
            (ContainerPort("blob", 9000),),
            Process("blob", 9000),
        ),
        Pod(
            "kube-system",
            "coredns-5d78c9869d-qx8tn",
            "worker-2",
            "10.244.2.2",
            {"k8s-app": "kube-dns", "pod-template-hash": "5d78c9869d"},
            (ContainerPort("dns", 53, "UDP"), ContainerPort("dns-tcp", 53)),
            Process("dns", 53),
        ),
    ]
    services = [
        Service(
            "kube-system",
            "kube-dns",
            "10.96.0.10",
            (ServicePort("dns", 53, 53, "UDP"), ServicePort("dns-tcp", 53, 53)),
            {"k8s-app": "kube-dns"},
        ),
        Service(
            "default",
            "web",
            "10.96.0.20",
            (ServicePort("http", 80, "http", node_port=30080),),
            {"app": "web"},
        ),
        Service(
            "default", "blob", "10.96.0.30", (ServicePort("blob", 9000, 9000),), {"app": "blob"}
        ),
    ]
    return Cluster(nodes, pods, services, external_names={EXTERNAL_NAME: EXTERNAL_HOST_IP})

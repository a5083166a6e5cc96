"""The scenario table: what each one adds to the cluster, the fault it injects, its clients, and
the outcomes the fault must produce.

A scenario changes the cluster through `change` (so the snapshot shows it), injects `faults`
(iptables rules inside the lab's namespaces, each logged to the truth), and runs `clients`.
Scenarios combine: `record --scenario a,b` applies both changes, both faults, and runs both
clients in one cluster; `expect` then holds only for single-scenario runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from samples.lab import kubeproxy
from samples.lab.cluster import (
    BLOB,
    CLIENT,
    EXTERNAL_HOST_IP,
    EXTERNAL_HOST_IP6,
    EXTERNAL_NAME,
    HTTP_PORTS,
    UNDERLAY_MTU,
    Cluster,
    ContainerPort,
    Pod,
    Process,
    Service,
    ServicePort,
    Vxlan,
    as_ipv6,
    base_cluster,
)
from samples.lab.dataplane import EXTERNAL as EXTERNAL_NS
from samples.lab.dataplane import UNDERLAY
from samples.lab.proxymodes import MODES

EXTERNAL = None  # a Client whose pod is None runs on the external host on the underlay


@dataclass(frozen=True)
class Fault:
    """One injected fault: the truth line it writes, and the iptables rules that make it.

    `rules` are (namespace, table, iptables arguments). `symptoms` are the pcapkit symptom kinds
    the fault must produce (contract.md), for the detector tests. `programmed` are (namespace,
    command) lines of kube-proxy's own program that make the fault, quoted in the truth's `rules`
    but not run again (kube-proxy's program ran them). `commands` are (namespace, shell command)
    lines that make a fault iptables cannot (a link taken off its bridge), run after the rules
    and quoted in the truth's `rules` too.
    """

    fault: str
    where: str
    detail: str
    symptoms: tuple[str, ...]
    rules: tuple[tuple[str, str, str], ...] = ()
    programmed: tuple[tuple[str, str], ...] = ()
    commands: tuple[tuple[str, str], ...] = ()

    def truth(self) -> dict[str, Any]:
        return {
            "kind": "fault",
            "fault": self.fault,
            "where": self.where,
            "detail": self.detail,
            "symptoms": list(self.symptoms),
            "rules": [f"{ns}: iptables -t {table} {args}" for ns, table, args in self.rules]
            + [f"{ns}: {command}" for ns, command in (*self.programmed, *self.commands)],
        }


@dataclass(frozen=True)
class Client:
    pod: str | None  # "ns/name", or EXTERNAL
    actions: tuple[dict[str, Any], ...]
    parallel: int = 1  # client processes running the same actions side by side


@dataclass(frozen=True)
class Scenario:
    name: str
    built: str  # README: what this scenario adds to the base cluster
    see: str  # README: what a person should see in the captures
    clients: tuple[Client, ...]
    # Allowed outcomes per attempt target host, or per "dns:NAME" looked up, in a run of this
    # scenario alone.
    expect: dict[str, set[str]]
    faults: Callable[[Cluster], list[Fault]] = lambda cluster: []
    change: Callable[[Cluster], None] = lambda cluster: None
    multi_capture: bool = False  # also a dumpcap pcapng of several interfaces on worker-1
    #: also `dumpcap -i eth0 -i any` on worker-1, as dumpcap takes `any` unasked: Linux cooked v1
    dumpcap_any: bool = False
    #: also the external host's eth0 and the underlay bridge (a switch port mirroring every
    #: node's): captures taken off the cluster's nodes
    outside_captures: bool = False


def http(target: str, port: int, service: str | None, count: int, **more: Any) -> dict[str, Any]:
    return {"op": "http", "target": target, "port": port, "service": service, "count": count} | more


def blob(op: str, target: str, size: int, count: int, **more: Any) -> dict[str, Any]:
    return {
        "op": op,
        "target": target,
        "port": 9000,
        "service": "default/blob",
        "size": size,
        "count": count,
    } | more


def _backend(
    cluster: Cluster,
    name: str,
    ip: str,
    pod: str,
    pod_ip: str,
    node_port: int | None = None,
    **pod_fields: Any,
) -> None:
    """Add a Service `name` (port http 80 → targetPort http, and `node_port` when given) and its
    one pod on worker-2."""
    port = ServicePort("http", 80, "http", node_port=node_port)
    cluster.services.append(Service("default", name, ip, (port,), {"app": name}))
    labels = {"app": name, "pod-template-hash": pod.split("-")[1]}
    cluster.pods.append(Pod("default", pod, "worker-2", pod_ip, labels, HTTP_PORTS, **pod_fields))


def _add_orphan(cluster: Cluster) -> None:
    cluster.services.append(
        Service(
            "default", "orphan", "10.96.0.40", (ServicePort("http", 80, 8080),), {"app": "orphan"}
        )
    )


def _add_stale(cluster: Cluster) -> None:
    _backend(
        cluster, "stale", "10.96.0.50", "stale-6b7d9c8f5-zz1qp", "10.244.2.99", terminating=True
    )


def _add_nolisten(cluster: Cluster) -> None:
    # The container declares http=8080 but the program listens on 8081: a wrong targetPort.
    _backend(
        cluster,
        "nolisten",
        "10.96.0.60",
        "nolisten-7f6c9d8b4-p5w2j",
        "10.244.2.30",
        process=Process("http", 8081),
    )


SHOP_NODE_PORT = 30081
SHOP_BALANCER = "172.18.0.200"


def _add_shop(cluster: Cluster) -> None:
    # A NodePort Service whose only endpoint is on worker-2 and listens on the wrong port.
    _backend(
        cluster,
        "shop",
        "10.96.0.70",
        "shop-5f7b8c9d4-k3m7x",
        "10.244.2.40",
        node_port=SHOP_NODE_PORT,
        process=Process("http", 8081),
    )
    cluster.service("default/shop").load_balancer_ip = SHOP_BALANCER


def _shop_refuses(cluster: Cluster) -> list[Fault]:
    entry = cluster.node("worker-1")
    return [
        Fault(
            "nodeport_refused",
            "endpoint 10.244.2.40:8080 of service default/shop on node worker-2",
            f"the external host connects to {entry.underlay_ip}:{SHOP_NODE_PORT} (NodePort of "
            "default/shop on worker-1, externalTrafficPolicy Cluster); worker-1 DNATs to the only "
            f"endpoint 10.244.2.40:8080 on worker-2 and masquerades to its {cluster.vxlan.device} "
            f"address {entry.vtep_ip}; the pod listens on 8081, so it answers RST. The same "
            f"through the Service's LoadBalancer address {SHOP_BALANCER}:80, routed to "
            "worker-1",
            ("rst",),
        )
    ]


def _programmed(cluster: Cluster, ref: str,
                on: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    """kube-proxy's commands for Service `ref`, on the nodes named `on` (default: every node),
    as its mode quotes them."""
    quote = MODES[cluster.kube_proxy].quote
    return tuple((node.name, command) for node in cluster.nodes if node.name in on or not on
                 for command in quote(cluster, cluster.service(ref), node))


def _reject_rules(cluster: Cluster) -> list[Fault]:
    svc = cluster.service("default/orphan")
    return [
        Fault(
            "no_endpoints",
            "service default/orphan",
            f"no pod matches app=orphan; kube-proxy on every node REJECTs {svc.cluster_ip}:80 "
            f"with icmp-port-unreachable ({MODES[cluster.kube_proxy].rejects})",
            ("icmp_unreachable",),
            programmed=_programmed(cluster, svc.ref),
        )
    ]


def _endpoint(cluster: Cluster, pod: str, port: int) -> str:
    """`ip:port` of a pod, an IPv6 address in brackets, as the truth writes endpoints."""
    ip = cluster.pod(pod).ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _stale_fault(cluster: Cluster) -> list[Fault]:
    endpoint = _endpoint(cluster, "default/stale-6b7d9c8f5-zz1qp", 8080)
    lookup = "neighbour discovery" if cluster.ipv6_pods else "ARP"
    return [
        Fault(
            "stale_endpoint",
            f"endpoint {endpoint} of service default/stale on node worker-2",
            "pod default/stale-6b7d9c8f5-zz1qp is terminating (EndpointSlice ready=false, "
            "serving=true, terminating=true) but its network is already gone; kube-proxy still "
            f"DNATs to it, and worker-2 answers with ICMP host unreachable once {lookup} fails",
            ("unanswered_syn", "icmp_unreachable", "arp_unanswered"),
            programmed=_programmed(cluster, "default/stale"),
        )
    ]


def _nolisten_fault(cluster: Cluster) -> list[Fault]:
    endpoint = _endpoint(cluster, "default/nolisten-7f6c9d8b4-p5w2j", 8080)
    return [
        Fault(
            "not_listening",
            f"endpoint {endpoint} of service default/nolisten on node worker-2",
            "the pod is Ready and listed, but its server listens on 8081, not targetPort 8080",
            ("rst",),
        )
    ]


def _policy_drop(cluster: Cluster) -> list[Fault]:
    pod = cluster.pod(BLOB)
    chain = "KUBE-POD-FW-4QBA2RP6F2KPJ3UD"  # kube-router's per-pod firewall chain, for deny-all
    comment = (
        f'-m comment --comment "rule to drop traffic to POD name: {pod.name} namespace: default"'
    )
    return [
        Fault(
            "policy_drop",
            f"node worker-2, pod {BLOB}",
            "a NetworkPolicy-like DROP for new connections to the blob pod, in worker-2's FORWARD "
            "chain",
            ("unanswered_syn",),
            (
                ("worker-2", "filter", f"-N {chain}"),
                (
                    "worker-2",
                    "filter",
                    f"-A {chain} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                ),
                ("worker-2", "filter", f"-A {chain} {comment} -j DROP"),
                ("worker-2", "filter", f"-I FORWARD 1 -d {pod.ip}/32 -j {chain}"),
            ),
        )
    ]


LOSS = 0.1


def _lossy(cluster: Cluster) -> list[Fault]:
    port = cluster.vxlan.port
    return [
        Fault(
            "lossy_underlay",
            "underlay bridge",
            f"{LOSS:.0%} of VXLAN datagrams (UDP {port}) crossing the underlay bridge are dropped",
            ("retransmission",),
            (
                (
                    UNDERLAY,
                    "filter",
                    f"-A FORWARD -p udp --dport {port} -m statistic --mode random --probability "
                    f"{LOSS} -j DROP",
                ),
            ),
        )
    ]


def _storm(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "nxdomain_storm",
            "pod " + CLIENT,
            f"ndots:5 sends {EXTERNAL_NAME} (2 dots) through the 3 search domains first: 3 "
            "NXDOMAIN "
            "per query type before the absolute name; checkout.example.net does not exist at all",
            ("nxdomain_storm",),
        )
    ]


DNS_DROP = 0.3
COREDNS = "kube-system/coredns-5d78c9869d-qx8tn"


def _dns_drop(cluster: Cluster) -> list[Fault]:
    dns = cluster.pod(COREDNS)
    return [
        Fault(
            "dns_timeout",
            f"node worker-2, pod {dns.ref}",
            f"{DNS_DROP:.0%} of DNS replies from the CoreDNS pod are dropped in worker-2's "
            "FORWARD chain",
            ("dns_timeout",),
            (
                (
                    "worker-2",
                    "filter",
                    f"-I FORWARD 1 -s {dns.ip}/32 -p udp --sport 53 -m statistic --mode random "
                    f"--probability {DNS_DROP} -j DROP",
                ),
            ),
        )
    ]


def _big_pod_mtu(cluster: Cluster) -> None:
    cluster.pod_mtu = UNDERLAY_MTU


def _mtu(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "mtu_mismatch",
            "every pod and cni0",
            f"the CNI MTU is {cluster.pod_mtu} but {cluster.vxlan.device} allows "
            f"{cluster.overlay_mtu}: full-size DF segments cannot enter the overlay",
            ("icmp_unreachable",),
        ),
        Fault(
            "mtu_blackhole",
            "node worker-2",
            "worker-2's host firewall drops outgoing ICMP fragmentation-needed, so the blob pod "
            "never learns the path MTU: its full-size segments vanish",
            ("retransmission",),
            (("worker-2", "filter", "-A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP"),),
        ),
    ]


def _hairpin(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "hairpin",
            f"pod {BLOB}",
            "the pod reaches itself through its own Service; kube-proxy DNATs back to the pod and "
            f"masquerades ({MODES[cluster.kube_proxy].hairpin}) to worker-2's cni0 address",
            (),
        )
    ]


def _calico_vxlan(cluster: Cluster) -> None:
    cluster.vxlan = Vxlan(device="vxlan.calico", vni=4096, port=4789)


def _ping_dropped(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "ping_unanswered",
            f"host {EXTERNAL_HOST_IP}",
            f"the external host {EXTERNAL_HOST_IP} drops every ICMP echo request it receives "
            "(a firewall that does not answer pings): the client pod's pings, masqueraded by "
            "worker-1, get no reply",
            ("icmp_echo_unanswered",),
            ((EXTERNAL_NS, "filter", "-A INPUT -p icmp --icmp-type echo-request -j DROP"),),
        )
    ]


def _wrong_gateway(cluster: Cluster) -> list[Fault]:
    client = cluster.pod(CLIENT)
    gateway = cluster.node(client.node).gateway
    wrong = f"{gateway.rsplit('.', 1)[0]}.254"
    return [
        Fault(
            "gateway_arp",
            f"pod {client.ref}",
            f"the client pod's default route points at {wrong} instead of cni0's {gateway} (a "
            "stale gateway in the CNI's IPAM configuration): nothing on the pod's link holds "
            f"{wrong}, so its ARP requests for it go unanswered and nothing it sends off its "
            "subnet leaves the pod",
            ("arp_unanswered",),
            commands=((client.name, f"ip route replace default via {wrong} dev eth0"),),
        )
    ]


ORDERS = "shop/orders"


def _add_orders(cluster: Cluster) -> None:
    """A Service `orders` in namespace shop, with its pod on worker-2."""
    cluster.services.append(Service("shop", "orders", "10.96.0.70",
                                    (ServicePort("http", 80, "http"),), {"app": "orders"}))
    cluster.pods.append(Pod("shop", "orders-5f7b8c9d4-k2x8m", "worker-2", "10.244.2.70",
                            {"app": "orders", "pod-template-hash": "5f7b8c9d4"}, HTTP_PORTS,
                            Process("http", 8080)))


def _short_name(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "short_name_other_namespace",
            "pod " + CLIENT,
            f"the client (namespace default) looks up `orders`, whose Service is {ORDERS}: its "
            "search path tries orders.default.svc.cluster.local, orders.svc.cluster.local, "
            "orders.cluster.local and orders, all NXDOMAIN",
            ("nxdomain_name",),
        )
    ]


def _no_such_service(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "no_such_service",
            "pod " + CLIENT,
            "the client looks up `no-such-service`; no Service of that name exists in any "
            "namespace, so every name of its search path is NXDOMAIN",
            ("nxdomain_name",),
        )
    ]


ROGUE_DNS = "10.244.2.40"


def _rogue_dns(cluster: Cluster) -> None:
    """A dnsmasq-like pod on worker-2 serving the cluster's names, and the client pointed at it
    (`dnsPolicy: None`) instead of kube-dns."""
    cluster.pods.append(Pod("default", "dnsmasq-6c8d7b9f4-w4t7r", "worker-2", ROGUE_DNS,
                            {"app": "dnsmasq", "pod-template-hash": "6c8d7b9f4"},
                            (ContainerPort("dns", 53, "UDP"),), Process("dns", 53)))
    cluster.pod(CLIENT).nameserver = ROGUE_DNS


def _wrong_nameserver(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "wrong_nameserver",
            "pod " + CLIENT,
            f"the client's resolv.conf names {ROGUE_DNS} (a dnsmasq pod; dnsPolicy None with a "
            "dnsConfig) instead of kube-dns 10.96.0.10: its lookups bypass the cluster's DNS",
            ("dns_wrong_server",),
        )
    ]


NODELOCAL_DNS = "169.254.20.10"


def _nodelocal(cluster: Cluster) -> None:
    """NodeLocal DNSCache on every node, and the client asking it (kubelet's clusterDNS)."""
    cluster.nodelocal_dns = NODELOCAL_DNS
    cluster.pod(CLIENT).nameserver = NODELOCAL_DNS


def _add_headless(cluster: Cluster) -> None:
    """Two headless Services (clusterIP None, as a StatefulSet's governing Service): `db`, one
    pod ready on worker-2 and one running but not ready on worker-1; `cache`, its only pod not
    ready."""
    for name, ip, node, ready in [("db-7b9c5d8f6-t4n8w", "10.244.2.60", "worker-2", True),
                                  ("db-7b9c5d8f6-h6q2v", "10.244.1.60", "worker-1", False),
                                  ("cache-5c8f7d9b4-r2k7m", "10.244.2.61", "worker-2", False)]:
        app, template = name.split("-")[:2]
        cluster.pods.append(Pod("default", name, node, ip,
                                {"app": app, "pod-template-hash": template}, HTTP_PORTS,
                                Process("http", 8080), ready=ready))
    for app in ("db", "cache"):
        cluster.services.append(Service("default", app, "None",
                                        (ServicePort("http", 8080, "http"),), {"app": app},
                                        headless=True))


def _headless_faults(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "headless_no_ready",
            "service default/cache",
            "headless Service default/cache has one pod, not ready (readiness probe failing): "
            "the cluster DNS has no address for cache.default.svc.cluster.local and answers "
            "NXDOMAIN",
            ("headless_not_ready",),
        ),
        Fault(
            "headless_partly_ready",
            "service default/db",
            "headless Service default/db has two pods; db-7b9c5d8f6-h6q2v on worker-1 is not "
            "ready, so the DNS answers only 10.244.2.60 (db-7b9c5d8f6-t4n8w)",
            ("headless_not_ready",),
        ),
    ]


PAYMENTS_TARGET = "payments.example.net"


def _add_external_names(cluster: Cluster) -> None:
    """Two ExternalName Services: `partners`, an alias for the lab's external name (answered
    inside the lab), and `payments`, an alias for a name that exists nowhere."""
    for name, target in (("partners", EXTERNAL_NAME), ("payments", PAYMENTS_TARGET)):
        cluster.services.append(Service("default", name, "", (ServicePort("http", 80, 80),), {},
                                        external_name=target))


def _external_name_fault(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "external_name_nxdomain",
            "service default/payments",
            f"ExternalName Service default/payments points at {PAYMENTS_TARGET}, which does not "
            "exist: the cluster DNS answers payments.default.svc.cluster.local with the CNAME "
            "and NXDOMAIN for its target",
            ("nxdomain_name",),
        )
    ]


def _add_api(cluster: Cluster) -> None:
    """Service default/api (10.96.0.90:80) with a numeric targetPort 9090, while its pod
    declares and serves http 8080."""
    cluster.services.append(Service("default", "api", "10.96.0.90",
                                    (ServicePort("http", 80, 9090),), {"app": "api"}))
    cluster.pods.append(Pod("default", "api-6d8f9c7b5-w3p9z", "worker-2", "10.244.2.80",
                            {"app": "api", "pod-template-hash": "6d8f9c7b5"}, HTTP_PORTS,
                            Process("http", 8080)))


def _target_port_fault(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "target_port_mismatch",
            "service default/api",
            "the Service's targetPort is 9090, a port its pod api-6d8f9c7b5-w3p9z does not "
            "declare (it declares http 8080 and serves there): kube-proxy DNATs to "
            "10.244.2.80:9090 and the pod answers RST",
            ("rst",),
        )
    ]


def _add_ledger(cluster: Cluster) -> None:
    """Service default/ledger (10.96.0.91:80 → http) whose two pods run but are not ready."""
    cluster.services.append(Service("default", "ledger", "10.96.0.91",
                                    (ServicePort("http", 80, "http"),), {"app": "ledger"}))
    for name, ip, node in [("ledger-8c6d9f7b5-j5v3x", "10.244.2.81", "worker-2"),
                           ("ledger-8c6d9f7b5-b8m4k", "10.244.1.81", "worker-1")]:
        cluster.pods.append(Pod("default", name, node, ip,
                                {"app": "ledger", "pod-template-hash": "8c6d9f7b5"}, HTTP_PORTS,
                                Process("http", 8080), ready=False))


def _ledger_fault(cluster: Cluster) -> list[Fault]:
    svc = cluster.service("default/ledger")
    return [
        Fault(
            "endpoints_not_ready",
            "service default/ledger",
            "both pods of default/ledger fail their readiness probe: the EndpointSlice lists "
            f"them ready=false, serving=false, and kube-proxy REJECTs {svc.cluster_ip}:80 with "
            f"icmp-port-unreachable ({MODES[cluster.kube_proxy].rejects})",
            ("icmp_unreachable",),
            programmed=_programmed(cluster, svc.ref),
        )
    ]


GREETER_PORT = 50051  #: gRPC's customary port


def _add_greeter(cluster: Cluster) -> None:
    """Service default/greeter (10.96.0.92:50051 → grpc, appProtocol kubernetes.io/h2c) and its
    gRPC pod on worker-2."""
    cluster.services.append(Service("default", "greeter", "10.96.0.92",
                                    (ServicePort("grpc", GREETER_PORT, "grpc",
                                                 app_protocol="kubernetes.io/h2c"),),
                                    {"app": "greeter"}))
    cluster.pods.append(Pod("default", "greeter-5f7b8c9d6-k4r7t", "worker-2", "10.244.2.82",
                            {"app": "greeter", "pod-template-hash": "5f7b8c9d6"},
                            (ContainerPort("grpc", GREETER_PORT),),
                            Process("grpc", GREETER_PORT)))


def _greeter_fault(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "grpc_errors",
            "pod default/greeter-5f7b8c9d6-k4r7t",
            "the gRPC server (h2c) answers Unavailable with grpc-status 14, resets the stream "
            "of Reset with RST_STREAM INTERNAL_ERROR, and sends GOAWAY ENHANCE_YOUR_CALM "
            "(too_many_pings) to a client that pings too often; TCP and DNS stay healthy, so "
            "no pcapkit symptom: `pcapkit show --flow` shows each call",
            (),
        )
    ]


def compose(scenarios: Sequence[Scenario], kube_proxy: str = "iptables") -> Cluster:
    """The base cluster, its Services programmed by kube-proxy's `kube_proxy` mode, with every
    scenario's change applied."""
    cluster = base_cluster()
    cluster.kube_proxy = kube_proxy
    for scenario in scenarios:
        scenario.change(cluster)
    return cluster


WEB = "default/web"
OK = {"ok"}

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "healthy",
            "the base cluster only: client on worker-1, web on both workers, blob and CoreDNS on "
            "worker-2, an external host on the underlay calling the web NodePort",
            "every connection completes; the client's lookups of `web` and `blob` succeed on the "
            "first search domain; cross-node traffic appears on the underlay as VXLAN (UDP 8472); "
            "NodePort connections from 172.18.0.100 are masqueraded by the node they enter",
            (
                Client(
                    CLIENT,
                    (
                        http("web", 80, WEB, 6),
                        blob("get", "blob", 20000, 2),
                        blob("put", "blob", 8000, 1),
                    ),
                ),
                Client(
                    EXTERNAL,
                    (http("172.18.0.11", 30080, WEB, 2), http("172.18.0.12", 30080, WEB, 2)),
                ),
            ),
            {"web": OK, "blob": OK, "172.18.0.11": OK, "172.18.0.12": OK},
            multi_capture=True,
        ),
        Scenario(
            "no_endpoints",
            "Service default/orphan (10.96.0.40:80) whose selector app=orphan matches no pod",
            "each SYN to 10.96.0.40:80 is answered at once by ICMP port unreachable from worker-1 "
            "(10.244.1.1), and the client reports connection refused; no packet crosses the "
            "underlay",
            (Client(CLIENT, (http("orphan", 80, "default/orphan", 3),)),),
            {"orphan": {"refused"}},
            faults=_reject_rules,
            change=_add_orphan,
        ),
        Scenario(
            "stale_endpoint",
            "Service default/stale (10.96.0.50:80) whose only endpoint, pod stale-6b7d9c8f5-zz1qp "
            "at "
            "10.244.2.99, is terminating and whose network is already gone",
            "SYNs to 10.96.0.50:80 are DNATed to 10.244.2.99:8080 and carried to worker-2, where "
            "nothing answers ARP; the client retransmits its SYN until it gives up, or gets an "
            "ICMP "
            "host unreachable from worker-2",
            (Client(CLIENT, (http("stale", 80, "default/stale", 3, timeout=4.0),)),),
            {"stale": {"timeout", "error"}},
            faults=_stale_fault,
            change=_add_stale,
        ),
        Scenario(
            "not_listening",
            "Service default/nolisten (10.96.0.60:80 → targetPort http=8080) and its Ready pod at "
            "10.244.2.30, whose server listens on 8081",
            "each SYN, DNATed to 10.244.2.30:8080, is answered by a RST from the pod; the client "
            "sees "
            "connection refused from 10.96.0.60:80",
            (Client(CLIENT, (http("nolisten", 80, "default/nolisten", 3),)),),
            {"nolisten": {"refused"}},
            faults=_nolisten_fault,
            change=_add_nolisten,
            dumpcap_any=True,
        ),
        Scenario(
            "policy_drop",
            "a NetworkPolicy-like DROP on worker-2 for new connections to the blob pod "
            "(10.244.2.20)",
            "SYNs to 10.96.0.30:9000 cross the underlay (VXLAN) to worker-2 and are seen on its "
            "flannel.1 but never on the blob pod's veth; the client retransmits and times out",
            (Client(CLIENT, (blob("get", "blob", 2000, 3),)),),
            {"blob": {"timeout"}},
            faults=_policy_drop,
        ),
        Scenario(
            "lossy_underlay",
            f"the underlay bridge drops {LOSS:.0%} of VXLAN datagrams",
            "downloads of 20 KB from 10.96.0.30:9000 (by ClusterIP, so no DNS crosses the lossy "
            "underlay) complete, with retransmissions; a lost segment appears twice on the sending "
            "node's eth0 and once on the receiving node's eth0",
            (Client(CLIENT, (blob("get", "10.96.0.30", 20000, 3, timeout=10.0),)),),
            {"10.96.0.30": OK},
            faults=_lossy,
        ),
        Scenario(
            "nxdomain_storm",
            f"nothing: the lab's DNS answers {EXTERNAL_NAME} with the external host 172.18.0.100",
            f"each connection to {EXTERNAL_NAME} starts with A and AAAA queries for "
            f"{EXTERNAL_NAME}.default.svc.cluster.local, .svc.cluster.local and .cluster.local, "
            "all "
            "NXDOMAIN, before the absolute name resolves; checkout.example.net fails on all 4 "
            "names",
            (
                Client(
                    CLIENT,
                    (http(EXTERNAL_NAME, 80, None, 4), http("checkout.example.net", 80, None, 2)),
                ),
            ),
            {EXTERNAL_NAME: OK, "checkout.example.net": {"nxdomain"}},
            faults=_storm,
        ),
        Scenario(
            "dns_timeout",
            f"worker-2 drops {DNS_DROP:.0%} of the CoreDNS pod's UDP replies",
            "DNS queries from the client to 10.96.0.10:53 without a reply, re-sent by glibc after "
            "5 s. A lookup whose retries all go unanswered falls through to the next candidate "
            "name, so it can end NXDOMAIN (the absolute name `web`) after 15 s, not a timeout",
            (
                Client(
                    CLIENT,
                    (
                        {"op": "lookup", "target": "web", "count": 4},
                        {"op": "lookup", "target": "blob", "count": 2},
                    ),
                ),
            ),
            {"dns:web": {"ok", "timeout", "nxdomain"}, "dns:blob": {"ok", "timeout", "nxdomain"}},
            faults=_dns_drop,
            dumpcap_any=True,
        ),
        Scenario(
            "mtu_blackhole",
            f"the CNI MTU is {UNDERLAY_MTU} while flannel.1 allows 1450; worker-2 drops outgoing "
            "ICMP fragmentation-needed",
            "downloads from the blob pod: handshake and request pass, the pod's 1500-byte segments "
            "reach worker-2's cni0 but never flannel.1, it retransmits them, the client times out. "
            "The upload afterwards: worker-1 answers the client's first 1500-byte segment with "
            "ICMP "
            "fragmentation needed (MTU 1450; conntrack rewrites its source to the ClusterIP), the "
            "client resends smaller segments and completes. Node `-i any` captures show the "
            "pods' GSO super-segments (several KB) as the kernel hands them to the veth",
            (
                Client(
                    CLIENT,
                    (
                        blob("get", "blob", 20000, 2, timeout=4.0),
                        blob("put", "blob", 20000, 1, timeout=6.0),
                    ),
                ),
            ),
            {"blob": {"timeout", "ok"}},
            faults=_mtu,
            change=_big_pod_mtu,
        ),
        Scenario(
            "hairpin",
            f"nothing: the client is the blob pod itself ({BLOB}, 10.244.2.20)",
            "the pod connects to 10.96.0.30:9000 and the connection comes back to it from "
            "10.244.2.1 (worker-2's cni0, the hairpin masquerade) to 10.244.2.20:9000; all succeed",
            (Client(BLOB, (blob("get", "blob", 4000, 3),)),),
            {"blob": OK},
            faults=_hairpin,
        ),
        Scenario(
            "nodeport",
            "Service default/shop (type LoadBalancer: 10.96.0.70:80 → targetPort http=8080, "
            f"NodePort {SHOP_NODE_PORT}, ingress IP {SHOP_BALANCER} routed to worker-1, "
            "externalTrafficPolicy Cluster) whose only pod, on worker-2 at 10.244.2.40, listens "
            "on 8081; the external host (172.18.0.100) calls worker-1's NodePort and the "
            "LoadBalancer address, the client pod the ClusterIP",
            f"the external SYN to 172.18.0.11:{SHOP_NODE_PORT} enters worker-1's eth0, leaves its "
            "flannel.1 DNATed to 10.244.2.40:8080 and masqueraded to 10.244.1.0 (a new source "
            "port, the same sequence number and IP id), crosses the underlay as VXLAN to "
            "worker-2, and the pod answers RST, which worker-1 un-NATs back to the external "
            "host; the client pod's SYNs to 10.96.0.70:80 are refused the same way",
            (
                Client(
                    EXTERNAL,
                    (http("172.18.0.11", SHOP_NODE_PORT, "default/shop", 3,
                          node_port=f"node worker-1:{SHOP_NODE_PORT}"),
                     http(SHOP_BALANCER, 80, "default/shop", 2,
                          load_balancer=f"{SHOP_BALANCER}:80")),
                ),
                Client(CLIENT, (http("shop", 80, "default/shop", 2),)),
            ),
            {"172.18.0.11": {"refused"}, SHOP_BALANCER: {"refused"}, "shop": {"refused"}},
            faults=_shop_refuses,
            change=_add_shop,
        ),
        Scenario(
            "vxlan_4789",
            "the overlay as Calico's VXLAN: device vxlan.calico, VNI 4096, UDP 4789",
            "as `healthy`, with cross-node traffic encapsulated in VXLAN on UDP 4789, VNI 4096",
            (Client(CLIENT, (http("web", 80, WEB, 4), blob("get", "blob", 8000, 1))),),
            {"web": OK, "blob": OK},
            change=_calico_vxlan,
        ),
        Scenario(
            "ping_unanswered",
            f"the external host {EXTERNAL_HOST_IP} drops the ICMP echo requests it gets",
            "a download from the blob pod across the overlay completes; then the client pod's "
            f"echo requests to {EXTERNAL_HOST_IP} (one a second, one identifier) leave worker-1 "
            "by eth0, masqueraded to 172.18.0.11, and no reply comes back",
            (Client(CLIENT, (blob("get", "blob", 20000, 1),
                             {"op": "ping", "target": EXTERNAL_HOST_IP, "count": 5})),),
            {"blob": OK, f"ping:{EXTERNAL_HOST_IP}": {"unanswered"}},
            faults=_ping_dropped,
        ),
        Scenario(
            "gateway_arp",
            "the client pod's default route points at 10.244.1.254, which nothing holds",
            f"the client pod pings {EXTERNAL_HOST_IP}: its ARP requests for its gateway "
            "10.244.1.254 appear on the pod's eth0 and on worker-1's veth and cni0 (`-i any`), "
            "and nothing answers them; no echo request leaves the pod (they wait for the "
            "gateway's address)",
            (Client(CLIENT, ({"op": "ping", "target": EXTERNAL_HOST_IP, "count": 5},)),),
            {f"ping:{EXTERNAL_HOST_IP}": {"unanswered"}},
            faults=_wrong_gateway,
        ),
        Scenario(
            "short_name_other_namespace",
            f"Service {ORDERS} (10.96.0.70:80) and its pod at 10.244.2.70 on worker-2",
            "the client in namespace default looks up `orders`: the four names of its search "
            "path are all NXDOMAIN (A and AAAA), as no Service orders is in default",
            (Client(CLIENT, ({"op": "lookup", "target": "orders", "count": 2},)),),
            {"dns:orders": {"nxdomain"}},
            faults=_short_name,
            change=_add_orders,
        ),
        Scenario(
            "no_such_service",
            "nothing: the client looks up a Service that exists nowhere",
            "the client looks up `no-such-service`: the four names of its search path are all "
            "NXDOMAIN (A and AAAA)",
            (Client(CLIENT, ({"op": "lookup", "target": "no-such-service", "count": 2},)),),
            {"dns:no-such-service": {"nxdomain"}},
            faults=_no_such_service,
        ),
        Scenario(
            "wrong_nameserver",
            f"a dnsmasq pod at {ROGUE_DNS} on worker-2 serving the cluster's names; the client's "
            "resolv.conf names it instead of kube-dns",
            f"the client's queries go to {ROGUE_DNS}:53 (across VXLAN), never to 10.96.0.10; "
            "they are answered, and its connections to web succeed",
            (Client(CLIENT, (http("web", 80, WEB, 2),)),),
            {"dns:web": OK, "web": OK},
            faults=_wrong_nameserver,
            change=_rogue_dns,
        ),
        Scenario(
            "nodelocal_dns",
            f"NodeLocal DNSCache on every node: a listener on {NODELOCAL_DNS} (on the node's lo) "
            "forwarding to the kube-dns ClusterIP over TCP; the client's "
            "resolv.conf names it",
            f"the client's queries go to {NODELOCAL_DNS}:53 over UDP; for each, worker-1 asks "
            "10.96.0.10:53 over TCP from its own address (DNATed to the CoreDNS pod) under another "
            "DNS id, and the answer goes back to the pod. `web` resolves; `no-such-service` is "
            "NXDOMAIN for every name of the search path",
            (Client(CLIENT, ({"op": "lookup", "target": "web", "count": 2},
                             {"op": "lookup", "target": "no-such-service", "count": 2})),),
            {"dns:web": OK, "dns:no-such-service": {"nxdomain"}},
            faults=_no_such_service,
            change=_nodelocal,
        ),
        Scenario(
            "headless",
            "headless Services default/db (pods 10.244.2.60 ready, 10.244.1.60 not ready) and "
            "default/cache (its only pod 10.244.2.61 not ready)",
            "the client looks up `db`: db.default.svc.cluster.local answers 10.244.2.60 only, "
            "and its connections to 10.244.2.60:8080 (no ClusterIP, no DNAT) succeed; its "
            "lookups of `cache` are NXDOMAIN on every name of the search path",
            (Client(CLIENT, (http("db", 8080, "default/db", 2),
                             {"op": "lookup", "target": "cache", "count": 2})),),
            {"db": OK, "dns:cache": {"nxdomain"}},
            faults=_headless_faults,
            change=_add_headless,
        ),
        Scenario(
            "external_name",
            f"ExternalName Services default/partners (→ {EXTERNAL_NAME}, answered inside the "
            f"lab with the external host) and default/payments (→ {PAYMENTS_TARGET}, which "
            "exists nowhere)",
            f"the client's lookup of `partners` gets a CNAME to {EXTERNAL_NAME} and its A "
            "record, and its connections to 172.18.0.100:80 succeed; `payments` gets the CNAME "
            f"to {PAYMENTS_TARGET} with NXDOMAIN, then NXDOMAIN on the rest of the search path",
            (Client(CLIENT, (http("partners", 80, None, 2),
                             {"op": "lookup", "target": "payments", "count": 2})),),
            {"partners": OK, "dns:payments": {"nxdomain"}},
            faults=_external_name_fault,
            change=_add_external_names,
        ),
        Scenario(
            "target_port_mismatch",
            "Service default/api (10.96.0.90:80 → targetPort 9090) whose pod at 10.244.2.80 "
            "declares and serves http 8080",
            "each SYN to 10.96.0.90:80, DNATed to 10.244.2.80:9090, is answered by a RST from "
            "the pod; the client sees connection refused",
            (Client(CLIENT, (http("api", 80, "default/api", 3),)),),
            {"api": {"refused"}},
            faults=_target_port_fault,
            change=_add_api,
        ),
        Scenario(
            "endpoints_not_ready",
            "Service default/ledger (10.96.0.91:80) whose two pods run but are not ready",
            "each SYN to 10.96.0.91:80 is answered at once by ICMP port unreachable from "
            "worker-1 (10.244.1.1), as for a Service with no endpoints, though the "
            "EndpointSlice lists two",
            (Client(CLIENT, (http("ledger", 80, "default/ledger", 3),)),),
            {"ledger": {"refused"}},
            faults=_ledger_fault,
            change=_add_ledger,
        ),
        Scenario(
            "grpc_errors",
            "Service default/greeter (10.96.0.92:50051 → targetPort grpc, appProtocol "
            "kubernetes.io/h2c) and its pod at "
            "10.244.2.82, a gRPC server over cleartext HTTP/2 (h2c)",
            "two connections to 10.96.0.92:50051, DNATed to 10.244.2.82:50051, each calling "
            "SayHello (grpc-status 0), Unavailable (a trailers-only response, grpc-status 14), "
            "Reset (RST_STREAM INTERNAL_ERROR) and SayHello again, then pinging until the "
            "server's GOAWAY ENHANCE_YOUR_CALM; every TCP connection completes and closes "
            "cleanly",
            (Client(CLIENT, ({"op": "grpc", "target": "greeter", "port": GREETER_PORT,
                              "service": "default/greeter", "count": 2,
                              "methods": ["SayHello", "Unavailable", "Reset", "SayHello"]},)),),
            {"greeter": OK},
            faults=_greeter_fault,
            change=_add_greeter,
        ),
    ]
}


def _socket_lb(cluster: Cluster) -> None:
    cluster.socket_lb = True


def _no_blob_portal(cluster: Cluster) -> list[Fault]:
    blob_svc = cluster.service("default/blob")
    (port,) = blob_svc.ports
    return [
        Fault(
            "kube_proxy_missing",
            "node worker-1, service default/blob",
            f"kube-proxy on worker-1 has no rule for {blob_svc.cluster_ip}:{port.port} (its "
            "KUBE-SERVICES jump is deleted): the client's SYNs leave worker-1 un-DNATed, "
            "masqueraded by flannel, towards the underlay's gateway, which drops them",
            ("unanswered_syn", "kube_proxy_missing"),
            (("worker-1", "nat", f"-D {kubeproxy.portal(blob_svc, port)}"),),
        )
    ]


#: socket-level load balancing, as Cilium's kube-proxy replacement does it; a flavour to combine
#: with a scenario (`record --scenario socket_lb,stale_endpoint`)
SOCKET_LB = Scenario(
    "socket_lb",
    "socket-level load balancing, as Cilium's kube-proxy replacement does it: kube-proxy's "
    "rules also in each pod's own namespace, whose OUTPUT chain DNATs",
    "the pods' own captures show connections to endpoint addresses, never a ClusterIP",
    (),
    {},
    change=_socket_lb,
)
KUBE_PROXY_MISSING = Scenario(
    "kube_proxy_missing",
    "kube-proxy on worker-1 lost the rule for Service default/blob (10.96.0.30:9000)",
    "the client's SYNs to 10.96.0.30:9000 leave worker-1 by eth0, not VXLAN, still to the "
    "ClusterIP and masqueraded to 172.18.0.11; nothing answers, the client times out",
    (Client(CLIENT, (blob("get", "blob", 2000, 3),)),),
    {"blob": {"timeout"}},
    faults=_no_blob_portal,
)
EDGE_NODE_PORT = 30082


def _add_edge(cluster: Cluster) -> None:
    # A healthy NodePort Service with externalTrafficPolicy Local, its only pod on worker-2.
    _backend(cluster, "edge", "10.96.0.80", "edge-7d5c9b8f6-q2w8r", "10.244.2.50",
             node_port=EDGE_NODE_PORT, process=Process("http", 8080))
    cluster.service("default/edge").external_traffic_policy = "Local"


def _edge_dropped(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "external_traffic_local",
            "node worker-1, service default/edge",
            f"default/edge has externalTrafficPolicy Local and its only endpoint runs on "
            f"worker-2: kube-proxy on worker-1 DROPs new connections to its NodePort "
            f"{EDGE_NODE_PORT} (filter KUBE-EXTERNAL-SERVICES, \"has no local endpoints\"; "
            "nftables: its no-endpoint-nodeports element is drop)",
            ("external_traffic_local", "unanswered_syn"),
            programmed=_programmed(cluster, "default/edge", on=("worker-1",)),
        )
    ]


#: externalTrafficPolicy Local on a node without a local endpoint: the external host calls
#: the NodePort of both workers; only worker-2, which runs the endpoint, answers
EXTERNAL_TRAFFIC_LOCAL = Scenario(
    "external_traffic_local",
    f"Service default/edge (10.96.0.80:80, NodePort {EDGE_NODE_PORT}, externalTrafficPolicy "
    "Local) whose only pod runs on worker-2",
    f"the external host's SYNs to 172.18.0.11:{EDGE_NODE_PORT} reach worker-1's eth0 and go no "
    "further: worker-1 has no local endpoint and drops them, the client times out; those to "
    f"172.18.0.12:{EDGE_NODE_PORT} are DNATed on worker-2 to its local pod, unmasqueraded, and "
    "complete",
    (
        Client(
            EXTERNAL,
            (http("172.18.0.11", EDGE_NODE_PORT, "default/edge", 2, timeout=3.5,
                  node_port=f"node worker-1:{EDGE_NODE_PORT}"),
             http("172.18.0.12", EDGE_NODE_PORT, "default/edge", 2,
                  node_port=f"node worker-2:{EDGE_NODE_PORT}")),
        ),
    ),
    {"172.18.0.11": {"timeout"}, "172.18.0.12": OK},
    faults=_edge_dropped,
    change=_add_edge,
)


WEB_2 = "default/web-6d4b75cb6d-9gq4z"  #: a web replica on worker-2


def _blackhole(name: str, source: str, dest: str) -> Callable[[Cluster], list[Fault]]:
    """The underlay bridge drops every VXLAN datagram from node `source` to node `dest`."""

    def faults(cluster: Cluster) -> list[Fault]:
        near, far = (cluster.node(n) for n in (source, dest))
        port = cluster.vxlan.port
        return [
            Fault(
                name,
                "underlay bridge",
                f"the underlay bridge drops every VXLAN datagram (UDP {port}) from {near.name} "
                f"({near.underlay_ip}) to {far.name} ({far.underlay_ip})",
                ("unanswered_syn",) if source == "worker-1" else ("retransmission",),
                ((UNDERLAY, "filter", f"-A FORWARD -p udp --dport {port} -s {near.underlay_ip} "
                                      f"-d {far.underlay_ip} -j DROP"),),
            )
        ]

    return faults


#: blob through its ClusterIP (no DNS) from the client on worker-1, DNATed there to worker-2,
#: and by name from web on its own node (worker-2, where coredns runs too)
ACROSS = (Client(CLIENT, (blob("get", "10.96.0.30", 2000, 2, timeout=3.5),)),
          Client(WEB_2, (blob("get", "blob", 2000, 1),)))


#: the network between two nodes loses what one sends the other: both nodes' captures show it
#: leave one and never reach the other, and no node is to blame (a pod on worker-2 reaching the
#: same Service, on its own node, keeps worker-2's capture showing whose it is)
UNDERLAY_BLACKHOLE = Scenario(
    "underlay_blackhole",
    "the underlay bridge drops every VXLAN datagram from worker-1 to worker-2",
    "the client's SYNs to 10.96.0.30:9000 (by ClusterIP: no DNS) are DNATed on worker-1 to "
    "blob 10.244.2.20:9000 on worker-2, leave worker-1's eth0 encapsulated and never reach "
    "worker-2's; the client times out. web on worker-2 gets blob by name, on its own node",
    ACROSS,
    {"10.96.0.30": {"timeout"}, "blob": OK},
    faults=_blackhole("underlay_blackhole", "worker-1", "worker-2"),
)
#: the same network loses the answers instead: the SYNs reach blob on worker-2, whose SYN-ACKs
#: leave worker-2's eth0 encapsulated and never reach worker-1's; the client re-sends its SYN
#: and times out. Where it stopped, the truth: after worker-2's underlay NIC, on the way back
#: (s2c), on no node
UNDERLAY_BLACKHOLE_BACK = Scenario(
    "underlay_blackhole_back",
    "the underlay bridge drops every VXLAN datagram from worker-2 to worker-1",
    "the client's SYNs to 10.96.0.30:9000 are DNATed on worker-1 to blob 10.244.2.20:9000 on "
    "worker-2 and reach it; blob's SYN-ACKs leave worker-2's eth0 encapsulated and never reach "
    "worker-1's, so the client re-sends its SYNs and times out. web on worker-2 gets blob by "
    "name, on its own node",
    ACROSS,
    {"10.96.0.30": {"timeout"}, "blob": OK},
    faults=_blackhole("underlay_blackhole_back", "worker-2", "worker-1"),
)
#: no traffic of its own: combined with a scenario, its run is also captured off the nodes, on
#: the external host's eth0 and on the underlay bridge (as a switch port mirroring every node's)
OUTSIDE_CAPTURES = Scenario(
    "outside_captures",
    "nothing: two more captures, the external host's eth0 and the underlay bridge br0",
    "the external host's own packets; on br0, every node's underlay traffic at once",
    (),
    {},
    outside_captures=True,
)


def _ipv6_underlay(cluster: Cluster) -> None:
    cluster.ipv6_underlay = True


#: a dual-stack underlay whose only traffic is IPv6: the external host dials worker-1's IPv6
#: address on a port nothing listens on (a kubelet's, say) and is refused by the node itself;
#: worker-1's captures hold no IPv4 packet
IPV6_UNDERLAY = Scenario(
    "ipv6_underlay",
    f"each node also holds fd00:18::1N/64 on the underlay (an IPv6 InternalIP of its Node), the "
    f"external host {EXTERNAL_HOST_IP6}",
    f"the external host's SYNs from {EXTERNAL_HOST_IP6} to [fd00:18::11]:10250 reach worker-1's "
    "eth0, and worker-1 answers RST: nothing listens there",
    (Client(EXTERNAL, (http("fd00:18::11", 10250, None, 2, source=EXTERNAL_HOST_IP6),)),),
    {"[fd00:18::11]": {"refused"}},
    change=_ipv6_underlay,
)


def _ipv6_pods(cluster: Cluster) -> None:
    """Every pod and Service address turned into its IPv6 twin (`as_ipv6`), every node's pod
    CIDR an IPv6 /64: a single-stack IPv6 cluster, applied after the scenarios' own changes."""
    cluster.nodes = [replace(n, ipv6=True) for n in cluster.nodes]
    for pod in cluster.pods:
        pod.ip = as_ipv6(pod.ip)
    for service in cluster.proxied_services():
        service.cluster_ip = as_ipv6(service.cluster_ip)


#: single-stack IPv6 pods and Services over the same IPv4 underlay and VXLAN; recorded with a
#: scenario whose fault does not depend on the address family (`record --scenario
#: not_listening,ipv6_pods`), it makes the same fault over IPv6
IPV6_PODS = Scenario(
    "ipv6_pods",
    "pods hold IPv6 addresses from their node's fd00:10:244:N::/64, Services IPv6 ClusterIPs "
    "from fd00:10:96::/112 (EndpointSlices of addressType IPv6), kube-proxy's rules written by "
    "ip6tables; the nodes' underlay and VXLAN stay IPv4",
    "the scenario's conversations in IPv6: DNS AAAA lookups of the ClusterIPs, ip6tables DNAT, "
    "and IPv6 inside VXLAN (UDP 8472) between the nodes",
    (),
    {},
    change=_ipv6_pods,
)


def _upstream_dropped(cluster: Cluster) -> list[Fault]:
    dns = cluster.pod(COREDNS)
    return [
        Fault(
            "nodelocal_upstream_down",
            f"node worker-2, pod {dns.ref}",
            f"a NetworkPolicy-like DROP in worker-2's FORWARD chain for TCP 53 to the CoreDNS "
            f"pod ({dns.ip}): NodeLocal DNSCache on worker-1 forwards over TCP, its connections "
            "to kube-dns get no SYN-ACK, and after its upstream timeout it answers the pod "
            "SERVFAIL",
            ("dns_error",),
            (("worker-2", "filter", f"-I FORWARD 1 -d {dns.ip}/32 -p tcp --dport 53 -j DROP"),),
        )
    ]


#: NodeLocal DNSCache whose upstream is unreachable: the pod's queries reach the cache on its
#: node, the cache's TCP connections to the CoreDNS pod are dropped on worker-2, and the pod gets
#: SERVFAIL from the cache for every name of its search path
NODELOCAL_UPSTREAM_DOWN = Scenario(
    "nodelocal_upstream_down",
    f"NodeLocal DNSCache on every node ({NODELOCAL_DNS}, forwarding to kube-dns over TCP), "
    "and worker-2 drops TCP 53 to the CoreDNS pod",
    f"the client's queries reach {NODELOCAL_DNS}:53; worker-1's cache opens a TCP connection "
    "to kube-dns for each (DNATed to the CoreDNS pod on worker-2), whose SYNs cross the underlay "
    "and are dropped on worker-2 before the CoreDNS pod's veth; after 2 s the cache answers "
    "SERVFAIL, and glibc tries the next name of the search path",
    (Client(CLIENT, ({"op": "lookup", "target": "web", "count": 1},)),),
    {"dns:web": {"timeout"}},
    faults=_upstream_dropped,
    change=_nodelocal,
)


def _nodelocal_short_timeout(cluster: Cluster) -> None:
    """NodeLocal DNSCache as `_nodelocal`, and a client whose resolver gives up after 1 s, once
    per name (`dnsConfig.options` timeout:1, attempts:1): sooner than the cache's upstream."""
    _nodelocal(cluster)
    cluster.pod(CLIENT).resolver_options = (("timeout", "1"), ("attempts", "1"))


def _upstream_dropped_pod_gave_up(cluster: Cluster) -> list[Fault]:
    """The drop of `_upstream_dropped`; the pod, which stops waiting first, sees timeouts."""
    return [replace(f, fault="nodelocal_pod_timeout", symptoms=("dns_timeout",))
            for f in _upstream_dropped(cluster)]


#: NodeLocal DNSCache whose upstream is unreachable, and a client that stops waiting before the
#: cache answers: the pod's lookups time out (the cache's late SERVFAILs find no socket)
NODELOCAL_POD_TIMEOUT = Scenario(
    "nodelocal_pod_timeout",
    f"NodeLocal DNSCache on every node ({NODELOCAL_DNS}, forwarding to kube-dns over TCP), "
    "worker-2 drops TCP 53 to the CoreDNS pod, and the client's resolv.conf has `options "
    "timeout:1 attempts:1`",
    f"the client's queries reach {NODELOCAL_DNS}:53; worker-1's cache opens a TCP connection "
    "to kube-dns for each, whose SYNs are dropped on worker-2; the client gives up on each name "
    "after 1 s, before the cache's SERVFAIL (2 s), which then finds no socket",
    (Client(CLIENT, ({"op": "lookup", "target": "web", "count": 1},)),),
    {"dns:web": {"timeout"}},
    faults=_upstream_dropped_pod_gave_up,
    change=_nodelocal_short_timeout,
)


def _add_peers(cluster: Cluster) -> None:
    """Headless Service default/peers with publishNotReadyAddresses, as a StatefulSet's
    governing Service: one pod ready on worker-2, one on worker-1 running but not ready, its
    server not started (nothing listens on its port yet, so its readiness probe fails)."""
    for name, ip, node, ready in [("peers-6f9c8d7b5-x2k4p", "10.244.2.63", "worker-2", True),
                                  ("peers-6f9c8d7b5-m7w3q", "10.244.1.63", "worker-1", False)]:
        cluster.pods.append(Pod("default", name, node, ip,
                                {"app": "peers", "pod-template-hash": "6f9c8d7b5"}, HTTP_PORTS,
                                Process("http", 8080) if ready else None, ready=ready))
    cluster.services.append(Service("default", "peers", "None",
                                    (ServicePort("http", 8080, "http"),), {"app": "peers"},
                                    headless=True, publish_not_ready=True))


def _peers_fault(cluster: Cluster) -> list[Fault]:
    return [
        Fault(
            "publish_not_ready",
            "service default/peers",
            "headless Service default/peers sets publishNotReadyAddresses: its EndpointSlice "
            "lists pod peers-6f9c8d7b5-m7w3q (10.244.1.63, not ready: nothing listens on 8080 "
            "yet) ready=true, serving=false, and the DNS answers it first; the client connects "
            "there and is refused",
            ("rst",),
        )
    ]


#: a Service that publishes not-ready addresses on purpose: its not-ready pod is in the DNS
#: answer, no symptom says the Service is misconfigured, and the refused connections to that
#: pod say the Service sent the client there
PUBLISH_NOT_READY = Scenario(
    "publish_not_ready",
    "headless Service default/peers (publishNotReadyAddresses: true) with pods 10.244.2.63 "
    "(ready, worker-2) and 10.244.1.63 (not ready, nothing listening, worker-1)",
    "the client looks up `peers`: peers.default.svc.cluster.local answers both pods, the "
    "not-ready one first; its connections to 10.244.1.63:8080 (no ClusterIP, no DNAT) are "
    "answered by RST",
    (Client(CLIENT, (http("peers", 8080, "default/peers", 3),)),),
    {"peers": {"refused"}},
    faults=_peers_fault,
    change=_add_peers,
)
#: Lab variants that are not committed samples: the tests record them afresh (as root), alone
#: or combined with a scenario (tests/lab/test_variants.py).
VARIANTS = {v.name: v for v in (SOCKET_LB, KUBE_PROXY_MISSING, EXTERNAL_TRAFFIC_LOCAL,
                                UNDERLAY_BLACKHOLE, UNDERLAY_BLACKHOLE_BACK, OUTSIDE_CAPTURES,
                                IPV6_UNDERLAY, NODELOCAL_UPSTREAM_DOWN, NODELOCAL_POD_TIMEOUT,
                                PUBLISH_NOT_READY, IPV6_PODS)}

# Not samples: the benchmarks' loads (`python -m samples.lab bench FILE --load NAME`).
# Many short HTTP connections, each after its lookup of `web`: DNS-heavy.
BENCH = Scenario(
    "bench",
    "base cluster",
    "load",
    (Client(CLIENT, (http("web", 80, WEB, 900, gap=0.0),), parallel=8),),
    {"web": OK},
)
# Bulk TCP across the overlay: the client on worker-1 uploads 2 x 4 x 8 MB to the blob pod on
# worker-2 through its Service, so every segment crosses flannel.1 (VXLAN, UDP 8472).
BENCH_BULK = Scenario(
    "bench_bulk",
    "base cluster",
    "load",
    (Client(CLIENT, (blob("put", "blob", 8_000_000, 4, gap=0.0, timeout=30.0),), parallel=2),),
    {"blob": OK},
)
BENCH_LOADS = {"dns": BENCH, "bulk": BENCH_BULK}

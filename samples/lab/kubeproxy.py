"""kube-proxy's iptables mode, rendered for one node as `iptables-restore` input.

Chain names, comments, the 0x4000 masquerade mark and the `statistic` probabilities 1/n, 1/(n-1), …
follow kube-proxy (pkg/proxy/iptables/proxier.go, v1.28+): KUBE-SERVICES → KUBE-SVC-<hash> →
KUBE-SEP-<hash> DNAT; NodePorts through KUBE-NODEPORTS, and LoadBalancer IPs from KUBE-SERVICES,
→ KUBE-EXT-<hash> (masquerade) → KUBE-SVC;
a REJECT in the filter table's KUBE-SERVICES for a Service without endpoints; and a per-endpoint
`-s <pod IP> -j KUBE-MARK-MASQ` so a pod reaching itself through its Service (hairpin) is SNATed.
With `externalTrafficPolicy: Local`, KUBE-EXT sends pods' traffic to KUBE-SVC and the rest to
KUBE-SVL-<hash> (this node's endpoints, no masquerade); a node without one DROPs its NodePort in
the filter table's KUBE-EXTERNAL-SERVICES ("has no local endpoints"), so the rules differ per
node.
In an IPv6 cluster (the `ipv6_pods` variant) the same rules, for `ip6tables-restore`: /128 host
matches, the IPv6 cluster CIDR, and ICMPv6 port unreachable.
"""

from __future__ import annotations

import base64
import hashlib

from samples.lab.cluster import (
    Cluster,
    Node,
    Pod,
    Service,
    ServicePort,
    published,
    target_port,
    with_prefix,
)

MASQ_MARK = "0x4000/0x4000"
BUILTIN = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}


def chain(prefix: str, *parts: str) -> str:
    """kube-proxy's chain name: prefix + the first 16 base32 characters of sha256(parts)."""
    digest = hashlib.sha256("".join(parts).encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:16]


def proxied_endpoints(cluster: Cluster, service: Service) -> list[Pod]:
    """Ready endpoints (as the EndpointSlice says: with publishNotReadyAddresses, every pod);
    when none is ready, the serving terminating ones, as kube-proxy's ProxyTerminatingEndpoints
    does (a pod failing its readiness probe is neither)."""
    pods = cluster.endpoints(service)
    ready = [p for p in pods if published(service, p)]
    return ready or [p for p in pods if p.terminating]


def rules(cluster: Cluster, node: Node) -> str:
    """The nat and filter tables kube-proxy writes on `node`."""
    nat = [
        ":KUBE-SERVICES - [0:0]",
        ":KUBE-NODEPORTS - [0:0]",
        ":KUBE-POSTROUTING - [0:0]",
        ":KUBE-MARK-MASQ - [0:0]",
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
        f"-A KUBE-MARK-MASQ -j MARK --set-xmark {MASQ_MARK}",
        f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK} -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
    ]
    filt = [
        ":KUBE-SERVICES - [0:0]",
        ":KUBE-EXTERNAL-SERVICES - [0:0]",
        ":KUBE-FORWARD - [0:0]",
        '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible '
        'service portals" -j KUBE-EXTERNAL-SERVICES',
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" '
        "-j KUBE-SERVICES",
        '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible '
        'service portals" -j KUBE-EXTERNAL-SERVICES',
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
        '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" '
        "-j KUBE-SERVICES",
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
        f"-m mark --mark {MASQ_MARK} -j ACCEPT",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" '
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ]
    nodeports: list[str] = []
    for service in cluster.proxied_services():
        for port in service.ports:
            _service_port(cluster, node, service, port, nat, filt, nodeports)
    nat += nodeports
    nat.append(
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be '
        'the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'
    )
    return "*nat\n" + _restore(nat) + "COMMIT\n*filter\n" + _restore(filt) + "COMMIT\n"


def _service_port(
    cluster: Cluster,
    node: Node,
    service: Service,
    port: ServicePort,
    nat: list[str],
    filt: list[str],
    nodeports: list[str],
) -> None:
    name = f"{service.ref}:{port.name}"
    proto = port.protocol.lower()
    match = f"-p {proto} -m {proto} --dport {port.port}"
    ip = f"-d {with_prefix(service.cluster_ip)}"
    endpoints = proxied_endpoints(cluster, service)
    reject = "icmp6-port-unreachable" if cluster.ipv6_pods else "icmp-port-unreachable"
    if not endpoints:
        filt.append(
            f'-A KUBE-SERVICES {ip} -p {proto} -m comment --comment "{name} has no endpoints" '
            f"-m {proto} --dport {port.port} -j REJECT --reject-with {reject}"
        )
        if port.node_port:
            filt.append(
                f"-A KUBE-EXTERNAL-SERVICES -m addrtype --dst-type LOCAL -p {proto} -m comment "
                f'--comment "{name} has no endpoints" -m {proto} --dport {port.node_port} '
                f"-j REJECT --reject-with {reject}"
            )
        return
    svc = chain("KUBE-SVC-", name, proto)
    nat += [
        f":{svc} - [0:0]",
        f"-A {portal(service, port)}",
        f"-A {svc} ! -s {cluster.cluster_cidr} {ip} "
        f'-m comment --comment "{name} cluster IP" {match} -j KUBE-MARK-MASQ',
    ]
    if port.node_port:
        ext = chain("KUBE-EXT-", name, proto)
        nodeports.append(
            f'-A KUBE-NODEPORTS -p {proto} -m comment --comment "{name}" -m {proto} '
            f"--dport {port.node_port} -j {ext}"
        )
        nat.append(f":{ext} - [0:0]")
        if service.load_balancer_ip:
            nat.append(f"-A KUBE-SERVICES -d {with_prefix(service.load_balancer_ip)} "
                       f'-m comment --comment "{name} loadbalancer IP" {match} -j {ext}')
        if service.external_traffic_policy == "Local":
            _local_ext(cluster, node, name, proto, port, endpoints, ext, svc, nat, filt)
        else:
            nat += [
                f'-A {ext} -m comment --comment "masquerade traffic for {name} external '
                'destinations" -j KUBE-MARK-MASQ',
                f"-A {ext} -j {svc}",
            ]
    _endpoint_chains(svc, name, proto, port, endpoints, nat)


def _local_ext(cluster: Cluster, node: Node, name: str, proto: str, port: ServicePort,
               endpoints: list[Pod], ext: str, svc: str, nat: list[str], filt: list[str]) -> None:
    """KUBE-EXT for `externalTrafficPolicy: Local`: pods go to every endpoint, outside clients
    to this node's own (KUBE-SVL, unmasqueraded); none here: the filter table DROPs."""
    local = [p for p in endpoints if p.node == node.name]
    nat.append(f'-A {ext} -s {cluster.cluster_cidr} -m comment --comment "pod traffic for {name} '
               f'external destinations" -j {svc}')
    if not local:
        filt.append(
            f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{name} has no local endpoints" '
            f"-m addrtype --dst-type LOCAL -p {proto} -m {proto} --dport {port.node_port} "
            "-j DROP")
        return
    svl = chain("KUBE-SVL-", name, proto)
    nat += [f":{svl} - [0:0]", f"-A {ext} -j {svl}"]
    _endpoint_chains(svl, name, proto, port, local, nat)


def _endpoint_chains(svc: str, name: str, proto: str, port: ServicePort, endpoints: list[Pod],
                     nat: list[str]) -> None:
    """`svc` picking one of `endpoints` at random, and each endpoint's KUBE-SEP chain."""
    for i, pod in enumerate(endpoints):
        # kube-proxy's endpoint string, an IPv6 address in brackets (so DNAT reads its port)
        ip = f"[{pod.ip}]" if ":" in pod.ip else pod.ip
        address = f"{ip}:{target_port(pod, port)}"
        sep = chain("KUBE-SEP-", name, proto, address)
        left = len(endpoints) - i
        spread = f" -m statistic --mode random --probability {1 / left:.11f}" if left > 1 else ""
        nat += [
            f'-A {svc} -m comment --comment "{name} -> {address}"{spread} -j {sep}',
            f":{sep} - [0:0]",
            f'-A {sep} -s {with_prefix(pod.ip)} -m comment --comment "{name}" -j KUBE-MARK-MASQ',
            f'-A {sep} -p {proto} -m comment --comment "{name}" -m {proto} '
            f"-j DNAT --to-destination {address}",
        ]


def portal(service: Service, port: ServicePort) -> str:
    """The nat KUBE-SERVICES rule that sends a Service port's ClusterIP to its KUBE-SVC chain
    (without `-A`: the `kube_proxy_missing` scenario deletes it with `-D`)."""
    name = f"{service.ref}:{port.name}"
    proto = port.protocol.lower()
    return (f"KUBE-SERVICES -d {with_prefix(service.cluster_ip)} "
            f'-m comment --comment "{name} cluster IP" '
            f"-p {proto} -m {proto} --dport {port.port} -j {chain('KUBE-SVC-', name, proto)}")


def _restore(lines: list[str]) -> str:
    """iptables-restore input: every `:CHAIN` declared before use, and the jumps from built-in
    chains inserted at their top, in order, as kube-proxy prepends them (ahead of flannel's)."""
    lines = list(dict.fromkeys(lines))  # a KUBE-SEP chain both KUBE-SVC and KUBE-SVL use
    declared = [line for line in lines if line.startswith(":")]
    position: dict[str, int] = {}
    rules = []
    for line in lines:
        if line.startswith(":"):
            continue
        chain = line.split()[1]
        if chain in BUILTIN:
            position[chain] = position.get(chain, 0) + 1
            line = line.replace(f"-A {chain}", f"-I {chain} {position[chain]}", 1)
        rules.append(line)
    return "\n".join(declared + rules) + "\n"

"""kube-proxy's nftables mode, rendered for one node as `nft -f` input.

Table, chain, set and map names, comments, hooks and priorities follow kube-proxy
(pkg/proxy/nftables/proxier.go, v1.31+): the `services` chain looks up
`ip daddr . meta l4proto . th dport` in the `service-ips` verdict map (and the node's address in
`service-nodeports`), which jumps to `service-<hash>-<ns>/<name>/<proto>/<port>`; that chain picks
an endpoint with `numgen random mod N vmap` and goes to `endpoint-<hash>-…__<ip>/<port>`, which
`dnat`s. NodePorts and LoadBalancer IPs go through `external-<hash>-…` (masquerade mark). A
Service without endpoints is an element of `no-endpoint-services` (and `no-endpoint-nodeports`)
whose verdict is `goto reject-chain`, consulted by the `filter-*` chains for new connections;
`masquerading` (mark 0x4000, `masquerade fully-random`) is kube-proxy's own, in
`nat-postrouting`. Unlike the iptables mode, the rules differ per node: `nodeport-ips` holds the
node's own address. With externalTrafficPolicy Local, `external-…` sends pods' traffic to
`service-…` and the rest, unmasqueraded, to `local-…` (this node's endpoints); a node without
one has no `local-…`, and its NodePort is an element of `no-endpoint-nodeports` whose verdict is
`drop` ("has no local endpoints"), consulted by `filter-input` for new connections.
"""

from __future__ import annotations

import base64
import hashlib

from samples.lab.cluster import CLUSTER_CIDR, SERVICE_CIDR, Cluster, Node, Pod, Service, ServicePort
from samples.lab.kubeproxy import proxied_endpoints, target_port

TABLE = "ip kube-proxy"
MASQ_MARK = "0x4000"
REJECT = "goto reject-chain"


def chain_base(*parts: str) -> str:
    """kube-proxy's hashAndTruncate: the first 8 base32 characters of sha256(name), `-`, the
    name (`<ns>/<svc>/<proto>/<port>`, with `__<ip>/<port>` for an endpoint)."""
    name = "/".join(parts)
    digest = hashlib.sha256(name.encode()).digest()
    return base64.b32encode(digest).decode()[:8] + "-" + name


def ruleset(cluster: Cluster, node: Node) -> str:
    """The `nft -f` input kube-proxy's nftables mode writes on `node`."""
    lines = _base(node)
    for service in cluster.proxied_services():
        lines += service_commands(cluster, service, node)
    return "\n".join(lines) + "\n"


def _base(node: Node) -> list[str]:
    t = TABLE
    return [
        f'add table {t} {{ comment "rules for kube-proxy" ; }}',
        f'add set {t} cluster-ips {{ type ipv4_addr ; comment "Active ClusterIPs" ; }}',
        f"add set {t} nodeport-ips {{ type ipv4_addr ; "
        'comment "IPs that accept NodePort traffic" ; }',
        f"add map {t} no-endpoint-nodeports {{ type inet_proto . inet_service : verdict ; "
        'comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }',
        f"add map {t} no-endpoint-services {{ type ipv4_addr . inet_proto . inet_service : "
        'verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }',
        f"add map {t} service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict ; "
        'comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }',
        f"add map {t} service-nodeports {{ type inet_proto . inet_service : verdict ; "
        'comment "NodePort traffic" ; }',
        f"add chain {t} cluster-ips-check",
        f"add chain {t} filter-forward {{ type filter hook forward priority 0 ; }}",
        f"add chain {t} filter-input {{ type filter hook input priority 0 ; }}",
        f"add chain {t} filter-output {{ type filter hook output priority 0 ; }}",
        f"add chain {t} mark-for-masquerade",
        f"add chain {t} masquerading",
        f"add chain {t} nat-output {{ type nat hook output priority -100 ; }}",
        f"add chain {t} nat-postrouting {{ type nat hook postrouting priority 100 ; }}",
        f"add chain {t} nat-prerouting {{ type nat hook prerouting priority -100 ; }}",
        f"add chain {t} nodeport-endpoints-check",
        f"add chain {t} reject-chain "
        '{ comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }',
        f"add chain {t} services",
        f"add chain {t} service-endpoints-check",
        f"add rule {t} cluster-ips-check ip daddr @cluster-ips reject "
        'comment "Reject traffic to invalid ports of ClusterIPs"',
        f"add rule {t} cluster-ips-check ip daddr {{ {SERVICE_CIDR} }} drop "
        'comment "Drop traffic to unallocated ClusterIPs"',
        f"add rule {t} filter-forward ct state new jump service-endpoints-check",
        f"add rule {t} filter-forward ct state new jump cluster-ips-check",
        f"add rule {t} filter-input ct state new jump nodeport-endpoints-check",
        f"add rule {t} filter-input ct state new jump service-endpoints-check",
        f"add rule {t} filter-output ct state new jump service-endpoints-check",
        f"add rule {t} filter-output ct state new jump cluster-ips-check",
        f"add rule {t} mark-for-masquerade mark set mark or {MASQ_MARK}",
        f"add rule {t} masquerading mark and {MASQ_MARK} == 0 return",
        f"add rule {t} masquerading mark set mark xor {MASQ_MARK}",
        f"add rule {t} masquerading masquerade fully-random",
        f"add rule {t} nat-output jump services",
        f"add rule {t} nat-postrouting jump masquerading",
        f"add rule {t} nat-prerouting jump services",
        f"add rule {t} nodeport-endpoints-check ip daddr @nodeport-ips "
        "meta l4proto . th dport vmap @no-endpoint-nodeports",
        f"add rule {t} reject-chain reject",
        f"add rule {t} services ip daddr . meta l4proto . th dport vmap @service-ips",
        f"add rule {t} services ip daddr @nodeport-ips "
        "meta l4proto . th dport vmap @service-nodeports",
        f"add element {t} nodeport-ips {{ {node.underlay_ip} }}",
        f"add rule {t} service-endpoints-check ip daddr . meta l4proto . th dport "
        "vmap @no-endpoint-services",
    ]


def service_commands(cluster: Cluster, service: Service, node: Node) -> list[str]:
    """Every chain, rule and element kube-proxy adds for one Service on `node` (the same on
    every node but for externalTrafficPolicy Local)."""
    t = TABLE
    lines = [f"add element {t} cluster-ips {{ {service.cluster_ip} }}"]
    endpoints = proxied_endpoints(cluster, service)
    for port in service.ports:
        proto = port.protocol.lower()
        key = f"{service.cluster_ip} . {proto} . {port.port}"
        if not endpoints:
            comment = f'comment "{service.ref}:{port.name}"'
            lines.append(f"add element {t} no-endpoint-services {{ {key} {comment} : {REJECT} }}")
            if port.node_port:
                lines.append(
                    f"add element {t} no-endpoint-nodeports "
                    f"{{ {proto} . {port.node_port} {comment} : {REJECT} }}"
                )
            continue
        base = chain_base(service.namespace, service.name, proto, port.name)
        svc, ext = f"service-{base}", f"external-{base}"
        lines += _endpoint_chains(service, port, endpoints)
        lines += _spread(service, port, svc, endpoints, (
            f"ip daddr {service.cluster_ip} ip saddr != {CLUSTER_CIDR} jump mark-for-masquerade",))
        if port.node_port:
            lines += _external(service, port, endpoints, node)
        lines.append(f"add element {t} service-ips {{ {key} : goto {svc} }}")
        if port.node_port and service.load_balancer_ip:  # LoadBalancer IPs go external too
            balancer = f"{service.load_balancer_ip} . {proto} . {port.port}"
            lines.append(f"add element {t} service-ips {{ {balancer} : goto {ext} }}")
    return lines


def _endpoint_chains(service: Service, port: ServicePort, endpoints: list[Pod]) -> list[str]:
    """Each endpoint's chain, which DNATs (before the chains that go to them: nft refuses a
    verdict that goes to a chain not yet there)."""
    t = TABLE
    lines = []
    for pod in endpoints:
        chain, tp = _endpoint_chain(service, port, pod), target_port(pod, port)
        lines += [
            f"add chain {t} {chain}",
            f"add rule {t} {chain} ip saddr {pod.ip} jump mark-for-masquerade",
            f"add rule {t} {chain} meta l4proto {port.protocol.lower()} dnat to {pod.ip}:{tp}",
        ]
    return lines


def _endpoint_chain(service: Service, port: ServicePort, pod: Pod) -> str:
    return "endpoint-" + chain_base(service.namespace, service.name, port.protocol.lower(),
                                    f"{port.name}__{pod.ip}", str(target_port(pod, port)))


def _spread(service: Service, port: ServicePort, chain: str, endpoints: list[Pod],
            first: tuple[str, ...] = ()) -> list[str]:
    """`chain`, its `first` rules, then picking one of `endpoints` at random (`numgen`)."""
    t = TABLE
    spread = " , ".join(f"{i} : goto {_endpoint_chain(service, port, pod)}"
                        for i, pod in enumerate(endpoints))
    return [f"add chain {t} {chain}", *(f"add rule {t} {chain} {rule}" for rule in first),
            f"add rule {t} {chain} numgen random mod {len(endpoints)} vmap {{ {spread} }}"]


def _external(service: Service, port: ServicePort, endpoints: list[Pod], node: Node) -> list[str]:
    """`external-…` for a NodePort, and its `service-nodeports` element: masqueraded to any
    endpoint (Cluster), or to this node's own endpoints unmasqueraded (Local: pods' traffic
    still to any); with none here, `drop` in `no-endpoint-nodeports`."""
    t = TABLE
    proto = port.protocol.lower()
    base = chain_base(service.namespace, service.name, proto, port.name)
    svc, ext = f"service-{base}", f"external-{base}"
    lines = [f"add chain {t} {ext}"]
    if service.external_traffic_policy != "Local":
        lines += [f"add rule {t} {ext} jump mark-for-masquerade", f"add rule {t} {ext} goto {svc}"]
    else:
        local = [p for p in endpoints if p.node == node.name]
        lines.append(f"add rule {t} {ext} ip saddr {CLUSTER_CIDR} goto {svc} "
                     'comment "short-circuit pod traffic"')
        if local:
            lines += _spread(service, port, f"local-{base}", local)
            lines.append(f"add rule {t} {ext} goto local-{base}")
        else:
            comment = f'comment "{service.ref}:{port.name} has no local endpoints"'
            lines.append(f"add element {t} no-endpoint-nodeports "
                         f"{{ {proto} . {port.node_port} {comment} : drop }}")
    return [*lines,
            f"add element {t} service-nodeports {{ {proto} . {port.node_port} : goto {ext} }}"]

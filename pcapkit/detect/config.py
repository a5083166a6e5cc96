"""Every detector threshold in one place, each documented where it is declared.

A `Config` is passed to every detector; change one with `dataclasses.replace(DEFAULT, ...)` or
the CLI's `--set name=value`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import polars as pl

from pcapkit.errors import UsageError
from pcapkit.kube.dnat import endpoint_rows, front_doors
from pcapkit.kube.snapshot import Snapshot


@dataclass(frozen=True)
class Config:
    # --- TCP detectors ------------------------------------------------------------------------

    #: retransmission: a connection is reported when one view shows at least this many
    #: segments in Wireshark's classes (retransmission, fast, spurious, out-of-order)
    retransmission_min: int = 1
    #: retransmission: severity error above this share of the connection's data segments
    #: (in the view that flagged the most), warning below
    retransmission_error_share: float = 0.05
    #: unanswered_syn: the captures must go on at least this long after the first SYN (a SYN at
    #: the very end of a capture had no chance to be answered)
    unanswered_syn_min_wait_s: float = 1.0
    #: unanswered_syn: relative tolerance when matching SYN intervals to the kernel's schedules
    #: (first gap 1 s, then doubling, or 1 s gaps before doubling)
    syn_backoff_tolerance: float = 0.25
    #: zero_window: a receiver is reported when its window stayed 0 at least this long…
    zero_window_min_s: float = 0.2
    #: zero_window: …or when it advertised window 0 at least this many times
    zero_window_min_count: int = 3

    # --- DNS and ICMP detectors ---------------------------------------------------------------

    #: nxdomain_storm: a client is in a storm while it gets at least this many NXDOMAIN
    #: responses within `nxdomain_window_s` (one ndots:5 lookup of an external name already
    #: costs 6: three search domains × A and AAAA)
    nxdomain_min: int = 5
    #: nxdomain_storm: the sliding window, seconds; a storm lasts while NXDOMAINs keep coming
    #: closer together than this
    nxdomain_window_s: float = 10.0
    #: dns_timeout: an unanswered query counts only when the captures go on at least this long
    #: after its first copy (a query at the very end of a capture had no chance to be answered)
    dns_timeout_min_wait_s: float = 1.0
    #: dns_timeout: A and AAAA queries from one socket closer together than this were sent
    #: together (glibc's parallel lookup, one sendmmsg): the conntrack race's precondition
    dns_race_max_gap_ms: float = 5.0
    #: dns_error: the rcodes reported (names of `pcapkit.codes.DnsRcode`)
    dns_error_rcodes: tuple[str, ...] = ("SERVFAIL", "REFUSED")

    # --- pod connectivity detectors ----------------------------------------------------------

    #: icmp_echo_unanswered, arp_unanswered: a request counts only when the captures go on at
    #: least this long after its first copy (one at the very end had no chance to be answered)
    probe_min_wait_s: float = 1.0
    #: arp_unanswered: unanswered requests from one host for one address before it is reported
    #: (the kernel's `mcast_solicit`/`ucast_solicit`: it gives a neighbour up after 3)
    neighbour_unanswered_min: int = 3

    # --- Kubernetes dataplane detectors -------------------------------------------------------

    #: kube_proxy_missing: the Service address ranges (kube-apiserver's
    #: `--service-cluster-ip-range`; kubeadm's default). A snapshot's ClusterIPs are added to
    #: them (`for_snapshot`), so that other ranges need no setting when a snapshot is given.
    kube_service_cidrs: tuple[str, ...] = ("10.96.0.0/12",)
    #: external_traffic_local: the NodePorts whose node drops them, each
    #: `ip:port|NODE|NAMESPACE/SERVICE|NODE,NODE` (the node's address and nodePort of a Service
    #: with externalTrafficPolicy Local, that node, the Service, the nodes running its ready
    #: endpoints); filled from the snapshot (`for_snapshot`)
    local_node_ports: tuple[str, ...] = ()

    # --- what the snapshot says, for the detectors that check names and servers against it ---
    # (filled by `for_snapshot`; empty without one, or set by hand)

    #: nxdomain_name: every Service, `NAMESPACE/NAME`
    kube_services: tuple[str, ...] = ()
    #: nxdomain_name: every namespace holding a pod or a Service
    kube_namespaces: tuple[str, ...] = ()
    #: dns_wrong_server: the cluster's DNS servers: the kube-dns Service's ClusterIPs and its
    #: endpoints (the CoreDNS pods). Empty: dns_wrong_server does not run.
    kube_dns_servers: tuple[str, ...] = ()
    #: dns_wrong_server: NodeLocal DNSCache's link-local listen addresses (its default)
    nodelocal_dns: tuple[str, ...] = ("169.254.20.10",)
    #: dns_wrong_server: the pod networks (the Nodes' podCIDRs): only pods are held to the
    #: cluster's DNS (nodes and hostNetwork pods use the node's resolver)
    kube_pod_cidrs: tuple[str, ...] = ()
    #: headless_not_ready: the headless Services' endpoint addresses, each
    #: `NAMESPACE/NAME|IP|STATE|TARGET` (STATE as `k8s.endpoint_state` reads, TARGET
    #: `pod NAMESPACE/NAME` or empty); a headless Service without endpoints as
    #: `NAMESPACE/NAME|||`
    kube_headless: tuple[str, ...] = ()
    #: nxdomain_name: the ExternalName Services, each `NAMESPACE/NAME|EXTERNAL_NAME`
    kube_external_names: tuple[str, ...] = ()
    #: dns_timeout, dns_error: the cluster DNS by address, each `IP|NAME` (`kube-system/kube-dns`
    #: for its ClusterIPs, `pod NAMESPACE/NAME` for its endpoints), to name a NodeLocal
    #: DNSCache's upstream
    kube_dns_names: tuple[str, ...] = ()
    #: dns_timeout, dns_error: each node's addresses and pod CIDRs, `NAME|CIDR`, to name the
    #: node a NodeLocal DNSCache runs on from the address it forwards from
    kube_node_networks: tuple[str, ...] = ()


DEFAULT = Config()


#: the Service cluster DNS answers behind, as kubeadm and every distribution name it
KUBE_DNS = ("kube-system", "kube-dns")


def for_snapshot(config: Config, snap: Snapshot | None) -> Config:
    """`config` with the snapshot's ClusterIPs added to `kube_service_cidrs`, its
    `local_node_ports`, and its Services, namespaces and DNS servers in the fields that hold
    them (those set by hand are kept)."""
    if snap is None:
        return config
    ips = snap.services["cluster_ip"].drop_nulls().unique().sort().to_list()
    known = set(config.kube_service_cidrs)
    extra = tuple(f"{ip}/{128 if ':' in ip else 32}" for ip in ips)
    services = snap.services.select(pl.concat_str("namespace", "name", separator="/"))
    namespaces = pl.concat([snap.services["namespace"], snap.pods["namespace"]])
    dns_names = _kube_dns_names(snap)
    dns = pl.Series([entry.partition("|")[0] for entry in dns_names], dtype=pl.String)
    return replace(
        config,
        kube_service_cidrs=(*config.kube_service_cidrs, *(c for c in extra if c not in known)),
        local_node_ports=(*config.local_node_ports, *_dropping_node_ports(snap)),
        kube_services=config.kube_services or tuple(sorted(set(services.to_series()))),
        kube_namespaces=config.kube_namespaces or tuple(sorted(set(namespaces.drop_nulls()))),
        kube_dns_servers=config.kube_dns_servers or tuple(sorted(set(dns))),
        kube_pod_cidrs=config.kube_pod_cidrs or tuple(sorted(
            {c for cidrs in snap.nodes["pod_cidr"].drop_nulls() for c in cidrs.split(",")})),
        kube_headless=config.kube_headless or _headless(snap),
        kube_dns_names=config.kube_dns_names or dns_names,
        kube_node_networks=config.kube_node_networks or _node_networks(snap),
        kube_external_names=config.kube_external_names or tuple(sorted(
            f"{ns}/{name}|{target}" for ns, name, target in snap.services.filter(
                pl.col("external_name").is_not_null()).select(
                "namespace", "name", "external_name").unique().iter_rows())),
    )


def _kube_dns_names(snap: Snapshot) -> tuple[str, ...]:
    """`kube_dns_names` entries: the kube-dns Service's ClusterIPs and its endpoints' addresses,
    each with what it is."""
    ns, name = KUBE_DNS
    service = snap.services.filter((pl.col("namespace") == ns) & (pl.col("name") == name)
                                   & pl.col("cluster_ip").is_not_null())
    endpoints = snap.endpoints.filter((pl.col("namespace") == ns) & (pl.col("service") == name)
                                      & pl.col("ip").is_not_null())
    pods = endpoints.select("ip", pl.when(pl.col("target_kind") == "Pod").then(
        pl.format("pod {}/{}", "target_namespace", "target_name")).otherwise(
        pl.lit(f"endpoint of Service {ns}/{name}")).alias("what"))
    rows = pl.concat([service.select(pl.col("cluster_ip").alias("ip"),
                                     pl.lit(f"Service {ns}/{name}").alias("what")), pods])
    return tuple(sorted({f"{ip}|{what}" for ip, what in rows.iter_rows()}))


def _node_networks(snap: Snapshot) -> tuple[str, ...]:
    """`kube_node_networks` entries: each node's addresses and pod CIDRs."""
    nodes = snap.nodes.select("name", "ip", "pod_cidr")
    return tuple(sorted(
        {f"{node}|{ip}" for node, ip, _ in nodes.iter_rows() if ip}
        | {f"{node}|{cidr}" for node, _, cidrs in nodes.iter_rows()
           for cidr in (cidrs or "").split(",") if cidr}))


def _headless(snap: Snapshot) -> tuple[str, ...]:
    """`kube_headless` entries: each endpoint address of each headless Service (its ports
    merged: the DNS answers addresses), or the Service alone when it has none. A pod that is
    not ready behind a Service with `publishNotReadyAddresses` is `published-not-ready`,
    whatever its slice says: the Service asks the DNS to answer it."""
    services = (snap.services.filter(pl.col("headless"))
                .select("namespace", pl.col("name").alias("svc_name"), "publish_not_ready")
                .unique())
    endpoints = endpoint_rows(snap).select("namespace", "svc_name", "endpoint_ip",
                                           "endpoint_state", "endpoint_target")
    published = pl.col("publish_not_ready") & pl.col("endpoint_state").is_in(
        ["not-ready", "serving-not-ready"])
    rows = (services.join(endpoints, on=["namespace", "svc_name"], how="left")
            .select("namespace", "svc_name", "endpoint_ip",
                    pl.when(published).then(pl.lit("published-not-ready"))
                    .otherwise("endpoint_state").alias("endpoint_state"), "endpoint_target")
            .unique())
    return tuple(sorted(f"{ns}/{name}|{ip or ''}|{state or ''}|{target or ''}"
                        for ns, name, ip, state, target in rows.iter_rows()))


def _dropping_node_ports(snap: Snapshot) -> list[str]:
    """`local_node_ports` entries: each node address:nodePort of a Service with
    externalTrafficPolicy Local on a node that runs no ready endpoint of it."""
    doors = front_doors(snap).filter(pl.col("node").is_not_null()
                                     & (pl.col("external_traffic_policy") == "Local"))
    ready = endpoint_rows(snap).filter(pl.col("ready")).select(
        "namespace", "svc_name", "port_name", "endpoint_node")
    joined = doors.join(ready, on=["namespace", "svc_name", "port_name"], how="left",
                        nulls_equal=True)
    per_door = joined.group_by("service_ip", "service_port", "node", "service").agg(
        local=(pl.col("endpoint_node") == pl.col("node")).any(),
        where=pl.col("endpoint_node").drop_nulls().unique().sort().str.join(","))
    return sorted(f"{ip}:{port}|{node}|{service}|{where}" for ip, port, node, service, local, where
                  in per_door.iter_rows() if not local)


def changed_settings(config: Config) -> dict[str, object]:
    """The thresholds `config` sets otherwise than `DEFAULT` (what `--set` changed), by name."""
    return {f.name: getattr(config, f.name) for f in fields(Config)
            if getattr(config, f.name) != getattr(DEFAULT, f.name)}


def with_settings(config: Config, settings: list[str]) -> Config:
    """`config` with `name=value` settings applied (the CLI's `--set`); values are read as the
    field's type, tuples as comma-separated lists. Unknown names and bad values: `UsageError`."""
    types = {f.name: f.type for f in fields(Config)}
    changes: dict[str, object] = {}
    for setting in settings:
        name, sep, text = setting.partition("=")
        name = name.strip()
        if not sep or name not in types:
            known = ", ".join(sorted(types))
            raise UsageError(f"--set {setting}: expected NAME=VALUE with NAME one of {known}")
        kind = str(types[name])
        try:
            if kind.startswith("tuple"):
                changes[name] = tuple(v.strip() for v in text.split(",") if v.strip())
            else:
                changes[name] = {"int": int, "float": float}[kind](text)
        except ValueError:
            raise UsageError(f"--set {setting}: {text!r} is not a valid {kind}") from None
    return replace(config, **changes)  # type: ignore[arg-type]

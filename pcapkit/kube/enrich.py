"""Kubernetes names on findings: who the client is, which Service, which endpoint DNAT chose.

What one vantage settles about the endpoint, and how:

- both legs of the connection were captured (a pod's eth0 and its node's `-i any`, or the
  node's `-i any` alone, which has both): the endpoint is the post-DNAT destination of the
  same client address and port (`dnat.dnat_legs`);
- only the post-DNAT leg (an underlay or the far node's capture), or a connection made to the
  pod's address in the first place (socket-level load balancing rewrites the address before
  the packet exists, so even the client's own capture never shows the ClusterIP): the server is
  itself an endpoint of an EndpointSlice, which names its Service;
- only the pre-DNAT leg (the client pod's capture): the snapshot settles it when the Service
  port has one endpoint kube-proxy would use; otherwise every endpoint of that port becomes a
  candidate, with its state, and the explanation says which capture would tell them apart.
"""

from __future__ import annotations

import polars as pl

from pcapkit.kube.dnat import dnat_legs, endpoint_rows, front_doors, nat_legs, service_targets
from pcapkit.kube.names import address_names, node_of_address
from pcapkit.kube.services import (
    dns_service,
    external_names,
    not_ready,
    published_not_ready,
    publishing,
    service_notes,
    undeclared_ports,
)
from pcapkit.kube.snapshot import Snapshot

SERVER = ["server_ip", "server_port"]
#: the endpoint columns each way of settling the endpoint fills, in order of preference
ENDPOINT = ["k8s_endpoint", "k8s_endpoint_target", "k8s_endpoint_state"]
#: symptoms that say a node's kube-proxy failed: `k8s_node` names that node
NODE_KINDS = ("kube_proxy_missing",)


def enrich_findings(findings: pl.DataFrame, packets: pl.DataFrame, snap: Snapshot,
                    connections: pl.DataFrame) -> pl.DataFrame:
    """Add `k8s_client`, `k8s_server`, `k8s_service`, `k8s_endpoint`, `k8s_endpoint_target`,
    `k8s_endpoint_state`, `k8s_endpoint_candidates`, `k8s_reporter`, `k8s_node`,
    `k8s_node_port`, `k8s_external_client`, `k8s_external_name`, `k8s_endpoints_not_ready`,
    `k8s_publish_not_ready` and `k8s_port_mismatch` (null where nothing resolves;
    pcapkit/kube/services.py).

    `packets` needs the columns `src`, `sport`, `ip_proto`, `dst`, `dport` only (the streaming
    engine passes the distinct 5-tuples); `connections` is the flow stage's CONNECTIONS."""
    names = address_names(snap)
    targets = service_targets(snap)
    legs = pl.concat([dnat_legs(packets, snap), nat_legs(connections, snap)]).unique(
        ["client_ip", "client_port", "service_ip", "service_port"], keep="first",
        maintain_order=True)
    svc_names = names.filter(pl.col("kind") == "service").select(
        pl.col("ip").alias("server_ip"), pl.col("name").alias("svc_by_ip"))
    out = (
        findings.with_row_index("_row")
        .join(names.select(pl.col("ip").alias("client_ip"), pl.col("name").alias("k8s_client")),
              on="client_ip", how="left")
        .join(names.filter(pl.col("kind") != "service").select(
            pl.col("ip").alias("server_ip"), pl.col("name").alias("k8s_server")),
              on="server_ip", how="left")
        .join(svc_names, on="server_ip", how="left")
        .join(_outside_doors(snap), on=SERVER, how="left")
        .join(_direct(snap), on=SERVER, how="left")
        .join(legs.select("client_ip", "client_port", pl.col("service_ip").alias("server_ip"),
                          pl.col("service_port").alias("server_port"),
                          _endpoint_text().alias("leg"),
                          pl.col("endpoint_target").alias("leg_target"),
                          pl.col("endpoint_state").alias("leg_state")),
              on=["client_ip", "client_port", *SERVER], how="left")
        .join(_behind(targets), on=SERVER, how="left")
        .join(_undnated(findings), on=["client_ip", "client_port", *SERVER], how="left")
        .with_columns(dns_svc=dns_service(snap))
        # no endpoint behind a Service its node never DNATed; none behind a DNS-only Service
        # (the DNS server's is not the Service's)
        .with_columns(
            *(pl.when(pl.col("undnated").is_null() & pl.col("dns_svc").is_null()).then(c).alias(c)
              for c in ("only", "only_target", "only_state", "candidates")))
        .with_columns(
            *(pl.coalesce(f"leg{s}", f"direct{s}", f"only{s}").alias(c)
              for c, s in zip(ENDPOINT, ("", "_target", "_state"), strict=True)),
            pl.coalesce("dns_svc", "svc_by_ip", "svc_by_door", "svc_by_endpoint")
            .alias("k8s_service"),
            pl.when(pl.col("svc_by_door").is_not_null() & pl.col("k8s_client").is_null())
            .then(pl.format("{}:{}", "client_ip", "client_port")).alias("k8s_external_client"),
            _reporter_name(snap, names).alias("k8s_reporter"),
            pl.when(pl.col("kind").is_in(NODE_KINDS))
            .then(_client_node(snap, "client_ip")).alias("k8s_node"))
        .with_columns(
            pl.when(pl.col("k8s_endpoint").is_null() & (pl.col("candidates").list.len() > 1))
            .then("candidates").alias("k8s_endpoint_candidates"))
        .join(external_names(snap), on="k8s_service", how="left")
        .join(not_ready(snap), on="k8s_service", how="left")
        .join(publishing(snap), on="k8s_service", how="left")
        .with_columns(published_not_ready().alias("k8s_publish_not_ready"))
        .join(undeclared_ports(snap), on=["k8s_endpoint", "k8s_endpoint_target"], how="left")
        # kube-proxy chose none of them: it rejects a Service without a ready endpoint
        .with_columns(pl.when(pl.col("k8s_endpoints_not_ready").is_null())
                      .then("k8s_endpoint_candidates").alias("k8s_endpoint_candidates"))
        .sort("_row")
    )
    explanation = pl.concat_str(_named_reporter(), _endpoint_note(), _candidates_note(snap),
                                service_notes(), _node_note(), _door_note(),
                                _host_network_note(snap),
                                separator=" ",
                                ignore_nulls=True)
    return out.with_columns(explanation=explanation).drop(
        "_row", "svc_by_ip", "svc_by_door", "svc_by_endpoint", "leg", "leg_target", "leg_state",
        "direct", "direct_target", "direct_state", "only", "only_target", "only_state",
        "candidates", "undnated", "dns_svc", "k8s_publishes_not_ready")


def _endpoint_text() -> pl.Expr:
    """`ip:port` of an endpoint as the contract writes addresses (`[v6]:port`)."""
    ip = pl.col("endpoint_ip")
    shown = pl.when(ip.str.contains(":")).then(pl.format("[{}]", ip)).otherwise(ip)
    return pl.format("{}:{}", shown, "endpoint_port")


def _undnated(findings: pl.DataFrame) -> pl.DataFrame:
    """Connections a detector found never DNATed (kube-proxy missing on the client's node)."""
    return (findings.filter(pl.col("kind").is_in(NODE_KINDS))
            .select("client_ip", "client_port", *SERVER, undnated=pl.lit(True)).unique())


def _outside_doors(snap: Snapshot) -> pl.DataFrame:
    """server ip:port → the Service reached there from outside the cluster (a node's address
    with a nodePort, a LoadBalancer ingress IP with its port), and `k8s_node_port`
    (`node NAME:PORT`) for a NodePort."""
    cluster_ips = snap.services["cluster_ip"].drop_nulls().implode()
    return front_doors(snap).filter(~pl.col("service_ip").is_in(cluster_ips)).select(
        pl.col("service_ip").alias("server_ip"), pl.col("service_port").alias("server_port"),
        pl.col("service").alias("svc_by_door"), pl.col("node_port").alias("k8s_node_port"),
    ).unique(SERVER, keep="first", maintain_order=True)


def _direct(snap: Snapshot) -> pl.DataFrame:
    """server ip:port → the Service and endpoint it is, when the server is an endpoint itself
    (the inner destination on an underlay, the pod a socket-level load balancer chose)."""
    return endpoint_rows(snap).select(
        pl.col("endpoint_ip").alias("server_ip"), pl.col("endpoint_port").alias("server_port"),
        pl.col("service").alias("svc_by_endpoint"),
        _endpoint_text().alias("direct"),
        pl.col("endpoint_target").alias("direct_target"),
        pl.col("endpoint_state").alias("direct_state"),
    ).unique(SERVER, keep="first", maintain_order=True)


def _behind(targets: pl.DataFrame) -> pl.DataFrame:
    """ClusterIP:port → its only endpoint kube-proxy would use (`only*`, null unless exactly
    one), and every endpoint as a `"ip:port (state)"` candidate (protocols merged: one port
    number of a Service maps to the same endpoints over TCP and UDP)."""
    one = pl.col("proxied").sum() == 1
    first_proxied = pl.col("proxied").arg_max()
    return (
        targets.unique(["service_ip", "service_port", "endpoint_ip", "endpoint_port"],
                       keep="first", maintain_order=True)
        .with_columns(_endpoint_text().alias("address"))
        .group_by(pl.col("service_ip").alias("server_ip"),
                  pl.col("service_port").alias("server_port"), maintain_order=True)
        .agg(
            pl.when(one).then(pl.col("address").get(first_proxied)).alias("only"),
            pl.when(one).then(pl.col("endpoint_target").get(first_proxied)).alias("only_target"),
            pl.when(one).then(pl.col("endpoint_state").get(first_proxied)).alias("only_state"),
            pl.format("{} ({})", "address", "endpoint_state").sort().alias("candidates"),
        )
    )


def _endpoint_note() -> pl.Expr:
    """What the snapshot adds to a symptom whose connection kube-proxy sent to an endpoint that
    is not ready: the most common Kubernetes cause of a Service that half works."""
    target = pl.when(pl.col("k8s_endpoint_target").is_not_null()).then(
        pl.format(" ({})", "k8s_endpoint_target")).otherwise(pl.lit(""))
    # a Service publishing not-ready addresses sends clients there on purpose (service_notes)
    return (pl.when(pl.col("k8s_endpoint_state").is_not_null()
                    & (pl.col("k8s_endpoint_state") != "ready")
                    & pl.col("k8s_publish_not_ready").is_null())
            .then(pl.format("kube-proxy sent it to endpoint {}{}, which the EndpointSlice "
                            "marks {}: its rules still point at a backend that is going away.",
                            "k8s_endpoint", target, "k8s_endpoint_state")))


def _candidates_note(snap: Snapshot) -> pl.Expr:
    """Which capture would settle the endpoint: the client's node, where kube-proxy DNATs."""
    node = _client_node(snap, "client_ip")
    where = pl.when(node.is_not_null()).then(pl.format("{} (`tcpdump -i any`)", node)).otherwise(
        pl.lit("the client's node (`tcpdump -i any`)"))
    return pl.when(pl.col("k8s_endpoint_candidates").is_not_null()).then(pl.format(
        "Service {} has {} endpoints ({}) and this capture shows only the ClusterIP: a capture "
        "on {}, or on its underlay NIC, would show which one kube-proxy chose.",
        "k8s_service", pl.col("k8s_endpoint_candidates").list.len(),
        pl.col("k8s_endpoint_candidates").list.join(", "), where))


def _door_note() -> pl.Expr:
    """Where a connection from outside the cluster came in: the client as it sent, the node
    and nodePort (or LoadBalancer address) it dialled, and the endpoint it was sent on to."""
    door = pl.coalesce(pl.format("NodePort {}", "k8s_node_port"),
                       pl.format("LoadBalancer address {}:{}", "server_ip", "server_port"))
    onward = pl.when(pl.col("k8s_endpoint").is_not_null()).then(
        pl.format(", which sent it on to endpoint {}", "k8s_endpoint")).otherwise(pl.lit(""))
    return pl.when(pl.col("k8s_external_client").is_not_null()).then(pl.format(
        "It came from {}, outside the cluster, to {} of Service {}{}.",
        "k8s_external_client", door, "k8s_service", onward))


def _node_note() -> pl.Expr:
    return pl.when(pl.col("k8s_node").is_not_null() & pl.col("k8s_service").is_not_null()).then(
        pl.format("That node is {}, and the Service {}.", "k8s_node", "k8s_service"))


def _host_network_note(snap: Snapshot) -> pl.Expr:
    """hostNetwork pods share their node's address: say so where the client (or a server no
    EndpointSlice names) is such an address, rather than guess which pod it was."""
    shared = (snap.pods.filter(pl.col("host_network"))
              .group_by("ip").agg(pl.format("pod {}/{}", "namespace", "name").sort()
                                  .str.join(", ").alias("pods")))
    pods: dict[str, str] = dict(zip(shared["ip"].to_list(), shared["pods"].to_list(),
                                    strict=True))

    def note(ip: str) -> str | None:
        if ip not in pods:
            return None
        return (f"{ip} is a node's own address, which hostNetwork pods share ({pods[ip]}): "
                "the packets cannot tell which of them, or the node itself, sent them.")

    client = pl.col("client_ip").map_elements(note, return_dtype=pl.String, skip_nulls=True)
    server = pl.when(pl.col("k8s_endpoint_target").is_null()).then(
        pl.col("server_ip").map_elements(note, return_dtype=pl.String, skip_nulls=True))
    both = pl.concat_str(client, server, separator=" ", ignore_nulls=True)
    return pl.when(both != "").then(both)


def _client_node(snap: Snapshot, column: str) -> pl.Expr:
    """The node a client address lives on: a pod's node, or the node owning the address (its
    own, or one in its pod CIDR)."""
    pods = dict(zip(snap.pods["ip"].to_list(), snap.pods["node"].to_list(), strict=True))

    def node(ip: str) -> str | None:
        name = pods.get(ip) or node_of_address(snap, ip)
        return f"node {name}" if name else None

    return pl.col(column).map_elements(node, return_dtype=pl.String, skip_nulls=True)


def _named_reporter() -> pl.Expr:
    """The explanation with an ICMP error's reporter named: `node worker-2 (10.244.2.0)
    answered…`, not the bare address (detectors write the address; only the snapshot names)."""
    ip = pl.col("extra").str.json_path_match("$.reporter")
    head = pl.concat_str(ip, pl.lit(" answered"))
    # conntrack gives an error about a DNATed connection the ClusterIP as its source: the
    # sender was on the path to the endpoint, and the Service is all the packet still says.
    named = (pl.when(pl.col("k8s_reporter").str.contains("^(pod|node) "))
             .then(pl.format("{} ({})", "k8s_reporter", ip))
             .otherwise(pl.format("A host on the path to Service {} (the error's source reads "
                                  "{}, its ClusterIP, as conntrack rewrote it)",
                                  "k8s_reporter", ip)))
    return (pl.when(pl.col("k8s_reporter").is_not_null()
                    & pl.col("explanation").str.starts_with(head))
            .then(pl.concat_str(named, pl.col("explanation").str.slice(ip.str.len_chars())))
            .otherwise("explanation"))


def _reporter_name(snap: Snapshot, names: pl.DataFrame) -> pl.Expr:
    """Who sent an ICMP error: a known address, else the node owning it — a node answers from
    its bridge or VXLAN address, which lies in its pod CIDR (flannel's 10.244.N.0, cni0's .1)."""
    known: dict[str, str] = dict(zip(names["ip"].to_list(), names["name"].to_list(), strict=True))

    def name(ip: str | None) -> str | None:
        if ip is None:
            return None
        if ip in known:
            return known[ip]
        node = node_of_address(snap, ip)
        return f"node {node}" if node else None

    return (pl.col("extra").str.json_path_match("$.reporter")
            .map_elements(name, return_dtype=pl.String, skip_nulls=True))

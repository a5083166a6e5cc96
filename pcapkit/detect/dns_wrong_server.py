"""dns_wrong_server: a pod asking a DNS server that is not the cluster's.

Definition: the DNS transactions to port 53 from a pod address (in `kube_pod_cidrs`, the Nodes'
podCIDRs) to a server that is none of the cluster's DNS servers: not the kube-dns Service's
ClusterIP, not one of its endpoints (the CoreDNS pods: `kube_dns_servers`, both from the
snapshot), and not a NodeLocal DNSCache address (`nodelocal_dns`, 169.254.20.10 by default). A
transaction seen under several server addresses (before and after DNAT) is held to all of them:
one of the cluster's is enough. The CoreDNS pods themselves ask upstream servers by design and
are left out. One finding per client and server: `count` is the transactions, `extra` has
`nameserver`, `expected` (the cluster's DNS addresses), `answered` and a few `names`.

Such a pod resolves with something else than the cluster's DNS: its resolv.conf is wrong — a
`dnsPolicy: Default` (the node's resolver), or a `dnsConfig` with `dnsPolicy: None` naming
another server — so cluster names fail or come from a stale copy. Severity warning while the
server answers, error when some queries went unanswered.

Without a snapshot (or the settings by hand) it does not run: nothing says which server is the
cluster's. Wireshark and Zeek show the server of each query, not whether it is the right one.

Tunables (pcapkit/detect/config.py): `kube_dns_servers`, `nodelocal_dns`, `kube_pod_cidrs`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import polars as pl

from pcapkit.detect.config import Config
from pcapkit.detect.findings import FINDINGS_SCHEMA, Severity, extra_json, frames_evidence
from pcapkit.flows import Tables

KIND = "dns_wrong_server"
DNS_PORT = 53
#: names listed in one finding, at most
MAX_NAMES = 10


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    if not config.kube_dns_servers:
        return pl.DataFrame(schema=FINDINGS_SCHEMA)
    allowed = [*config.kube_dns_servers, *config.nodelocal_dns]
    pods = [ipaddress.ip_network(c, strict=False) for c in config.kube_pod_cidrs]
    txns = tables.dns.filter(
        (pl.col("server_port") == DNS_PORT)
        & ~pl.col("client_ip").is_in(allowed)
        & ~pl.col("server_ips").list.eval(pl.element().is_in(allowed)).list.any())
    clients = [c for c in txns["client_ip"].unique().to_list() if _in(c, pods)]
    rows = [
        _finding(str(client), str(server), group, allowed)
        for (client, server), group in txns.filter(pl.col("client_ip").is_in(clients))
        .sort("ts_ns").group_by("client_ip", "server_ip", maintain_order=True)
    ]
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _in(ip: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    address = ipaddress.ip_address(ip)
    return any(address in net for net in networks)


def _finding(client: str, server: str, txns: pl.DataFrame, allowed: list[str]) -> dict[str, Any]:
    answered = int(txns["answered"].fill_null(False).sum())
    names = list(dict.fromkeys(txns["qname"].drop_nulls().to_list()))
    ends = txns.select(pl.coalesce("response_ts_ns", "ts_ns"))
    return {
        "kind": KIND,
        "severity": (Severity.WARNING if answered == txns.height else Severity.ERROR).value,
        "protocol": "dns",
        "client_ip": client,
        "client_port": None,
        "server_ip": server,
        "server_port": DNS_PORT,
        "count": txns.height,
        "first_ts_ns": txns["ts_ns"].min(),
        "last_ts_ns": ends.to_series().max(),
        "evidence": frames_evidence(txns, "query_frames", "response_frames"),
        "explanation": (
            f"{client} sent {txns.height} DNS queries to {server}, which is not the cluster's "
            f"DNS ({', '.join(allowed)}); {answered} were answered. The pod's resolv.conf names "
            f"the wrong nameserver: its dnsPolicy (Default uses the node's resolver) or its "
            f"dnsConfig is wrong, so cluster names do not resolve, or resolve from elsewhere."),
        "extra": extra_json(nameserver=server, expected=allowed, answered=answered,
                            names=names[:MAX_NAMES]),
    }

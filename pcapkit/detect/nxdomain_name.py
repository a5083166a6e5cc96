"""nxdomain_name: a client looked up a Service by a name the cluster's DNS does not know.

Definition: the failed lookups of cluster names (pcapkit/detect/cluster_names.py: every step
the search path made of the name answered NXDOMAIN, the name reading as a Service), grouped by
client and name asked. One finding per group: `count` is the lookups, `extra` has `name`, the
`service` and `namespace` it stands for, `steps` (the names queried, the search path
collapsed into this one finding), `nxdomain` (the answers), and with a snapshot (the
`kube_services` and `kube_namespaces` settings) `did_you_mean` (`NAME.NAMESPACE` of the
Services of that name in other namespaces) or, when there is none anywhere,
`namespaces_searched`.

A short name finds only the Services of the client's own namespace: the usual cause is a
Service in another namespace reached by its short name (`orders` for `orders.shop`), or a
misspelt or deleted one. A Service that does exist under the name asked, yet answered NXDOMAIN,
means CoreDNS does not serve it (its kubernetes plugin is stale or not watching) — unless the
answer carried a CNAME: the Service is an ExternalName, the cluster DNS followed its alias, and
it is the external name that does not exist (`extra` has `cname`, the alias's target, and with
a snapshot the `kube_external_names` setting names the Service). A headless Service answering
NXDOMAIN has no ready pod: `headless_not_ready` reports those lookups, this detector does not.

nxdomain_storm counts NXDOMAINs by rate; the NXDOMAINs of the lookups reported here are left
out of it, so that each answer is in one finding only.

Wireshark and Zeek show each NXDOMAIN answer (`dns.flags.rcode == 3`, `dns.log`'s `rcode_name`)
with no notion of a search path or of the cluster's Services.

Tunables (pcapkit/detect/config.py): `kube_services`, `kube_namespaces`, `kube_headless`,
`kube_external_names` (from the snapshot).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any

import polars as pl

from pcapkit.detect.cluster_names import any_nx, cluster_lookups, headless_endpoints
from pcapkit.detect.config import Config
from pcapkit.detect.findings import (
    FINDINGS_SCHEMA,
    Severity,
    empty_findings,
    extra_json,
    frames_evidence,
)
from pcapkit.flows import Tables

KIND = "nxdomain_name"
#: the DNS record type of an alias
CNAME = 5


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    if not any_nx(tables.dns):
        return empty_findings()
    headless = list(headless_endpoints(config))
    failed = cluster_lookups(tables.dns, config).filter(
        ~pl.concat_str("namespace", "service", separator="/").is_in(headless))
    services: dict[str, set[str]] = {}
    for ref in config.kube_services:
        ns, _, name = ref.partition("/")
        services.setdefault(name, set()).add(ns)
    rows = [
        _finding(str(client), str(asked), txns, services, config)
        for (client, asked), txns in failed.sort("ts_ns").group_by(
            "client_ip", "asked", maintain_order=True)
    ]
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _finding(client: str, asked: str, txns: pl.DataFrame, services: dict[str, set[str]],
             config: Config) -> dict[str, Any]:
    service, namespace = txns["service"][0], txns["namespace"][0]
    steps = list(dict.fromkeys(txns["qname"].drop_nulls().to_list()))
    lookups = txns["lookup"].n_unique()
    holders = services.get(service, set())
    elsewhere = sorted(f"{service}.{ns}" for ns in holders if ns != namespace)
    searched = list(config.kube_namespaces) if config.kube_services and not holders else None
    server = _dialled(txns, config)
    cnames = [a["data"] for answers in txns["answers"].to_list() for a in answers or ()
              if a["type"] == CNAME and a["data"]]
    cname = cnames[0].rstrip(".") if cnames else None
    aliases = dict(entry.split("|") for entry in config.kube_external_names)
    ref = f"{namespace}/{service}"
    external = ref if ref in aliases else None
    return {
        "kind": KIND,
        "severity": Severity.ERROR.value,
        "protocol": "dns",
        "client_ip": client,
        "client_port": None,
        "server_ip": server,
        "server_port": txns["server_port"][0],
        "count": lookups,
        "first_ts_ns": txns["ts_ns"].min(),
        "last_ts_ns": txns["response_ts_ns"].max(),
        "evidence": frames_evidence(txns, "query_frames", "response_frames"),
        "explanation": _alias(head=_head(client, asked, lookups, steps), cname=cname,
                              external=external, target=aliases.get(ref))
        or _explain(client, asked, lookups, steps, service, namespace, holders, elsewhere,
                    searched, bool(config.kube_services)),
        "extra": extra_json(name=asked, service=service, namespace=namespace, steps=steps,
                            cname=cname,
                            lookups=lookups, nxdomain=txns.height,
                            did_you_mean=elsewhere or None, namespaces_searched=searched),
    }


def _dialled(txns: pl.DataFrame, config: Config) -> str:
    """The server the client sent to: a Service address among those seen (DNAT never makes
    one; captures' clocks a few microseconds apart may show the DNATed copy first), else the
    most common first destination."""
    networks = [ipaddress.ip_network(c, strict=False) for c in config.kube_service_cidrs]
    seen = Counter(ip for ips in txns["server_ips"].to_list() for ip in ips or ())
    for ip, _ in seen.most_common():
        if any(ipaddress.ip_address(ip) in net for net in networks):
            return str(ip)
    return str(Counter(txns["server_ip"].to_list()).most_common(1)[0][0])


def _head(client: str, asked: str, lookups: int, steps: list[str]) -> str:
    tried = f" ({', '.join(steps)})" if len(steps) > 1 else ""
    return (f"{client} looked up {asked} {lookups} time(s) and every name it tried{tried} was "
            f"NXDOMAIN")


def _alias(head: str, cname: str | None, external: str | None, target: str | None) -> str | None:
    """The explanation of a lookup whose answer was an alias (an ExternalName Service), or
    None."""
    if cname is None and external is None:
        return None
    alias = cname or target
    who = f"ExternalName Service {external}" if external else "the Service"
    return (f"{head}: {who} is an alias for {alias}, which the cluster DNS followed (its CNAME) "
            f"and found does not exist. The failure is the external name's: check the "
            f"Service's externalName, or the record of {alias} in its own zone.")


def _explain(client: str, asked: str, lookups: int, steps: list[str], service: str,
             namespace: str, holders: set[str], elsewhere: list[str],
             searched: list[str] | None, snapshot: bool) -> str:
    head = _head(client, asked, lookups, steps)
    where = f"in namespace {namespace}"
    if namespace in holders:
        return (f"{head}, yet Service {namespace}/{service} exists: CoreDNS does not serve it "
                f"(its kubernetes plugin is stale or not watching that namespace).")
    if elsewhere:
        return (f"{head}: there is no Service {service} {where}; did you mean "
                f"{' or '.join(elsewhere)}? A short name finds only the Services of the "
                f"client's own namespace.")
    if searched is not None:
        return (f"{head}: no Service named {service} exists in any namespace (searched: "
                f"{', '.join(searched)}); check the spelling, or whether it was deleted.")
    hint = "" if snapshot else " (with --k8s, pcapkit names the namespaces that have one)"
    return (f"{head}: the cluster's DNS has no Service {service} {where}; check the spelling "
            f"and the namespace{hint}.")

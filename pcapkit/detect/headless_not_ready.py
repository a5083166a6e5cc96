"""headless_not_ready: lookups of a headless Service that leave out its pods, or find none.

A headless Service (`clusterIP: None`) has no ClusterIP and no kube-proxy rules: the cluster
DNS answers its name with the addresses of its ready endpoints, one A/AAAA record per pod. A pod
that is not ready is left out of the answer, and with no ready pod at all the name does not
resolve: CoreDNS answers NXDOMAIN (NOERROR without addresses from other servers). A Service
with `publishNotReadyAddresses` (a StatefulSet's, whose peers must find each other before they
are ready) has its pods answered ready or not, on purpose: its not-ready pods
(`published-not-ready`) are never held against it here; a connection that fails on one says so
(`k8s.publish_not_ready`, pcapkit/kube/services.py).

Definition (needs a snapshot: the `kube_headless` setting): the DNS transactions asking A or
AAAA for a headless Service's name (`NAME.NAMESPACE.svc[.DOMAIN]`, any step of a search-path
lookup), answered, grouped by client and Service. A lookup is empty when none of its
transactions for that name got an address. One finding per group when

- some lookup was empty: severity error; the EndpointSlices list no ready endpoint (the
  explanation names the pods that are not ready, or says no pod matches);
- or the answers leave out endpoints the EndpointSlices list as not ready: severity warning (a
  StatefulSet's peers cannot reach those pods by name).

`count` is the lookups; `extra` has `name` (the name queried), `answers` (each address
answered, named by pod: `10.244.2.60 (pod default/db-0)`), `not_ready` (`pod NS/NAME (ip,
state)` of each endpoint left out), `lookups` and `empty_lookups`. The evidence is every step of
those lookups: their NXDOMAINs are this finding's, not `nxdomain_name`'s (which leaves headless
Services to this detector) nor `nxdomain_storm`'s.

Wireshark and Zeek show the answers (`dns.a`, dns.log's `answers`) with no notion of which pods
stand behind a name.

Tunables (pcapkit/detect/config.py): `kube_headless` (from the snapshot).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pcapkit.codes import DnsRcode
from pcapkit.detect.cluster_names import headless_endpoints, service_ref
from pcapkit.detect.config import Config
from pcapkit.detect.findings import FINDINGS_SCHEMA, Severity, extra_json, frames_evidence
from pcapkit.flows import Tables

KIND = "headless_not_ready"
#: the record types that carry addresses
ADDRESS_TYPES = (1, 28)
#: endpoint states the cluster DNS answers a headless name with
ANSWERED = ("ready", "published-not-ready")


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    services = headless_endpoints(config)
    if not services:
        return pl.DataFrame(schema=FINDINGS_SCHEMA)
    ref = service_ref(pl.col("qname"))
    dns = tables.dns
    asked = (dns.filter(pl.col("answered") & pl.col("qtype").is_in(ADDRESS_TYPES))
             .with_columns(service=ref).filter(pl.col("service").is_in(list(services))))
    rows = []
    for (client, service), txns in asked.sort("ts_ns").group_by("client_ip", "service",
                                                                 maintain_order=True):
        steps = dns.filter(pl.col("lookup").is_in(txns["lookup"].unique().implode()))
        finding = _finding(str(client), str(service), txns, steps, services[str(service)])
        if finding is not None:
            rows.append(finding)
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _addresses(txns: pl.DataFrame) -> list[str]:
    return sorted({a["data"] for answers in txns["answers"].to_list() for a in answers or ()
                   if a["type"] in ADDRESS_TYPES and a["data"]})


def _finding(client: str, service: str, txns: pl.DataFrame, steps: pl.DataFrame,
             endpoints: list[tuple[str, str, str]]) -> dict[str, Any] | None:
    per_lookup = {lookup: _addresses(part) for (lookup,), part in txns.group_by("lookup")}
    empty = sorted(lookup for lookup, got in per_lookup.items() if not got)
    answered = _addresses(txns)
    pods = {ip: target for ip, _, target in endpoints}
    answers = [f"{ip} ({pods.get(ip) or 'no endpoint of the Service'})" for ip in answered]
    left_out = [f"{target or 'endpoint'} ({ip}, {state})" for ip, state, target in endpoints
                if state not in ANSWERED and ip not in answered]
    if not empty and not left_out:
        return None
    cited = steps.filter(pl.col("lookup").is_in(empty)) if empty else txns
    name = str(txns["qname"][0]).rstrip(".")
    rcodes = sorted({DnsRcode(r).name for r in txns.filter(
        pl.col("lookup").is_in(empty))["rcode"].drop_nulls().to_list()})
    return {
        "kind": KIND,
        "severity": (Severity.ERROR if empty else Severity.WARNING).value,
        "protocol": "dns",
        "client_ip": client,
        "client_port": None,
        "server_ip": txns["server_ip"][0],
        "server_port": txns["server_port"][0],
        "count": len(per_lookup),
        "first_ts_ns": cited["ts_ns"].min(),
        "last_ts_ns": cited["ts_ns"].max(),
        "evidence": frames_evidence(cited, "query_frames", "response_frames"),
        "explanation": _explain(client, service, name, len(per_lookup), len(empty), rcodes,
                                answers, left_out, endpoints),
        "extra": extra_json(name=name, answers=answers, not_ready=left_out,
                            lookups=len(per_lookup), empty_lookups=len(empty)),
    }


def _explain(client: str, service: str, name: str, lookups: int, empty: int, rcodes: list[str],
             answers: list[str], left_out: list[str],
             endpoints: list[tuple[str, str, str]]) -> str:
    head = f"{client} looked up headless Service {service} ({name}) {lookups} time(s)"
    if empty:
        due = [f"{target or 'endpoint'} ({ip}, {state})" for ip, state, target in endpoints
               if state in ANSWERED]
        if not endpoints:
            why = "its EndpointSlices list no endpoint at all (no pod matches its selector)"
        elif due:
            return (f"{head} and {empty} of them got no address ({'/'.join(rcodes)}), though "
                    f"its EndpointSlices list endpoint(s) the cluster DNS should answer "
                    f"({', '.join(due)}): the DNS server is not serving them (CoreDNS's "
                    "kubernetes plugin stale, or not watching the namespace).")
        else:
            why = (f"none of its {len(endpoints)} endpoint(s) is ready ({', '.join(left_out)}), "
                   "so the cluster DNS has no pod address to answer")
        return (f"{head} and {empty} of them got no address ({'/'.join(rcodes)}): {why}. A "
                "headless Service has no ClusterIP to fall back on: its name resolves only to "
                "ready pods; check their readiness probes (`kubectl describe pod`).")
    return (f"{head}; the answers list {', '.join(answers)} and leave out "
            f"{', '.join(left_out)}, not ready: no client can reach those pods by this name until "
            "they pass their readiness probes.")

"""What the snapshot says against a Service, for the findings that name it.

- A headless or ExternalName Service is only a DNS name: a DNS finding about its name is about
  the Service (an ExternalName's target too: the cluster DNS follows the alias).
- A Service whose EndpointSlices list endpoints, none of them ready and none terminating
  (readiness probes failing): kube-proxy has nothing to send new connections to.
- A Service with `publishNotReadyAddresses` (typical of a StatefulSet's headless Service, whose
  peers must find each other before they are ready) publishes its pods that are not ready on
  purpose: neither of the above is held against it, but a failed connection to one of those
  pods says the Service sent the client there (`publish_not_ready`).
- A targetPort that is not a port the endpoint's pod declares (`containers[].ports`, when the
  pod declares any: declaring is optional, so a pod declaring none is never held against it):
  nothing is likely to listen there, and the pod refuses the connection.
"""

from __future__ import annotations

import json

import polars as pl

from pcapkit.kube.dnat import endpoint_rows
from pcapkit.kube.names import SVC_NAME
from pcapkit.kube.snapshot import Snapshot

#: the `extra` keys in which DNS findings list the names they are about
NAME_KEYS = ("name", "names", "steps", "cname")


def dns_service(snap: Snapshot) -> pl.Expr:
    """`NAMESPACE/NAME` of the headless or ExternalName Service a DNS finding's names are about
    (its name, or an ExternalName's target), else null."""
    dns_only = snap.services.filter(pl.col("headless") | pl.col("external_name").is_not_null())
    refs = {f"{ns}/{name}" for ns, name in dns_only.select("namespace", "name").iter_rows()}
    targets: dict[str, set[str]] = {}
    for ns, name, target in dns_only.filter(pl.col("external_name").is_not_null()).select(
            "namespace", "name", "external_name").iter_rows():
        targets.setdefault(target.lower().rstrip("."), set()).add(f"{ns}/{name}")

    def service(extra: str) -> str | None:
        fields = json.loads(extra)
        for key in NAME_KEYS:
            value = fields.get(key)
            for name in [value] if isinstance(value, str) else value or ():
                name = str(name).lower().rstrip(".")
                found = SVC_NAME.fullmatch(name)
                if found and f"{found.group(2)}/{found.group(1)}" in refs:
                    return f"{found.group(2)}/{found.group(1)}"
                if len(targets.get(name, ())) == 1:
                    return next(iter(targets[name]))
        return None

    return (pl.when(pl.col("protocol") == "dns")
            .then(pl.col("extra").map_elements(service, return_dtype=pl.String,
                                               skip_nulls=True)))


def external_names(snap: Snapshot) -> pl.DataFrame:
    """`k8s_service` → `k8s_external_name`, for the ExternalName Services."""
    return (snap.services.filter(pl.col("external_name").is_not_null())
            .select(pl.format("{}/{}", "namespace", "name").alias("k8s_service"),
                    pl.col("external_name").alias("k8s_external_name"))
            .unique("k8s_service", keep="first", maintain_order=True))


def not_ready(snap: Snapshot) -> pl.DataFrame:
    """`k8s_service` → `k8s_endpoints_not_ready` (`pod NS/NAME (ip:port, state)` of each
    endpoint), for the Services whose endpoints are all neither ready nor terminating."""
    # a headless Service has no kube-proxy rules: headless_not_ready says what its DNS does;
    # one that publishes not-ready addresses means its clients to reach such pods
    headless = snap.services.filter(pl.col("headless") | pl.col("publish_not_ready")).select(
        pl.format("{}/{}", "namespace", "name")).to_series().implode()
    rows = endpoint_rows(snap).filter(~pl.col("service").is_in(headless)).with_columns(
        pl.format("{} ({}:{}, {})", pl.coalesce("endpoint_target", pl.lit("endpoint")),
                  "endpoint_ip", "endpoint_port", "endpoint_state").alias("entry"))
    return (rows.group_by(pl.col("service").alias("k8s_service"))
            .agg(none=(~pl.col("ready") & (pl.col("endpoint_state") != "terminating")).all(),
                 k8s_endpoints_not_ready=pl.col("entry").unique().sort())
            .filter("none").drop("none"))


def publishing(snap: Snapshot) -> pl.DataFrame:
    """`k8s_service` → `k8s_publishes_not_ready` (true), for the Services with
    `publishNotReadyAddresses`."""
    return (snap.services.filter(pl.col("publish_not_ready"))
            .select(pl.format("{}/{}", "namespace", "name").alias("k8s_service"),
                    pl.lit(True).alias("k8s_publishes_not_ready"))
            .unique("k8s_service"))


#: endpoint states of a pod that is not ready (`pcapkit.kube.dnat.endpoint_state`)
NOT_READY_STATES = ("published-not-ready", "not-ready", "serving-not-ready")


def published_not_ready() -> pl.Expr:
    """Whether a symptom's endpoint is a pod that is not ready, which its Service publishes
    (`publishNotReadyAddresses`) on purpose: true, else null."""
    return pl.when(pl.col("k8s_publishes_not_ready").fill_null(False)
                   & pl.col("k8s_endpoint_state").is_in(NOT_READY_STATES)).then(True)


def undeclared_ports(snap: Snapshot) -> pl.DataFrame:
    """(`k8s_endpoint`, `k8s_endpoint_target`) → `k8s_port_mismatch`, for the endpoints whose
    port the pod does not declare (the pods that declare ports only)."""
    pods = (snap.pods.filter(pl.col("ports").is_not_null())
            .select(pl.format("pod {}/{}", "namespace", "name").alias("endpoint_target"),
                    "ports").unique("endpoint_target", keep="first"))
    rows = endpoint_rows(snap).select("endpoint_ip", "endpoint_port", "endpoint_target").unique()
    out = []
    for ip, port, target, ports in rows.join(pods, on="endpoint_target").iter_rows():
        if port is None or any(p["port"] == port for p in ports):
            continue
        declared = ", ".join(f"{p['port']}/{p['protocol']}" + (f" ({p['name']})" if p["name"]
                                                                 else "") for p in ports)
        shown = f"[{ip}]" if ":" in ip else ip
        out.append({"k8s_endpoint": f"{shown}:{port}", "k8s_endpoint_target": target,
                    "k8s_port_mismatch": f"targetPort {port} is not a port {target} declares "
                                         f"(it declares {declared})"})
    return pl.DataFrame(out, schema={"k8s_endpoint": pl.String, "k8s_endpoint_target": pl.String,
                                     "k8s_port_mismatch": pl.String})


def service_notes() -> pl.Expr:
    """The explanation's sentences for what this module found (null when nothing, or when the
    detector's explanation already said it)."""
    mismatch = pl.when(pl.col("k8s_port_mismatch").is_not_null()).then(pl.format(
        "The Service's {}: nothing is likely to listen there, which is why the endpoint "
        "refuses; point targetPort at a declared port (or its name).", "k8s_port_mismatch"))
    published = pl.when(pl.col("k8s_publish_not_ready")).then(pl.format(
        "Service {} publishes not-ready addresses (`publishNotReadyAddresses: true`), so "
        "clients reach pods that are not ready: this connection went to {}{}, which is not "
        "ready. That is the Service's intent (a StatefulSet's peers finding each other), not a "
        "stale endpoint; a client that needs a serving pod must try another address.",
        "k8s_service", "k8s_endpoint",
        pl.when(pl.col("k8s_endpoint_target").is_not_null())
        .then(pl.format(" ({})", "k8s_endpoint_target")).otherwise(pl.lit(""))))
    none_ready = pl.when(pl.col("k8s_endpoints_not_ready").is_not_null()).then(pl.format(
        "Service {} has no ready endpoint: its EndpointSlices list {}, none ready (failing "
        "readiness probes), so kube-proxy has nowhere to send new connections.",
        "k8s_service", pl.col("k8s_endpoints_not_ready").list.join(", ")))
    said = pl.col("explanation").str.contains(pl.col("k8s_external_name"), literal=True)
    alias = pl.when(pl.col("k8s_external_name").is_not_null() & ~said).then(pl.format(
        "{} is an ExternalName Service: the cluster DNS answers its name with a CNAME to {}, "
        "so this is that name's failure.", "k8s_service", "k8s_external_name"))
    notes = pl.concat_str(mismatch, published, none_ready, alias, separator=" ",
                          ignore_nulls=True)
    return pl.when(notes != "").then(notes)

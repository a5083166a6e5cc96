"""What the DNS name detectors share: the application lookups of a cluster name that failed.

A lookup (pcapkit/flows/search_path.py: a name and the steps the search path made of it) failed
by name when every step was answered, and answered NXDOMAIN: no step went unanswered (that is a
timeout, whatever the resolver then tried) and none failed otherwise. The name the application
asked for (`search_expansion_of`, else the name queried) is a cluster name when it reads as a
Service:

- `NAME.NAMESPACE.svc` or `NAME.NAMESPACE.svc.DOMAIN`;
- a single label `NAME` whose lookup tried `NAME.NAMESPACE.svc.…`, the client's own namespace
  (its search path's first domain); a bare label asked alone is not (a resolver without the
  cluster's search path never meant a Service);
- `NAME.NAMESPACE` when NAMESPACE is one of the snapshot's namespaces (without a snapshot two
  labels may as well be an outside name, `shop.example`).

`nxdomain_name` reports them; `nxdomain_storm` leaves their NXDOMAINs out, so that no answer is
counted by both.
"""

from __future__ import annotations

import polars as pl

from pcapkit.codes import DnsRcode
from pcapkit.detect.config import Config
from pcapkit.detect.forwarded import own_lookups
from pcapkit.kube.names import SVC_NAME


def failed_lookups(dns: pl.DataFrame) -> pl.DataFrame:
    """The DNS transactions of the lookups whose every step was answered NXDOMAIN, with the
    name asked for (`asked`, lower case, no trailing dot)."""
    nx = (pl.col("answered") & (pl.col("rcode") == DnsRcode.NXDOMAIN)).fill_null(False)
    asked = pl.coalesce("search_expansion_of", "qname").str.to_lowercase().str.strip_chars_end(".")
    return dns.filter(nx.all().over("lookup")).with_columns(asked=asked)


def service_of(asked: str, steps: list[str], config: Config) -> tuple[str, str] | None:
    """(Service name, namespace) the name `asked` stands for, or None when it is no cluster
    name."""
    found = SVC_NAME.fullmatch(asked)
    if found:
        return found.group(1), found.group(2)
    labels = asked.split(".")
    if len(labels) == 1:
        for step in steps:
            own = SVC_NAME.fullmatch(step.lower())
            if own and own.group(1) == asked:
                return asked, own.group(2)
        return None
    if len(labels) == 2 and labels[1] in config.kube_namespaces:
        return labels[0], labels[1]
    return None


def cluster_lookups(dns: pl.DataFrame, config: Config) -> pl.DataFrame:
    """`failed_lookups` of cluster names, with `service` and `namespace` (see `service_of`); a
    NodeLocal DNSCache's upstream transactions are left out (their client's are counted)."""
    failed = failed_lookups(own_lookups(dns, config))
    rows = []
    for (lookup, asked), txns in failed.group_by("lookup", "asked"):
        meant = service_of(str(asked), txns["qname"].drop_nulls().to_list(), config)
        if meant is not None:
            rows.append({"lookup": lookup, "service": meant[0], "namespace": meant[1]})
    meant_frame = pl.DataFrame(rows, schema={"lookup": failed.schema["lookup"],
                                             "service": pl.String, "namespace": pl.String})
    return failed.join(meant_frame, on="lookup", how="inner")


def service_ref(qname: pl.Expr) -> pl.Expr:
    """`NAMESPACE/NAME` of the Service a query name `NAME.NAMESPACE.svc.DOMAIN` asks for, null
    for other names."""
    parts = (qname.str.to_lowercase().str.strip_chars_end(".")
             .str.extract_groups(f"^(?:{SVC_NAME.pattern})$"))
    return pl.concat_str(parts.struct.field("2"), parts.struct.field("1"), separator="/")


def headless_lookups(dns: pl.DataFrame, config: Config) -> pl.Series:
    """The lookups that asked for a headless Service's name at some step: `headless_not_ready`
    speaks for their NXDOMAINs, complete or cut short by the capture's end."""
    services = list(headless_endpoints(config))
    return dns.filter(service_ref(pl.col("qname")).is_in(services))["lookup"].unique()


def headless_endpoints(config: Config) -> dict[str, list[tuple[str, str, str]]]:
    """`NAMESPACE/NAME` of each headless Service → its endpoints (ip, state, target)."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for entry in config.kube_headless:
        ref, ip, state, target = entry.split("|")
        out.setdefault(ref, [])
        if ip:
            out[ref].append((ip, state, target))
    return out

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

#: a DNS transaction answered NXDOMAIN
IS_NX = (pl.col("answered") & (pl.col("rcode") == DnsRcode.NXDOMAIN)).fill_null(False)


def any_nx(dns: pl.DataFrame) -> bool:
    """Some transaction of `dns` was answered NXDOMAIN: what both NXDOMAIN detectors need to
    find anything (most client shards of a streamed run have none)."""
    return bool(dns.select(IS_NX.any()).item())


def failed_lookups(dns: pl.DataFrame) -> pl.DataFrame:
    """The DNS transactions of the lookups whose every step was answered NXDOMAIN, with the
    name asked for (`asked`, lower case, no trailing dot)."""
    asked = pl.coalesce("search_expansion_of", "qname").str.to_lowercase().str.strip_chars_end(".")
    return dns.filter(IS_NX.all().over("lookup")).with_columns(asked=asked)


def cluster_lookups(dns: pl.DataFrame, config: Config) -> pl.DataFrame:
    """`failed_lookups` of cluster names, with `service` and `namespace`, what the name asked
    for stands for (the rules above); a NodeLocal DNSCache's upstream transactions are left out
    (their client's are counted).

    Columnar, not a loop over the lookups (0.3 ms each): a storm of lookups of distinct names,
    one per query, costs what one name asked as many times does."""
    failed = failed_lookups(own_lookups(dns, config))
    pattern = f"^(?:{SVC_NAME.pattern})$"
    asked = pl.col("asked").str.extract_groups(pattern)
    step = pl.col("qname").str.to_lowercase().str.extract_groups(pattern)
    labels = pl.col("asked").str.split(".")
    single, double = labels.list.len() == 1, labels.list.len() == 2
    # a single label NAME: the namespace of its first step `NAME.NAMESPACE.svc...`
    own = (pl.when(step.struct.field("1") == pl.col("asked")).then(step.struct.field("2"))
           .drop_nulls().first().over("lookup", "asked"))
    other = double & labels.list.get(1, null_on_oob=True).is_in(list(config.kube_namespaces))
    meant = failed.select(
        "lookup", "asked",
        service=pl.when(asked.struct.field("1").is_not_null()).then(asked.struct.field("1"))
        .when(single & own.is_not_null()).then(pl.col("asked"))
        .when(other).then(labels.list.get(0)),
        namespace=pl.coalesce(asked.struct.field("2"), pl.when(single).then(own),
                              pl.when(other).then(labels.list.get(1, null_on_oob=True))),
    ).unique(["lookup", "asked"], keep="first").filter(pl.col("service").is_not_null())
    return failed.join(meant.drop("asked"), on="lookup", how="inner")


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

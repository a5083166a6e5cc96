"""What the DNS detectors share: a NodeLocal DNSCache's upstream queries are its client's lookup.

NodeLocal DNSCache runs on every node, listens on a link-local address (`nodelocal_dns`,
169.254.20.10 by default; in iptables mode on the kube-dns ClusterIP too) and answers pods from
its cache; on a miss it asks kube-dns itself (its `kube-dns-upstream` Service, usually over TCP,
`force_tcp`), from the node's address, with a DNS id of its own. A node capture sees both
transactions: the pod's to the cache, and the cache's upstream one. They are one application
lookup: counting the upstream one again would make one failed lookup two timeouts, two NXDOMAINs
or two lookups.

An upstream transaction is one the cache sent for a pod's: same question (name, compared
case-insensitively, and type), sent by an address that never asked the cache itself, to a
server that is not the cache, no earlier than `FORWARD_TOLERANCE_NS` before the pod's query
(captures on different hosts differ by their clock offset) and before the pod had its answer
(or, when it had none, within `STEP_GAP_NS`). It is the latest such pod query; identical
questions from several pods while one is in flight are one upstream query to the cache, and
name the first pod still waiting.

`through_cache` adds `forwarded_for` (the `txn` of the pod's transaction, null for the rest) and
gives upstream transactions their pod's `lookup`. Detectors that count answers per client
(nxdomain_storm, nxdomain_name, dns_error) leave the upstream ones out; dns_timeout reads an
upstream timeout as the cause of the pod's.

Tunables (pcapkit/detect/config.py): `nodelocal_dns`.
"""

from __future__ import annotations

import polars as pl

from pcapkit.detect.config import Config
from pcapkit.flows.search_path import STEP_GAP_NS

#: the cache's upstream query follows the pod's by microseconds on the node; a pod capture's
#: clock may run a little ahead of the node's
FORWARD_TOLERANCE_NS = 200_000_000


def through_cache(dns: pl.DataFrame, config: Config) -> pl.DataFrame:
    """`dns` (DNS_TRANSACTIONS) with `forwarded_for`, and each upstream transaction in the
    `lookup` of the pod transaction it was sent for."""
    question: list[pl.Expr] = [pl.col("qname").str.to_lowercase().alias("_qkey"), pl.col("qtype")]
    to_cache = pl.col("server_ip").is_in(list(config.nodelocal_dns)) & (pl.col("queries") > 0)
    asked = dns.filter(to_cache).select(
        *question, pl.col("txn").alias("forwarded_for"), pl.col("lookup").alias("_lookup"),
        pl.col("query_ts_ns").alias("_asked_ns"),
        (pl.col("query_ts_ns") + pl.col("latency_ns").fill_null(STEP_GAP_NS)).alias("_until_ns"),
    )
    none = pl.lit(None, dns.schema["txn"]).alias("forwarded_for")
    if asked.is_empty():
        return dns.with_columns(none)
    sent = dns.filter(
        ~to_cache & (pl.col("queries") > 0)
        & ~pl.col("client_ip").is_in(dns.filter(to_cache)["client_ip"].unique().implode())
    ).select("txn", *question, (pl.col("query_ts_ns") + FORWARD_TOLERANCE_NS).alias("_at"),
             "query_ts_ns")
    matched = (
        sent.sort("_at")
        .join_asof(asked.sort("_asked_ns"), left_on="_at", right_on="_asked_ns",
                   by=["_qkey", "qtype"], strategy="backward", check_sortedness=False)
        .filter(pl.col("query_ts_ns") <= pl.col("_until_ns") + FORWARD_TOLERANCE_NS)
        .select("txn", "forwarded_for", "_lookup")
    )
    return (
        dns.join(matched, on="txn", how="left")
        .with_columns(pl.coalesce("_lookup", "lookup").alias("lookup"))
        .drop("_lookup")
    )


def own_lookups(dns: pl.DataFrame, config: Config) -> pl.DataFrame:
    """`dns` without the transactions a NodeLocal DNSCache sent upstream for its clients'."""
    return through_cache(dns, config).filter(pl.col("forwarded_for").is_null())

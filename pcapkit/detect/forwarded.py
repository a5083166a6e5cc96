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
(nxdomain_storm, nxdomain_name, dns_error) leave the upstream ones out; dns_timeout and dns_error
read a failed upstream leg as where the pod's lookup died (`failed_upstream`).

The cache forwards over TCP; when kube-dns cannot be reached (a NetworkPolicy, CoreDNS down) its
connection never gets a SYN-ACK and carries no DNS message at all. Such a connection is an
upstream leg too: a TCP connection to port 53 that nothing answered, opened by an address that
never asked the cache itself, while a pod's query to the cache waited (the same window as
above; its question cannot be read, so it goes to the latest such query); with a snapshot, to
kube-dns only (its ClusterIP or a CoreDNS pod, `kube_dns_servers`). The cache's
connections are its pod's lookup's: the finding that names the lookup cites them (its
`upstream_sockets`), and `relayed_out` leaves their own TCP findings out, so that one failed
lookup is one finding, not one for the pod and one per connection of the cache. Where that
leg stopped on its way to kube-dns (its `path` and `died_at`) is `pcapkit/kube/path.py`'s.

Tunables (pcapkit/detect/config.py): `nodelocal_dns`; from the snapshot `kube_dns_names` and
`kube_node_networks` name the upstream and the cache's node.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

import polars as pl

from pcapkit.codes import DnsRcode
from pcapkit.detect.config import KUBE_DNS, Config
from pcapkit.detect.findings import EVIDENCE, cited, frames_evidence
from pcapkit.flows.kept import kept
from pcapkit.flows.schema import FRAME
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
    return kept(through_cache(dns, config), pl.col("forwarded_for").is_null())


#: `upstream_legs`' columns: the pod transaction a leg was sent for, the cache's socket and the
#: server it asked (as the view nearest the cache saw it), how the leg ended (`no SYN-ACK`,
#: `no answer`, or the rcode's name; null: answered), its frames, and the TCP connection of a
#: leg that is one (`conn`; null for a DNS transaction)
LEGS = pl.Schema({"forwarded_for": pl.UInt32(), "proto": pl.String(), "client_ip": pl.String(),
                  "client_port": pl.UInt16(), "server_ip": pl.String(),
                  "server_port": pl.UInt16(), "outcome": pl.String(),
                  "frames": pl.List(FRAME), "conn": pl.UInt32()})
DNS_PORT = 53


def upstream_legs(dns: pl.DataFrame, connections: pl.DataFrame,
                  config: Config) -> pl.DataFrame:
    """The cache's upstream legs (`LEGS`) of the transactions of `dns` (`through_cache`'s):
    its upstream DNS transactions, and its TCP connections to port 53 that nothing answered."""
    rcode = pl.col("rcode").replace_strict([int(c) for c in DnsRcode], [c.name for c in DnsRcode],
                                           default="rcode", return_dtype=pl.String)
    queried = dns.filter(pl.col("forwarded_for").is_not_null()).select(
        "forwarded_for", "proto", "client_ip", "client_port", "server_ip", "server_port",
        pl.when(~pl.col("answered")).then(pl.lit("no answer"))
        .when(pl.col("rcode") != int(DnsRcode.NOERROR)).then(rcode).alias("outcome"),
        pl.concat_list("query_frames", "response_frames").alias("frames"),
        pl.lit(None, pl.UInt32).alias("conn"))
    return pl.concat([queried.cast(LEGS), _unanswered_connections(dns, connections, config)])


def _unanswered_connections(dns: pl.DataFrame, connections: pl.DataFrame,
                            config: Config) -> pl.DataFrame:
    """`LEGS` of the TCP connections to port 53 that got no answer in any view, matched by time
    to the pod transaction to the cache they were opened for."""
    to_cache = pl.col("server_ip").is_in(list(config.nodelocal_dns)) & (pl.col("queries") > 0)
    asked = dns.filter(to_cache)
    if asked.is_empty() or connections.is_empty():
        return pl.DataFrame(schema=LEGS)
    to_dns = pl.col("server_port") == DNS_PORT
    if config.kube_dns_servers:  # the snapshot says where the cache's upstream is
        to_dns &= pl.col("server_ip").is_in(list(config.kube_dns_servers))
    dead = (
        connections.filter(to_dns).sort("first_ts_ns", "view")
        .group_by("conn", maintain_order=True).agg(
            pl.col("client_ip", "client_port", "server_ip", "server_port").first(),
            pl.col("first_ts_ns").min(), answered=(pl.col("packets_s2c") > 0).any(),
            frames=pl.struct(pl.col("capture"), pl.col("first_frame").alias("frame")))
        .filter(~pl.col("answered")
                & ~pl.col("client_ip").is_in(asked["client_ip"].unique().implode()))
    )
    if dead.is_empty():
        return pl.DataFrame(schema=LEGS)
    waiting = asked.select(
        pl.col("txn").alias("forwarded_for"), pl.col("query_ts_ns").alias("_asked_ns"),
        (pl.col("query_ts_ns") + pl.col("latency_ns").fill_null(STEP_GAP_NS)).alias("_until_ns"))
    return (
        dead.with_columns(_at=pl.col("first_ts_ns") + FORWARD_TOLERANCE_NS).sort("_at")
        .join_asof(waiting.sort("_asked_ns"), left_on="_at", right_on="_asked_ns",
                   strategy="backward")
        .filter(pl.col("first_ts_ns") <= pl.col("_until_ns") + FORWARD_TOLERANCE_NS)
        .select("forwarded_for", pl.lit("tcp").alias("proto"), "client_ip", "client_port",
                "server_ip", "server_port", pl.lit("no SYN-ACK").alias("outcome"), "frames",
                "conn")
        .cast(LEGS)
    )


@dataclass(frozen=True)
class Upstream:
    """Where the lookups of some pod transactions died upstream of the cache, for a finding."""

    text: str  #: a clause for the explanation ("" when no upstream leg failed)
    extra: dict[str, Any]  #: the finding's extra keys
    frames: list[dict[str, int]]  #: the failed legs' frames (`EVIDENCE`)
    conns: list[int] | None  #: the failed legs' TCP connections (the finding's `conns`)


def failed_upstream(legs: pl.DataFrame, txns: pl.Series, config: Config) -> Upstream:
    """The failed upstream legs (of `upstream_legs`) of the pod transactions `txns`: the cache
    named by its node, the server it asked by its pod or Service, and how the legs ended."""
    failed = legs.filter(pl.col("forwarded_for").is_in(txns.implode())
                         & pl.col("outcome").is_not_null())
    if failed.is_empty():
        return Upstream("", {}, [], None)
    first = failed.row(0, named=True)
    server = _socket(first["server_ip"], first["server_port"])
    named = _named(first["server_ip"], config)
    node = _node(first["client_ip"], config)
    outcomes = failed.group_by("outcome").len().sort("len", "outcome", descending=[True, False])
    ended = ", ".join(f"{n} {_OUTCOMES.get(o, 'answered ' + o)}" for o, n in outcomes.iter_rows())
    cache = f"the NodeLocal DNS cache{' on ' + node if node else ''} ({first['client_ip']})"
    text = (f"; the query reached {cache}, and its upstream queries to {server}"
            f"{' (' + named + ')' if named else ''} over {first['proto'].upper()} failed "
            f"({ended}): the lookup died between the cache and kube-dns, not in the pod")
    sockets = sorted({_socket(ip, port) for ip, port in failed.select(
        "client_ip", "client_port").iter_rows()})
    return Upstream(
        text,
        {"upstream": f"{server}{' (' + named + ')' if named else ''}",
         "upstream_failed": failed.height,
         "upstream_outcomes": dict(outcomes.iter_rows()),
         "cache_node": node, "upstream_sockets": sockets},
        frames_evidence(failed, "frames"),
        sorted(failed["conn"].drop_nulls().unique().to_list()) or None)


def with_upstream(evidence: list[dict[str, int]], upstream: Upstream) -> list[dict[str, int]]:
    """A finding's `evidence` with its failed upstream legs' frames (`cited`)."""
    return cited(pl.DataFrame([*evidence, *upstream.frames], schema=EVIDENCE.to_schema()))


def _socket(ip: str, port: int) -> str:
    """`ip:port` as the contract writes it (`[v6]:port`)."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


#: how a failed leg reads in an explanation
_OUTCOMES = {"no SYN-ACK": "TCP connection(s) got no SYN-ACK",
             "no answer": "got no answer"}


def _named(ip: str, config: Config) -> str | None:
    """The kube-dns object at `ip`, as `kube_dns_names` holds it."""
    name = dict(entry.split("|", 1) for entry in config.kube_dns_names).get(ip)
    if name is None or not name.startswith("pod "):
        return name
    return f"{name}, endpoint of Service {'/'.join(KUBE_DNS)}"


def _node(ip: str, config: Config) -> str | None:
    """`node NAME` whose address or pod CIDR (`kube_node_networks`) holds `ip`."""
    addr = ipaddress.ip_address(ip)
    for entry in config.kube_node_networks:
        name, _, network = entry.partition("|")
        net = ipaddress.ip_network(network, strict=False)
        if net.version == addr.version and addr in net:
            return f"node {name}"
    return None


def relayed_out(findings: pl.DataFrame) -> pl.DataFrame:
    """`findings` without the TCP findings of connections a DNS finding cites as a NodeLocal
    DNSCache's upstream leg (its `upstream_sockets`): they are that lookup's failure."""
    cites = pl.col("extra").str.contains('"upstream_sockets"', literal=True)
    cited = findings.filter(cites)
    if cited.is_empty():
        return findings
    sockets = {s for extra in cited["extra"] for s in json.loads(extra)["upstream_sockets"]}
    socket = (pl.when(pl.col("client_ip").str.contains(":", literal=True))
              .then(pl.format("[{}]:{}", "client_ip", "client_port"))
              .otherwise(pl.format("{}:{}", "client_ip", "client_port")))
    return findings.filter(~(~cites & (pl.col("protocol") == "tcp")
                             & socket.is_in(list(sockets))))

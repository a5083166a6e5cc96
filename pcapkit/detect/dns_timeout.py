"""dns_timeout: DNS queries never answered, or answered only after being re-sent.

Definition, on the DNS transaction table (pcapkit/flows/dns.py), read in the view nearest the
client: a transaction with at least one query copy is *unanswered* when no response reached
that view and the captures go on at least `dns_timeout_min_wait_s` after the query; it is
*late* when the first response came only after a second copy (`answered_after` ≥ 2: the
resolver timed out, 5 s for glibc, and asked again). One finding per client socket (transport,
client ip:port, server ip:port) holding such transactions: `count` is their number.

The conntrack race signature: on that socket an A and an AAAA query left within
`dns_race_max_gap_ms` of each other, one was answered at once and the other was not (re-sent or
never answered). Two UDP packets of a new flow sent back to back can race to insert the same
conntrack entry in the Linux kernel; the loser is dropped (`insert_failed`), and the resolver
waits out its timeout. Such findings carry `conntrack_race: true`.

When a response was seen in some view but not in the one nearest the client (`response_seen`),
it was lost on its way back: the finding says `response_lost` and where it was last seen is in
the evidence frames.

mDNS and LLMNR transactions are left out (`resolver_transactions`): a multicast name query is
answered by whichever host holds the name, or by none.

Wireshark marks a query without response only by the absence of `dns.response_in`, and calls a
copy sent within 5 s `dns.retransmission`; Zeek logs an unanswered query as a dns.log row without
`rcode` (one per copy). Neither groups by socket nor looks for the A/AAAA race.

Tunables (pcapkit/detect/config.py): `dns_timeout_min_wait_s`, `dns_race_max_gap_ms`.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pcapkit.codes import DnsType
from pcapkit.detect.config import Config
from pcapkit.detect.findings import FINDINGS_SCHEMA, Severity, extra_json, frames_evidence
from pcapkit.flows import Tables
from pcapkit.flows.dns import resolver_transactions

KIND = "dns_timeout"
SOCKET = ["proto", "client_ip", "client_port", "server_ip", "server_port"]


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    dns = resolver_transactions(tables.dns).filter(pl.col("queries") > 0)
    if dns.is_empty():
        return pl.DataFrame(schema=FINDINGS_SCHEMA)
    captures_end = tables.spans["last_ts_ns"].max()
    wait = int(config.dns_timeout_min_wait_s * 1e9)
    dns = dns.with_columns(
        (~pl.col("answered") & (pl.col("query_ts_ns") + wait <= captures_end)).alias("unanswered"),
        (pl.col("answered") & (pl.col("answered_after") >= 2)).alias("late"),
    )
    dns = dns.with_columns(_raced(dns, config).alias("raced"))
    flagged = dns.filter(pl.col("unanswered") | pl.col("late"))
    rows = [
        _finding(socket, txns)
        for socket, txns in flagged.sort("ts_ns").group_by(SOCKET, maintain_order=True)
    ]
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _raced(dns: pl.DataFrame, config: Config) -> pl.Series:
    """Per transaction: the unlucky half of an A/AAAA pair sent together on one socket: a
    query not answered at its first try, with a query of the other type on its socket, sent
    within the race gap, that was."""
    first_try = pl.col("answered") & (pl.col("answered_after") == 1)
    gap = int(config.dns_race_max_gap_ms * 1e6)
    unlucky = [
        _sent_near(dns.filter((pl.col("qtype") == mine) & ~first_try),
                   dns.filter((pl.col("qtype") == other) & first_try), gap)
        for mine, other in ((DnsType.A, DnsType.AAAA), (DnsType.AAAA, DnsType.A))
    ]
    return dns["txn"].is_in(pl.concat(unlucky).implode())


def _sent_near(queries: pl.DataFrame, others: pl.DataFrame, gap_ns: int) -> pl.Series:
    """The `txn` of each of `queries` with one of `others` sent on its socket within `gap_ns`:
    each query meets only its nearest other, so a socket that sends thousands of queries
    costs no more than their number."""
    side = [*SOCKET, "query_ts_ns"]
    near = queries.select(*side, "txn").sort("query_ts_ns").join_asof(
        others.select(side, near_ts=pl.col("query_ts_ns")).sort("query_ts_ns"),
        on="query_ts_ns", by=SOCKET, strategy="nearest", tolerance=gap_ns,
        check_sortedness=False)  # sorted just above; polars cannot check within `by` groups
    return near.filter(pl.col("near_ts").is_not_null())["txn"]


def _finding(socket: tuple[Any, ...], txns: pl.DataFrame) -> dict[str, Any]:
    proto, client_ip, client_port, server_ip, server_port = socket
    unanswered = int(txns["unanswered"].sum())
    late = int(txns["late"].sum())
    race = bool(txns["raced"].any())
    lost = int((txns["unanswered"] & txns["response_seen"]).sum())
    names = list(dict.fromkeys(txns["qname"].drop_nulls().to_list()))
    parts = []
    if unanswered:
        parts.append(f"{unanswered} got no answer")
    if late:
        wait = max(txns.filter("late")["latency_ns"].to_list()) / 1e9
        parts.append(f"{late} were answered only after being re-sent ({wait:.1f} s)")
    text = (
        f"Of the DNS queries from {client_ip}:{client_port} to {server_ip}:{server_port} "
        f"({', '.join(names[:4])}), {' and '.join(parts)}"
    )
    if lost:
        text += f"; {lost} answer(s) were seen on the way back but never reached the client"
    if race:
        text += (
            ". A and AAAA left the socket together and only one was answered: the Linux "
            "conntrack insert race (the second packet of a new UDP flow is dropped); usual "
            "fixes are `options single-request-reopen` in the pod's dnsConfig or NodeLocal "
            "DNSCache"
        )
    return {
        "kind": KIND,
        "severity": (Severity.ERROR if unanswered else Severity.WARNING).value,
        "protocol": proto,
        "client_ip": client_ip,
        "client_port": client_port,
        "server_ip": server_ip,
        "server_port": server_port,
        "count": txns.height,
        "first_ts_ns": txns["ts_ns"].min(),
        "last_ts_ns": txns["ts_ns"].max(),
        "evidence": frames_evidence(txns, "query_frames", "response_frames"),
        "explanation": text + ".",
        "extra": extra_json(
            names=names,
            queries=int(txns["queries"].sum()),
            unanswered=unanswered,
            answered_after_resend=late,
            response_lost=lost or None,
            conntrack_race=race,
        ),
    }

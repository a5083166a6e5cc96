"""dns_timeout: DNS queries never answered, or answered only after being re-sent.

Definition, on the DNS transaction table (pcapkit/flows/dns.py), read in the view nearest the
client: a transaction with at least one query copy is *unanswered* when no response reached
that view and the captures go on at least `dns_timeout_min_wait_s` after the query; it is
*late* when the first response came only after a second copy (`answered_after` ≥ 2: the
resolver timed out, 5 s for glibc, and asked again). One finding per application lookup
(pcapkit/flows/search_path.py: the A and AAAA of every search-path step and their resends, from
whatever sockets the resolver used) holding such transactions: `count` is their number, `steps`
the names the lookup queried in order, `name` the name the application asked for, `client` the
socket of its first such transaction and `sockets` all of its sockets. A NodeLocal DNSCache's
upstream queries for a pod's query are that pod's lookup (pcapkit/detect/forwarded.py): an
upstream query that timed out, or the cache's TCP connections to kube-dns that got no SYN-ACK,
are named in the pod's finding as where the lookup died (`upstream`, `upstream_failed`,
`upstream_outcomes`, `cache_node`, `upstream_sockets`, their frames in the evidence, the
connections' ids in `conns`), not in findings of their own.

The conntrack race signature: on one socket an A and an AAAA query left within
`dns_race_max_gap_ms` of each other, one was answered at once and the other was not (re-sent or
never answered). Two UDP packets of a new flow sent back to back can race to insert the same
conntrack entry in the Linux kernel; the loser is dropped (`insert_failed`), and the resolver
waits out its timeout. Such findings carry `conntrack_race: true`.

An answer that came after the client stopped waiting, which its host refused with an ICMP port
unreachable (pcapkit/detect/late_answers.py), leaves its transaction unanswered: the client
never read it. The finding counts them (`answers_refused`) and cites the refusals.

When a response was seen in some view but not in the one nearest the client (`response_seen`),
it was lost on its way back: the finding says `response_lost` and where it was last seen is in
the evidence frames.

mDNS and LLMNR transactions are left out (`resolver_transactions`): a multicast name query is
answered by whichever host holds the name, or by none.

Wireshark marks a query without response only by the absence of `dns.response_in`, and calls a
copy sent within 5 s `dns.retransmission`; Zeek logs an unanswered query as a dns.log row without
`rcode` (one per copy). Neither groups queries into lookups nor looks for the A/AAAA race.

Tunables (pcapkit/detect/config.py): `dns_timeout_min_wait_s`, `dns_race_max_gap_ms`,
`nodelocal_dns`.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pcapkit.codes import DnsType
from pcapkit.detect.config import Config
from pcapkit.detect.findings import (
    FINDINGS_SCHEMA,
    Severity,
    empty_findings,
    extra_json,
    frames_evidence,
)
from pcapkit.detect.forwarded import (
    Upstream,
    failed_upstream,
    through_cache,
    upstream_legs,
    with_upstream,
)
from pcapkit.detect.late_answers import refused
from pcapkit.flows import Tables
from pcapkit.flows.dns import resolver_transactions
from pcapkit.flows.kept import kept

KIND = "dns_timeout"
SOCKET = ["proto", "client_ip", "client_port", "server_ip", "server_port"]
#: what the detector reads of every transaction: the wide columns (frame lists, answers) of a
#: busy resolver's hundreds of thousands would be copied by each filter; the failed ones' frames
#: are joined at the end (`FRAMES`)
COLUMNS = ["txn", "ts_ns", *SOCKET, "qname", "qtype", "query_ts_ns", "response_ts_ns",
           "latency_ns", "answered", "rcode", "response_seen", "queries", "answered_after",
           "lookup", "search_expansion_of"]
FRAMES = ["query_frames", "response_frames"]


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    dns = kept(through_cache(resolver_transactions(tables.dns.select(COLUMNS)), config),
               pl.col("queries") > 0)
    if dns.is_empty():
        return empty_findings()
    captures_end = tables.spans["last_ts_ns"].max()
    wait = int(config.dns_timeout_min_wait_s * 1e9)
    refusals = refused(dns, tables.icmp_errors)
    dns = dns.with_columns(pl.col("txn").is_in(refusals["txn"].implode()).alias("refused"))
    dns = dns.with_columns(
        ((~pl.col("answered") & (pl.col("query_ts_ns") + wait <= captures_end))
         | pl.col("refused")).alias("unanswered"),
        (pl.col("answered") & ~pl.col("refused") & (pl.col("answered_after") >= 2)).alias("late"),
    )
    failing = pl.col("unanswered") | pl.col("late")
    if not dns.select(failing.any()).item():  # most client shards of a streamed run
        return empty_findings()
    dns = dns.with_columns(_raced(dns, config).alias("raced"))
    # The lookups with a failing step, and the frames of their transactions: picked by the
    # failing lookups' numbers and transactions, not by a window over every lookup nor a join
    # with every transaction's frames (one busy client's 1.5M: +101 and +62 MB).
    failed = dns.filter(pl.col("lookup").is_in(dns.filter(failing)["lookup"].implode(),
                                               nulls_equal=True))
    frames = tables.dns.select("txn", *FRAMES).filter(pl.col("txn").is_in(failed["txn"].implode()))
    failed = failed.join(frames, on="txn", how="left", maintain_order="left").join(
        refusals, on="txn", how="left", maintain_order="left")
    legs = upstream_legs(failed, tables.connections, config)
    rows = [
        _finding(txns, failed_upstream(
            legs, txns.filter(pl.col("forwarded_for").is_null())["txn"], config))
        for _, txns in failed.sort("ts_ns").group_by("lookup", maintain_order=True)
    ]
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _raced(dns: pl.DataFrame, config: Config) -> pl.Series:
    """Per transaction: the unlucky half of an A/AAAA pair sent together on one socket: a
    query not answered at its first try, with a query of the other type on its socket, sent
    within the race gap, that was."""
    first_try = pl.col("answered") & ~pl.col("refused") & (pl.col("answered_after") == 1)
    gap = int(config.dns_race_max_gap_ms * 1e6)
    # the columns the pairing reads only: each filter copies what it keeps
    queries = dns.select("txn", *SOCKET, "query_ts_ns", "qtype", first_try=first_try)
    unlucky = []
    for mine, other in ((DnsType.A, DnsType.AAAA), (DnsType.AAAA, DnsType.A)):
        missed = queries.filter((pl.col("qtype") == mine) & ~pl.col("first_try"))
        # The answered queries of the ports of those missed only: the others are most of a
        # busy client's, and copying them held +220 MB over 1.5M (40M DNS-heavy packets).
        ports = missed["client_port"].unique().implode()
        answered = queries.filter((pl.col("qtype") == other) & pl.col("first_try")
                                  & pl.col("client_port").is_in(ports))
        unlucky.append(_sent_near(missed, answered, gap))
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


def _finding(lookup: pl.DataFrame, upstream: Upstream) -> dict[str, Any]:
    """The finding of one lookup (its transactions in time order, some of them failed)."""
    own = lookup.filter(pl.col("forwarded_for").is_null())
    asker = own if own.height else lookup
    txns = lookup.filter(pl.col("unanswered") | pl.col("late"))
    here = txns.filter(pl.col("forwarded_for").is_null())
    socket = (here if here.height else txns).row(0, named=True)
    unanswered = int(txns["unanswered"].sum())
    late = int(txns["late"].sum())
    race = bool(txns["raced"].any())
    refusals = int(txns["refused"].sum())
    lost = int((txns["unanswered"] & ~txns["refused"] & txns["response_seen"]).sum())
    steps = list(dict.fromkeys(n.lower() for n in asker["qname"].drop_nulls().to_list()))
    searched = asker["search_expansion_of"].drop_nulls()
    name = str(searched[0]) if searched.len() else (steps[0] if steps else None)
    sockets = list(dict.fromkeys(
        f"{ip}:{port}" for ip, port in asker.select("client_ip", "client_port").iter_rows()))
    parts = []
    if unanswered:
        parts.append(f"{unanswered} got no answer" + (
            f" in time ({refusals} answer(s) came after the client had stopped waiting: its "
            "host refused them, ICMP port unreachable)" if refusals else ""))
    if late:
        wait = max(txns.filter("late")["latency_ns"].to_list()) / 1e9
        parts.append(f"{late} were answered only after being re-sent ({wait:.1f} s)")
    tried = f" (steps: {', '.join(steps[:5])})" if len(steps) > 1 else ""
    text = (
        f"A lookup of {name} by {socket['client_ip']}, asking {socket['server_ip']}"
        f":{socket['server_port']}{tried} was slow: of its {lookup.height} queries, "
        f"{' and '.join(parts)}"
    )
    text += upstream.text
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
        "protocol": socket["proto"],
        "client_ip": socket["client_ip"],
        "client_port": socket["client_port"],
        "server_ip": socket["server_ip"],
        "server_port": socket["server_port"],
        "count": txns.height,
        "first_ts_ns": asker["ts_ns"].min(),
        "last_ts_ns": txns["ts_ns"].max(),
        "conns": upstream.conns,
        "evidence": with_upstream(frames_evidence(
            txns.with_columns(pl.col("refused_frames").fill_null([])),
            "query_frames", "response_frames", "refused_frames"), upstream),
        "explanation": text + ".",
        "extra": extra_json(
            name=name,
            steps=steps,
            sockets=sockets,
            queries=int(txns["queries"].sum()),
            unanswered=unanswered,
            answered_after_resend=late,
            response_lost=lost or None,
            answers_refused=refusals or None,
            conntrack_race=race,
            **upstream.extra,
        ),
    }

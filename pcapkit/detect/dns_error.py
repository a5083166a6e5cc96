"""dns_error: DNS servers answering SERVFAIL or REFUSED.

Definition: DNS transactions (pcapkit/flows/dns.py) whose first response, in any view, carries
one of the rcodes in `dns_error_rcodes` (default SERVFAIL: the server failed, typically CoreDNS
unable to reach its upstream; REFUSED: the server will not answer this client or zone). One
finding per client address, server address and rcode; `count` is the number of transactions,
`names` the names asked.

A NodeLocal DNSCache is a relay (pcapkit/detect/forwarded.py): the SERVFAIL it answers a pod
after its own upstream query failed, and that upstream query's SERVFAIL, are one lookup's
failure. The pod's transactions are counted, the cache's upstream ones are not counted as a
client of their own, and the finding names the upstream where it failed (`upstream`,
`upstream_failed`, `upstream_outcomes`, `cache_node`; the upstream legs' frames in the
evidence): an upstream that answered SERVFAIL too, or one the cache could not reach at all (its
TCP connections to kube-dns got no SYN-ACK; those connections get no finding of their own,
the finding's `conns` name them).

An answer that came after the client stopped waiting, which its host refused (ICMP port
unreachable, pcapkit/detect/late_answers.py), is not counted: the client never read it, and its
lookup is a `dns_timeout`.

Wireshark shows the rcode per response (`dns.flags.rcode`), Zeek per dns.log row
(`rcode_name`; `rejected` when the reply has a non-zero rcode and no question); this groups them
by who asked whom. NXDOMAIN is not an error here (see `nxdomain_storm`).

Tunables (pcapkit/detect/config.py): `dns_error_rcodes`, `nodelocal_dns`.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pcapkit.codes import DnsRcode
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

KIND = "dns_error"
MEANING = {
    DnsRcode.SERVFAIL: "the server failed to resolve them (for CoreDNS, usually its upstream "
    "resolver did not answer or DNSSEC validation failed)",
    DnsRcode.REFUSED: "the server refuses to answer this client or zone (an ACL, or a server "
    "that is not a recursive resolver)",
}


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    rcodes = [int(DnsRcode[name]) for name in config.dns_error_rcodes]
    if not tables.dns.select(pl.col("rcode").is_in(rcodes).any()).item():  # most client shards
        return empty_findings()
    dns = through_cache(resolver_transactions(tables.dns), config)
    errors = dns.filter(pl.col("forwarded_for").is_null() & pl.col("response_seen")
                        & pl.col("rcode").is_in(rcodes))
    # an answer the client's host refused was never read: the lookup timed out (dns_timeout)
    errors = errors.filter(~pl.col("txn").is_in(refused(errors, tables.icmp_errors)["txn"]
                                                .implode()))
    if errors.is_empty():
        return empty_findings()
    legs = upstream_legs(dns, tables.connections, config)
    rows = [
        _finding(key, txns, failed_upstream(legs, txns["txn"], config))
        for key, txns in errors.sort("ts_ns").group_by(
            ["client_ip", "server_ip", "rcode"], maintain_order=True
        )
    ]
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _finding(key: tuple[Any, ...], txns: pl.DataFrame, upstream: Upstream) -> dict[str, Any]:
    client, server, rcode = key
    code = DnsRcode(rcode)
    names = list(dict.fromkeys(txns["qname"].drop_nulls().to_list()))
    listed = ", ".join(names[:4]) + (", …" if len(names) > 4 else "")
    return {
        "kind": KIND,
        "severity": Severity.ERROR.value if code == DnsRcode.SERVFAIL else Severity.WARNING.value,
        "protocol": "dns",
        "client_ip": client,
        "client_port": None,
        "server_ip": server,
        "server_port": txns["server_port"][0],
        "count": txns.height,
        "first_ts_ns": txns["ts_ns"].min(),
        "last_ts_ns": txns["ts_ns"].max(),
        "conns": upstream.conns,
        "evidence": with_upstream(frames_evidence(txns, "query_frames", "response_frames"),
                                  upstream),
        "explanation": (
            f"{server} answered {txns.height} DNS queries from {client} with {code.name} "
            f"({listed or 'no question'})"
            + (upstream.text if upstream.text else f": {MEANING.get(code, code.name)}") + "."
        ),
        "extra": extra_json(rcode=code.name, names=names, lookups=txns["lookup"].n_unique(),
                            **upstream.extra),
    }

"""nxdomain_storm: a client receiving NXDOMAIN answers faster than a healthy resolver would.

Definition: for each client address, take the times of the NXDOMAIN responses that reached it
(`rcode` 3 in the DNS transaction table, read in the view nearest the client). A window of
`nxdomain_window_s` starting at an NXDOMAIN qualifies when it holds at least `nxdomain_min` of
them; a storm is the union of qualifying windows, those closer than a window length apart
joined. One finding per storm: `count` and
`nxdomain` are its NXDOMAIN responses, `queries` every transaction of the client from the
storm's first query to its last response, `names` the distinct names that failed.

Search-path expansion (pcapkit/flows/search_path.py) is collapsed: when NXDOMAIN names are steps
of one application lookup (`X.NS.svc.cluster.local`, `X.svc.cluster.local`, `X.cluster.local`,
node domains, then `X`), `search_expansion_of` names `X` (the name with the most NXDOMAINs when
there are several; the `MAX_NAMES` most common in `search_expansions`, how many there were in
`distinct_search_expansions`), and `wasted_queries` counts the queries
for names other than the one that finally answered (or than `X`, when nothing did): those a
trailing dot on the name, or a lower `ndots` in the pod's dnsConfig, would have saved.

A NodeLocal DNSCache's upstream queries are left out (pcapkit/detect/forwarded.py): their
NXDOMAINs are the pod's, counted at the pod. The NXDOMAINs of lookups `nxdomain_name` reports
(a cluster name no Service answers to, pcapkit/detect/cluster_names.py) are left out: that
finding says why they failed, and each answer is counted once.

Neither Wireshark nor Zeek has this: Wireshark shows rcodes per packet, Zeek logs one dns.log row
per query with its `rcode_name`; the rate, the grouping by client and the search-path collapse
are pcapkit's.

Tunables (pcapkit/detect/config.py): `nxdomain_min`, `nxdomain_window_s`, `nodelocal_dns`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl

from pcapkit.detect.cluster_names import IS_NX, any_nx, cluster_lookups, headless_lookups
from pcapkit.detect.config import Config
from pcapkit.detect.findings import (
    FINDINGS_SCHEMA,
    Severity,
    empty_findings,
    extra_json,
    frames_evidence,
)
from pcapkit.detect.forwarded import own_lookups
from pcapkit.flows import Tables

KIND = "nxdomain_storm"
#: names listed in one finding, at most (`distinct_names` says how many there were in all), and
#: names searched for (`distinct_search_expansions`)
MAX_NAMES = 20
#: what the detector reads of every transaction: each filter and sort would copy the wide
#: columns (answers, frame lists) of a busy resolver's hundreds of thousands; the frames of the
#: NXDOMAIN answers are read for the storms' evidence only (`FRAMES`)
COLUMNS = ["txn", "client_ip", "server_ip", "server_port", "qname", "qtype", "queries", "lookup",
           "query_ts_ns", "response_ts_ns", "latency_ns", "answered", "rcode",
           "search_expansion_of", "resolved_as"]
FRAMES = ["query_frames", "response_frames"]


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    if not any_nx(tables.dns):
        return empty_findings()
    named = pl.concat([cluster_lookups(tables.dns.select(COLUMNS), config)["lookup"],
                       headless_lookups(tables.dns, config)]).implode()
    dns = own_lookups(tables.dns.select(COLUMNS), config).filter(
        ~pl.col("lookup").is_in(named)).with_columns(
        pl.coalesce("query_ts_ns", "response_ts_ns").alias("asked_ns"), IS_NX.alias("nx"))
    window = int(config.nxdomain_window_s * 1e9)
    rows: list[dict[str, Any]] = []
    for client, at in _clients(dns):
        # the client's NXDOMAIN answers (their indices), in the order they came
        nx = at.filter(dns["nx"].gather(at))
        nx = nx.gather(dns["response_ts_ns"].gather(nx).to_frame().select(
            pl.arg_sort_by("response_ts_ns", maintain_order=True)).to_series())
        asked = dns["asked_ns"].gather(at)
        txns = dns.lazy().filter(pl.col("client_ip").eq_missing(pl.lit(client, pl.String)))
        for first, last in storms(dns["response_ts_ns"].gather(nx).to_list(),
                                  config.nxdomain_min, window):
            failed = _Failed(dns, nx.slice(first, last - first + 1))
            start, end = _span(failed)
            during = int(asked.is_between(start, end).sum())
            cited = frames_evidence(_frames(tables.dns, failed), *FRAMES)
            rows.append(_finding(str(client), failed, during, txns, cited))
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _clients(dns: pl.DataFrame) -> Iterator[tuple[str | None, pl.Series]]:
    """Each client's rows of `dns`, as their indices in the order they were asked: clients in
    the order they first asked. Indices, not a copy of the table sorted by client: a busy
    resolver's client is most of it (one pod's 2.5M transactions: the detector's peak +776 MB
    with the copy, +526 without)."""
    order = dns.select(pl.arg_sort_by("client_ip", "asked_ns", maintain_order=True)).to_series()
    runs = dns.group_by("client_ip").agg(pl.len(), pl.col("asked_ns").min().alias("first")).sort(
        "client_ip")
    runs = runs.with_columns(start=pl.col("len").cum_sum() - pl.col("len"))
    for client, length, start in runs.sort("first", "client_ip").select(
            "client_ip", "len", "start").iter_rows():
        yield client, order.slice(start, length)


@dataclass(frozen=True)
class _Failed:
    """A storm's NXDOMAIN transactions: the rows `at` of `dns`, each column taken as
    `_finding` reads it and let go (a busy pod's storm is most of its transactions, 1.9M of
    2.5M: the detector's peak +498-554 MB over the table with the columns it reads taken at
    once, +439-467 so)."""

    dns: pl.DataFrame
    at: pl.Series

    def __getitem__(self, name: str) -> pl.Series:
        return self.dns[name].gather(self.at)

    @property
    def height(self) -> int:
        return self.at.len()


def _frames(dns: pl.DataFrame, failed: _Failed) -> pl.DataFrame:
    """The `FRAMES` of the transactions of `failed`, by `txn`."""
    return dns.select("txn", *FRAMES).filter(pl.col("txn").is_in(failed["txn"].implode()))


def storms(times: list[int], minimum: int, window: int) -> list[tuple[int, int]]:
    """(first, last) index ranges of `times` (sorted) that form storms."""
    out: list[tuple[int, int]] = []
    j = 0
    for i, t in enumerate(times):
        while times[j] < t - window + 1:
            j += 1
        # times[j..i] lie within one window ending at t
        if i - j + 1 < minimum:
            continue
        if out and times[j] - times[out[-1][1]] < window:
            out[-1] = (out[-1][0], i)
        else:
            out.append((j, i))
    return out


def _finding(client: str, failed: _Failed, during: int, txns: pl.LazyFrame,
             cited: list[dict[str, int]]) -> dict[str, Any]:
    """The finding of a storm: its NXDOMAIN transactions (`failed`), how many of the client's
    were asked `during` it, all the client's (`txns`), and the frames it cites."""
    # the distinct names, counted by polars and listed up to `MAX_NAMES`: a busy pod's 750k
    # as a Python list were ~50 MB more at the finding's peak
    distinct = failed["qname"].drop_nulls().unique(maintain_order=True)
    names = distinct.head(MAX_NAMES).to_list()
    bases = _counted(failed["search_expansion_of"])
    searched = _most_common(bases)
    # streamed: the lower-cased names a morsel at a time, not two more columns of every row
    wasted = txns.select((
        pl.col("lookup").is_in(failed["lookup"].implode())
        & pl.col("search_expansion_of").is_not_null()
        & (pl.col("qname").str.to_lowercase() != pl.col("resolved_as").str.to_lowercase())
    ).sum()).collect(engine="streaming").item()
    base = next(iter(searched), None)
    servers = _counted(failed["server_ip"])
    server = max(servers, key=servers.__getitem__)
    start, end = _span(failed)
    return {
        "kind": KIND,
        "severity": Severity.WARNING.value,
        "protocol": "dns",
        "client_ip": client,
        "client_port": None,
        "server_ip": server,
        "server_port": failed["server_port"][0],
        "count": failed.height,
        "first_ts_ns": start,
        "last_ts_ns": end,
        "evidence": cited,
        "explanation": _explain(
            client, failed.height, (end - start) / 1e9, names, distinct.len(), base, wasted,
            during),
        "extra": extra_json(
            queries=during,
            nxdomain=failed.height,
            names=names,
            distinct_names=distinct.len(),
            search_expansion_of=base,
            search_expansions=searched or None,
            distinct_search_expansions=len(bases) or None,
            wasted_queries=wasted if base else None,
        ),
    }


def _counted(column: pl.Series) -> dict[str, int]:
    """How many times each value of `column` (nulls left out) occurs, in the order each first
    does, as a `Counter` of its values would hold them (`max` then takes, of the most common,
    the first seen, as `most_common(1)` does): counted by polars, not from a Python list of a
    storm's every row (a busy pod's: 1.9M names)."""
    counts = column.drop_nulls().to_frame("value").group_by("value", maintain_order=True).len()
    return dict(zip(counts["value"].to_list(), counts["len"].to_list(), strict=True))


def _most_common(counts: dict[str, int]) -> dict[str, int]:
    """The `MAX_NAMES` values counted most (of those tied, the first seen), most first (the
    storm's `search_expansion_of` is the first): a busy pod's storm searched for 250k names,
    and listed every one (6 MB of JSON)."""
    ranked = sorted(counts.items(), key=lambda item: -item[1])[:MAX_NAMES]
    return dict(ranked)


def _span(failed: _Failed) -> tuple[int, int]:
    """From the first NXDOMAIN query to the last NXDOMAIN response, ns."""
    return int(failed["asked_ns"].min()), int(failed["response_ts_ns"].max())  # type: ignore[arg-type]


def _explain(
    client: str, nx: int, span: float, names: list[str], distinct: int, base: str | None,
    wasted: int, queries: int,
) -> str:
    head = f"{client} got {nx} NXDOMAIN answers in {span:.1f} s"
    if base is None:
        listed = ", ".join(names[:3]) + (", …" if distinct > 3 else "")
        return f"{head}, for {distinct} names ({listed}), out of {queries} queries."
    return (
        f"{head}: {wasted} of its {queries} queries were search-path expansions, mostly of "
        f"{base} (ndots:5 makes the resolver try every search domain before the name itself); "
        f"a trailing dot ({base}.) or a lower ndots in the pod's dnsConfig avoids them."
    )

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

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.detect.cluster_names import IS_NX, any_nx, cluster_lookups, headless_lookups
from pcapkit.detect.config import Config
from pcapkit.detect.findings import (
    FINDINGS_SCHEMA,
    Severity,
    as_evidence,
    empty_findings,
    extra_json,
    first_cited,
    frames_keys,
)
from pcapkit.detect.forwarded import through_cache
from pcapkit.flows import Tables

KIND = "nxdomain_storm"
#: names listed in one finding, at most (`distinct_names` says how many there were in all), and
#: names searched for (`distinct_search_expansions`)
MAX_NAMES = 20
#: what the detector reads of every transaction (the frames of the NXDOMAIN answers for the
#: storms' evidence only); never filtered nor sorted whole, which would copy them (a busy pod's
#: 2.5M transactions: ~200 MB), but read through the indices of the rows each step needs
COLUMNS = ["txn", "client_ip", "server_ip", "server_port", "qname", "qtype", "queries", "lookup",
           "query_ts_ns", "response_ts_ns", "latency_ns", "answered", "rcode",
           "search_expansion_of", "resolved_as"]
FRAMES = ["query_frames", "response_frames"]
#: the NXDOMAIN transactions whose frames are read at once for a storm's evidence
EVIDENCE_SLICE = 1 << 18


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    if not any_nx(tables.dns):
        return empty_findings()
    named = pl.concat([cluster_lookups(tables.dns.select(COLUMNS), config)["lookup"],
                       headless_lookups(tables.dns, config)]).implode()
    # `own_lookups` and the named lookups left out as a mask (`kept`), not a filtered copy
    dns = through_cache(tables.dns.select(*COLUMNS, *FRAMES), config).with_columns(
        pl.coalesce("query_ts_ns", "response_ts_ns").alias("asked_ns"), IS_NX.alias("nx"),
        (pl.col("forwarded_for").is_null() & ~pl.col("lookup").is_in(named)).alias("kept"))
    window = int(config.nxdomain_window_s * 1e9)
    rows: list[dict[str, Any]] = []
    for client, at in _clients(dns):
        # the client's NXDOMAIN answers (their indices), in the order they came
        nx = at.filter(dns["nx"].gather(at))
        nx = nx.gather(dns["response_ts_ns"].gather(nx).to_frame().select(
            pl.arg_sort_by("response_ts_ns", maintain_order=True)).to_series())
        txns = dns.lazy().filter(pl.col("client_ip").eq_missing(pl.lit(client, pl.String))
                                 & pl.col("kept"))
        for first, last in storms(dns["response_ts_ns"].gather(nx).to_numpy(),
                                  config.nxdomain_min, window):
            rows.append(_finding(str(client), _Failed(dns, nx.slice(first, last - first + 1)),
                                 txns))
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _clients(dns: pl.DataFrame) -> Iterator[tuple[str | None, pl.Series]]:
    """Each client's `kept` rows of `dns`, as their indices in the order they were asked:
    clients in the order they first asked. Indices, not a copy of the table sorted by client: a
    busy resolver's client is most of it (one pod's 2.5M transactions: the detector's peak +776
    MB with the copy, +526 without)."""
    kept = pl.col("kept")
    # the rows left out sort last, after every client's kept rows
    order = dns.select(pl.arg_sort_by(~kept, "client_ip", "asked_ns",
                                      maintain_order=True)).to_series()
    runs = dns.group_by("client_ip").agg(
        kept.sum().alias("len"), pl.col("asked_ns").filter(kept).min().alias("first")).filter(
        pl.col("len") > 0).sort("client_ip")
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


def _evidence(failed: _Failed) -> list[dict[str, int]]:
    """The evidence of a storm: the frames of its NXDOMAIN transactions, read a slice of them at
    a time (a busy pod's storm: 1.9M transactions, 3.75M frames), each slice's first frames
    kept (`first_cited`)."""
    frames = failed.dns.select(FRAMES)
    keys = [first_cited(frames_keys(frames[failed.at.slice(start, EVIDENCE_SLICE)], *FRAMES))
            for start in range(0, failed.height, EVIDENCE_SLICE)]
    return as_evidence(first_cited(pl.concat(keys)))


def storms(times: npt.ArrayLike, minimum: int, window: int) -> list[tuple[int, int]]:
    """(first, last) index ranges of `times` (sorted) that form storms. In numpy, not a loop over
    a Python list of them (a busy pod's 1.9M NXDOMAIN answers: ~90 MB of ints)."""
    at = np.asarray(times, dtype=np.int64)
    # the window ending at each time holds at[first[i]..i]
    first = np.searchsorted(at, at - window + 1, side="left")
    ends = np.flatnonzero(np.arange(len(at)) - first + 1 >= minimum)
    if not len(ends):
        return []
    starts = first[ends]
    # a qualifying window joins the storm of the one before when it starts closer than a
    # window length after that one's end
    new = np.r_[True, at[starts[1:]] - at[ends[:-1]] >= window]
    last = np.r_[new[1:], True]
    return list(zip(starts[new].tolist(), ends[last].tolist(), strict=True))


def _finding(client: str, failed: _Failed, txns: pl.LazyFrame) -> dict[str, Any]:
    """The finding of a storm: its NXDOMAIN transactions (`failed`) among all the client's
    (`txns`)."""
    start, end = _span(failed)
    # the distinct names, counted by polars and listed up to `MAX_NAMES`: a busy pod's 750k
    # as a Python list were ~50 MB more at the finding's peak
    qnames = failed["qname"]
    # nulls left out of the firsts, not the column copied without them
    first = qnames.is_first_distinct() & qnames.is_not_null()
    names = qnames.gather(first.arg_true().head(MAX_NAMES)).to_list()
    distinct = int(first.sum())
    del qnames, first
    searched, bases = _ranked(failed["search_expansion_of"], MAX_NAMES)
    # One streamed pass over the client's transactions: the lower-cased names a morsel at a
    # time, not two more columns of every row; `during`, those asked while the storm lasted.
    wasted, during = txns.select(
        (pl.col("lookup").is_in(failed["lookup"].implode())
         & pl.col("search_expansion_of").is_not_null()
         & (pl.col("qname").str.to_lowercase() != pl.col("resolved_as").str.to_lowercase())
         ).sum(),
        pl.col("asked_ns").is_between(start, end).sum(),
    ).collect(engine="streaming").row(0)
    base = next(iter(searched), None)
    server = next(iter(_ranked(failed["server_ip"], 1)[0]))
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
        "evidence": _evidence(failed),
        "explanation": _explain(
            client, failed.height, (end - start) / 1e9, names, distinct, base, wasted,
            during),
        "extra": extra_json(
            queries=during,
            nxdomain=failed.height,
            names=names,
            distinct_names=distinct,
            search_expansion_of=base,
            search_expansions=searched or None,
            distinct_search_expansions=bases or None,
            wasted_queries=wasted if base else None,
        ),
    }


def _ranked(column: pl.Series, top: int) -> tuple[dict[str, int], int]:
    """The `top` values of `column` counted most (nulls left out), most first, of those tied
    the first seen (as `Counter.most_common` ranks them), and how many distinct values it
    holds. Counted and ranked by polars, not from a Python list or dict of a storm's every row
    (a busy pod's: 1.9M names, 250k of them distinct)."""
    # Each distinct value and its count, both in the order values first occur, the null one
    # dropped after: a `group_by` listed every group's rows (a busy pod's storm, 625k names of
    # 1.9M: +126 MB, this +43), and a column without its nulls was a copy of it.
    value = pl.col("value")
    counts = column.to_frame("value").select(
        value.unique(maintain_order=True), value.unique_counts().alias("len")).drop_nulls("value")
    ranked = counts.sort("len", descending=True, maintain_order=True).head(top)
    return (dict(zip(ranked["value"].to_list(), ranked["len"].to_list(), strict=True)),
            counts.height)


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

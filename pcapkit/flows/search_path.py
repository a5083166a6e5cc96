"""Kubernetes search-path expansion: which DNS queries are one application lookup.

A pod's resolv.conf says `search NS.svc.DOMAIN svc.DOMAIN DOMAIN <node's domains>` and
`options ndots:5`, so a name with fewer than five dots is first tried with each suffix, then as
it is: `api.example.com` becomes `api.example.com.NS.svc.cluster.local`,
`api.example.com.svc.cluster.local`, `api.example.com.cluster.local`, the node's domains, then
`api.example.com` (and with ndots exceeded, the name as it is comes first). glibc asks A and AAAA
for each step and moves on only when the step fails.

Nothing here is configured: the cluster domain is learned from the names seen (the labels after
`svc` in names like `x.NS.svc.DOMAIN`, the most common), and each client's namespace from a pair
of consecutive queries `X.NS.svc.DOMAIN`, `X.svc.DOMAIN` (the client's most common NS; failing
that, the most common NS of all clients). Then, per client in time order, a query for
`X.NS.svc.DOMAIN` starts a lookup of `X`; the following queries for `X` or `X.<anything>` are
its next steps (queries for other names in between are lookups of their own and do not end it),
until a name comes back that the lookup already asked (the next lookup of `X`) or more than
`STEP_GAP_NS` passes. Queries for `X` just before the start belong to it too (the
ndots-exceeded order), unless they ended the previous lookup.

`resolved_as` is the name that answered NOERROR first in the lookup, else the name asked for;
queries for other names are the ones a trailing dot (or a lower `ndots`) would have saved.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
import polars as pl

#: a step of an expansion follows the previous one's answer, or its timeout: glibc waits at most
#: `timeout` (5 s) × `attempts` (2) per step.
STEP_GAP_NS = 12_000_000_000

NOERROR = 0


@dataclass(frozen=True)
class SearchPath:
    """What was learned of the clients' resolv.conf."""

    domain: str | None  #: the cluster domain, e.g. `cluster.local`
    namespaces: dict[str, str] = field(default_factory=dict)  #: client ip → its namespace
    #: the most common namespace, for clients not seen in a pair
    default_namespace: str | None = None

    def first_suffix(self, client: str) -> str | None:
        """The first search domain of `client`, `NS.svc.DOMAIN`, when known."""
        ns = self.namespaces.get(client, self.default_namespace)
        return f"{ns}.svc.{self.domain}" if ns and self.domain else None


@dataclass(frozen=True)
class Hints:
    """What one client's query names say of its resolv.conf, such that the hints of every
    client, in client order, tell what `learn` learns from all their names (`settle`): the
    cluster domains the names end in, and per domain the namespaces of the pairs
    `X.NS.svc.DOMAIN`, `X.svc.DOMAIN`. Counts keep the order names first gave them, which
    settles ties as `learn` does."""

    domains: Counter[str]
    namespaces: dict[str, Counter[str]]  #: domain → namespace → pairs seen


def hints(names: list[str]) -> Hints:
    """The hints of one client's query names, in time order (repeats in a row left out)."""
    domains = Counter(
        ".".join(labels[labels.index("svc") + 1 :])
        for name in names
        if "svc" in (labels := name.split(".")) and labels[-1] != "svc"
    )
    namespaces: dict[str, Counter[str]] = {}
    for name, following in pairwise(names):
        labels = name.split(".")
        # every domain the name could be a search step of: the labels after any inner `svc`
        for k in (k for k, label in enumerate(labels) if k and label == "svc"):
            domain = ".".join(labels[k + 1 :])
            svc_suffix = f".svc.{domain}"
            head, _, ns = name.removesuffix(svc_suffix).rpartition(".")
            if head and following == head + svc_suffix:
                namespaces.setdefault(domain, Counter())[ns] += 1
    return Hints(domains, namespaces)


def learn(names_by_client: dict[str, list[str]]) -> SearchPath:
    """The cluster domain and each client's namespace, from its query names in time order."""
    return settle([(client, hints(names)) for client, names in names_by_client.items()])


def settle(hinted: list[tuple[str, Hints]]) -> SearchPath:
    """The cluster domain and each client's namespace, from the hints of each client, in
    client order: the most common domain, and each client's most common namespace in it."""
    domains: Counter[str] = Counter()
    for _, hint in hinted:
        domains.update(hint.domains)
    if not domains:
        return SearchPath(None)
    domain = domains.most_common(1)[0][0]
    namespaces: dict[str, str] = {}
    everyone: Counter[str] = Counter()
    for client, hint in hinted:
        seen = hint.namespaces.get(domain)
        if seen:
            namespaces[client] = seen.most_common(1)[0][0]
            everyone.update(seen)
    default = everyone.most_common(1)[0][0] if everyone else None
    return SearchPath(domain, namespaces, default)


def names_by_client(dns: pl.DataFrame) -> dict[str, list[str]]:
    """Each client's query names (lower case, repeats in a row left out) in time order, the
    clients in order, from `dns` (DNS transactions, in time order)."""
    ordered = _by_client(dns)
    return _names(ordered["client_ip"].to_list(), _lowered(ordered))


def _by_client(dns: pl.DataFrame) -> pl.DataFrame:
    """The three columns the walk needs, in (client, time) order, with each row's `_row`."""
    return dns.select("client_ip", "ts_ns", "qname").with_row_index("_row").sort(
        ["client_ip", "ts_ns", "_row"])


def _lowered(ordered: pl.DataFrame) -> list[str]:
    return [(n or "").lower() for n in ordered["qname"].to_list()]


def _names(clients: list[str], names: list[str]) -> dict[str, list[str]]:
    by_client: dict[str, list[str]] = {}
    for client, name in zip(clients, names, strict=True):
        steps = by_client.setdefault(client, [])
        if not steps or steps[-1] != name:
            steps.append(name)
    return by_client


def expand(dns: pl.DataFrame, path: SearchPath | None = None) -> pl.DataFrame:
    """`dns` (DNS transactions, in time order) with `lookup`, `search_expansion_of` and
    `resolved_as` added, the search path learned from `dns` unless given.

    `lookup` numbers the application lookups, client after client in client order, each
    client's in time order; `search_expansion_of` is the name the application asked for when
    the lookup went through the search path (null otherwise).
    """
    # The walk needs three columns in (client, time) order; the rows stay where they are.
    ordered = _by_client(dns)
    clients = ordered["client_ip"].to_list()
    names = _lowered(ordered)
    if path is None:
        path = learn(_names(clients, names))
    lookup, base = _walk(path, clients, names, ordered["ts_ns"].to_list())
    rows = ordered["_row"].to_numpy()
    back = np.empty_like(rows)  # the sorted position of each row
    back[rows] = np.arange(len(rows), dtype=rows.dtype)
    walked = dns.with_columns(
        pl.Series("lookup", lookup, pl.UInt32).gather(back),
        pl.Series("search_expansion_of", base, pl.String).gather(back),
    )
    # A client's rows are in time order in `dns` too (numbered by time), so `first` is its
    # first answer.
    noerror = (pl.col("answered") & (pl.col("rcode") == NOERROR)).fill_null(False)
    first_answer = pl.col("qname").filter(noerror).first().over("lookup")
    return walked.with_columns(
        pl.coalesce(first_answer, pl.col("search_expansion_of"), pl.col("qname"))
        .alias("resolved_as")
    )


def _walk(
    path: SearchPath, clients: list[str], names: list[str], times: list[int]
) -> tuple[list[int], list[str | None]]:
    """Lookup number and searched name per transaction (ordered by client, then time)."""
    lookup: list[int] = []
    base: list[str | None] = []
    count, chain, chain_base, chain_names, last_ts = 0, 0, "", set[str](), 0
    suffix: str | None = None
    for i, (client, name, ts) in enumerate(zip(clients, names, times, strict=True)):
        if not i or clients[i - 1] != client:
            suffix, chain_base = path.first_suffix(client), ""
        joins = bool(
            chain_base
            and ts - last_ts <= STEP_GAP_NS
            and (name == chain_base or name.startswith(chain_base + "."))
            and (name not in chain_names or name == names[i - 1])
        )
        if not joins and suffix and name.endswith("." + suffix):
            chain, count, joins = count, count + 1, True
            chain_base, chain_names = name.removesuffix("." + suffix), set()
            # the ndots-exceeded order asks the name as it is first: those queries join
            j = i - 1
            while (
                j >= 0 and clients[j] == client and names[j] == chain_base and base[j] is None
                and ts - times[j] <= STEP_GAP_NS
            ):
                lookup[j], base[j] = chain, chain_base
                j -= 1
        if joins:
            chain_names.add(name)
            last_ts = ts
            lookup.append(chain)
            base.append(chain_base)
        else:
            lookup.append(count)
            base.append(None)
            count += 1
    return lookup, base

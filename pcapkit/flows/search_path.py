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
that, its most common NS in names `X.NS.svc.DOMAIN` of a single-label `X`, a lookup answered at
its first step; failing that, the most common NS of all clients).

Then, per client in time order, a query for `X.NS.svc.DOMAIN` starts a lookup of `X`, and a query
for any other name `N` a lookup of `N`. The following queries are steps of that lookup when they
ask `X` or `X.<anything>` (`N` itself, for a lookup never searched), no more than `STEP_GAP_NS`
after its latest query or answer, and are not a new lookup of the same name: a name the lookup
moved past, or a (name, type) already asked under another DNS id, starts a new lookup. So the A
and AAAA of a step, their resends (glibc sends the same id again, from a new socket with
`single-request-reopen`) and the search domains tried one after the other are one lookup, and
queries for other names in between are lookups of their own and do not end it. A query for `X`
just before `X.NS.svc.DOMAIN` opens the lookup (the ndots-exceeded order).

`resolved_as` is the name that answered NOERROR first in the lookup, else the name asked for;
queries for other names are the ones a trailing dot (or a lower `ndots`) would have saved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.flows import search_walk
from pcapkit.flows.compiled import JIT_THRESHOLD_ROWS

#: a step of an expansion follows the previous one's answer, or its timeout: glibc waits at most
#: `timeout` (5 s) × `attempts` (2) per step.
STEP_GAP_NS = 12_000_000_000

NOERROR = 0
#: open lookups a client may hold before those idle for longer than a step's gap are let go
PRUNE_FROM = 4096


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
    `X.NS.svc.DOMAIN`, `X.svc.DOMAIN`, and of the names `X.NS.svc.DOMAIN` of a single-label `X`
    in no pair. Counts keep the order names first gave them, which settles ties as `learn`
    does. The streaming engine gathers these instead of every name."""

    domains: Counter[str]
    namespaces: dict[str, Counter[str]]  #: domain → namespace → pairs seen
    alone: dict[str, Counter[str]]  #: domain → namespace → single-label names in no pair


def hints(names: Sequence[str] | pl.Series) -> Hints:
    """The hints of one client's query names, in time order (repeats in a row left out).

    Each distinct name, and each distinct pair of a name and the one after it, is weighed
    once, with its count, in the order it first occurs: each count then grows, and each key
    of a `Counter` is inserted, in the order the names one by one would give. The names' labels
    are read by polars: a busy pod asks a million names once each (weighed one by one in
    Python: 2 µs each)."""
    # Each name and pair as integers (the names' dense ranks, the last name followed by ""):
    # polars' group-by of a busy pod's 2.5M names held ~5x their text at its peak
    names = pl.Series("name", names, dtype=pl.String)
    name = pl.col("name")
    ext = pl.concat([names, pl.Series("name", [""])])
    code = ext.rank("dense").cast(pl.UInt64).to_numpy()
    rows, counts = _first_seen(code[:-1])
    distinct = pl.DataFrame([names.gather(rows), pl.Series("len", counts)])
    # the labels after the first `svc` label, unless `svc` is the last
    domain = pl.when(~name.str.ends_with(".svc") & (name != "svc")).then(
        name.str.extract(r"^(?:[^.]*\.)*?svc\.(.*)$", 1))
    domains = Counter(_summed(distinct.select(domain.alias("domain"), "len"), "domain"))
    rows, counts = _first_seen(code[:-1] * np.uint64(code.max() + 1) + code[1:])
    pairs = pl.DataFrame([names.gather(rows), ext.gather(rows + 1).alias("following"),
                          pl.Series("len", counts)]).filter(
        name.str.contains(r"(^|\.)svc(\.|$)"))
    steps = pl.concat([_steps(pairs.slice(at, SLICE_ROWS))
                       for at in range(0, max(pairs.height, 1), SLICE_ROWS)])
    paired = pl.col("paired")
    return Hints(domains, _by_domain(steps.filter(paired)), _by_domain(steps.filter(~paired)))


def _first_seen(keys: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.int64],
                                                      npt.NDArray[np.int64]]:
    """Of each distinct value of `keys`, the row it first occurs at and how many times it
    does, in the order the values first occur."""
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    return first[order], counts[order]


#: distinct pairs of names whose labels `hints` splits at once: a busy pod's 1.25M pairs that
#: hold a `svc` label, split together, took ~230 MB more at the hints' peak (2.5M names)
SLICE_ROWS = 1 << 18


def _steps(pairs: pl.DataFrame) -> pl.DataFrame:
    """Of each distinct (`name`, `following`) pair, with its count (`len`), every domain the
    name could be a search step of (the labels after any inner `svc`), its namespace (the
    label before), and whether the next name is the next step (`paired`), else the name a
    single label in that namespace; the rest left out."""
    labels = pl.col("name").str.split(".")
    found = pairs.with_columns(
        labels.alias("labels"),
        labels.list.eval(pl.arg_where(pl.element() == "svc")).alias("k"),
    ).explode("k").filter(pl.col("k") >= 1)
    labels, k = pl.col("labels"), pl.col("k")
    # the name less `.svc.DOMAIN`, which a last `svc` label does not end in (the name whole)
    cut = pl.when(k == labels.list.len() - 1).then(k + 1).otherwise(k)
    steps = found.select(
        "len",
        labels.list.slice(k + 1).list.join(".").alias("domain"),
        labels.list.get(cut - 1).alias("ns"),
        labels.list.slice(0, cut - 1).list.join(".").alias("head"),
        "following",
    ).filter(pl.col("head") != "")
    paired = pl.col("following") == pl.concat_str("head", pl.lit(".svc."), "domain")
    alone = ~pl.col("head").str.contains(".", literal=True)
    return steps.filter(paired | alone).select("domain", "ns", "len", paired.alias("paired"))


def _summed(counted: pl.DataFrame, key: str) -> dict[str, int]:
    """`counted`'s `len` summed per value of `key` (nulls left out), in the order each first
    occurs."""
    sums = counted.drop_nulls(key).group_by(key, maintain_order=True).agg(pl.col("len").sum())
    return dict(zip(sums[key].to_list(), sums["len"].to_list(), strict=True))


def _by_domain(steps: pl.DataFrame) -> dict[str, Counter[str]]:
    """Per domain, the counts of each namespace of `steps`, in the order each first occurs."""
    found: dict[str, Counter[str]] = {}
    for domain, ns, count in steps.group_by("domain", "ns", maintain_order=True).agg(
            pl.col("len").sum()).iter_rows():
        found.setdefault(domain, Counter())[ns] = count
    return found


def learn(names_by_client: Mapping[str, Sequence[str] | pl.Series]) -> SearchPath:
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
        alone = hint.alone.get(domain)
        if seen:
            namespaces[client] = seen.most_common(1)[0][0]
            everyone.update(seen)
        elif alone:
            # every lookup answered at its first step: a short name asked in the client's own
            # namespace, `X.NS.svc.DOMAIN`, is the only trace of it
            namespaces[client] = alone.most_common(1)[0][0]
    default = everyone.most_common(1)[0][0] if everyone else None
    return SearchPath(domain, namespaces, default)


def names_by_client(dns: pl.DataFrame) -> dict[str, pl.Series]:
    """Each client's query names (lower case, repeats in a row left out) in time order, the
    clients in order, from `dns` (DNS transactions, in time order)."""
    ordered = dns.select("client_ip", "ts_ns", "qname").with_row_index("_row").sort(
        ["client_ip", "ts_ns", "_row"])
    return _names(ordered)


def _names(ordered: pl.DataFrame) -> dict[str, pl.Series]:
    """`names_by_client` of rows in (client, time) order."""
    name = pl.col("qname").fill_null("").str.to_lowercase()
    client = pl.col("client_ip")
    named = ordered.select(client, name)
    again = (client == client.shift(1)) & (pl.col("qname") == pl.col("qname").shift(1))
    steps = named.filter(~again.fill_null(False))
    return {str(key): rows.to_series(1) for (key,), rows in steps.partition_by(
        "client_ip", as_dict=True, maintain_order=True).items()}


#: the columns of DNS transactions that `lookups` reads
WALKED = ["client_ip", "qname", "qtype", "dns_id", "ts_ns", "query_ts_ns", "response_ts_ns",
          "answered", "rcode"]


def lookups(dns: pl.DataFrame, path: SearchPath | None = None) -> pl.DataFrame:
    """`lookup`, `search_expansion_of` and `resolved_as` of each row of `dns` (DNS
    transactions, in time order, of which it reads `WALKED`), the search path learned from
    `dns` unless given.

    `lookup` numbers the application lookups, client after client in client order, each
    client's in time order; `search_expansion_of` is the name the application asked for when
    the lookup went through the search path (null otherwise); `resolved_as` the name it
    resolved as (its first answered step's, else the name searched for, else its own).
    """
    # The walk reads a few columns in (client, time) order; the rows stay where they are, and
    # it is given their order rather than a sorted copy (a busy pod's 2.5M: 180 MB).
    asked = dns.select(
        "client_ip", "qname", "qtype", "dns_id", "ts_ns",
        pl.max_horizontal("query_ts_ns", "response_ts_ns").alias("end_ns"),
    )
    order = asked.select(pl.arg_sort_by("client_ip", "ts_ns", maintain_order=True)).to_series()
    if path is None:
        path = learn(_names(asked[order]))
    lookup, searched = walk(path, asked, order)
    del asked
    rows = order.to_numpy()
    back = np.empty_like(rows)  # the sorted position of each row
    back[rows] = np.arange(len(rows), dtype=rows.dtype)
    walked = dns.select("qname", "answered", "rcode").with_columns(
        pl.Series("lookup", lookup, pl.UInt32).gather(back),
        searched.alias("search_expansion_of").gather(lookup).gather(back),
    )
    # A client's rows are in time order in `dns` too (numbered by time), so `first` is its
    # first answer.
    noerror = (pl.col("answered") & (pl.col("rcode") == NOERROR)).fill_null(False)
    first_answer = pl.col("qname").filter(noerror).first().over("lookup")
    return walked.select(
        "lookup", "search_expansion_of",
        pl.coalesce(first_answer, pl.col("search_expansion_of"), pl.col("qname"))
        .alias("resolved_as"),
    )


@dataclass(slots=True)
class _Lookup:
    """A lookup still open while the walk goes through one client's transactions."""

    number: int
    base: str  #: the name the application asked for, once searched; else the name queried
    searched: bool = False  #: a step carried the client's first search domain
    names: list[str] = field(default_factory=list)  #: the names asked, in order
    asked: set[tuple[str, int]] = field(default_factory=set)  #: (name, type) asked
    buffers: set[tuple[int, str, int]] = field(default_factory=set)  #: (id, name, type) sent
    last_ns: int = 0  #: its latest query or answer

    def takes(self, name: str, qtype: int, dns_id: int, ts: int) -> bool:
        """Whether a query is a step (or a resend) of this lookup rather than a new lookup."""
        if ts - self.last_ns > STEP_GAP_NS:
            return False
        if name in self.names and name != self.names[-1]:
            return False  # a step the lookup moved past: asked again, it is a new lookup
        # glibc sends the same buffer again (same id, maybe from a new socket) when one of an
        # A/AAAA pair timed out; a new id for a (name, type) already asked is a new lookup
        return (dns_id, name, qtype) in self.buffers or (name, qtype) not in self.asked

    def add(self, name: str, qtype: int, dns_id: int, end: int) -> None:
        if not self.names or self.names[-1] != name:
            self.names.append(name)
        self.asked.add((name, qtype))
        self.buffers.add((dns_id, name, qtype))
        self.last_ns = max(self.last_ns, end)


def walk(path: SearchPath, rows: pl.DataFrame, order: pl.Series, compiled: bool | None = None
         ) -> tuple[np.ndarray, pl.Series]:
    """Lookup number per transaction of `rows` (client_ip, qname, qtype, dns_id, ts_ns, end_ns)
    taken in `order` (the indices of the rows by client, then time), and per lookup the name
    searched for (null: not searched). Compiled (`pcapkit.flows.search_walk`) when `compiled`,
    or when None and the rows are `JIT_THRESHOLD_ROWS` or more; else as Python (`_walk`), the
    two held identical."""
    if compiled if compiled is not None else rows.height >= JIT_THRESHOLD_ROWS:
        dotted = {client: f".{suffix}" for client in rows["client_ip"].unique().drop_nulls()
                  if (suffix := path.first_suffix(client))}
        return search_walk.walk(rows, order, pl.col("client_ip").replace_strict(
            dotted, default=None, return_dtype=pl.String), STEP_GAP_NS)
    numbers, searched = _walk(path, rows[order])
    return numbers, pl.Series(searched, dtype=pl.String)


def _walk(path: SearchPath, rows: pl.DataFrame) -> tuple[np.ndarray, list[str | None]]:
    """`walk` as Python, a lookup an object with its sets of names and ids."""
    # Per row its lookup's number, per lookup what the rows need of it: a lookup's sets are
    # dropped as soon as it can take no more steps (a busy resolver asks millions of names).
    numbers = np.empty(rows.height, np.uint32)
    bases: list[str] = []  # per lookup
    searched_ones = bytearray()  # per lookup: 1 once a step carried the first search domain
    latest: dict[str, _Lookup] = {}  # the client's latest lookup of each base
    dotted: str | None = None  # ".NS.svc.DOMAIN": the client's first search domain
    previous: str | None = None
    pruned_ns = 0
    for row, (client, qname, qtype, dns_id, ts, end) in enumerate(rows.iter_rows()):
        if client != previous:
            suffix = path.first_suffix(client)
            dotted, latest, previous = (f".{suffix}" if suffix else None), {}, client
        elif ts - pruned_ns > STEP_GAP_NS and len(latest) > PRUNE_FROM:
            # rows are in time order: a lookup idle for longer than a step's gap takes no more
            latest = {b: lk for b, lk in latest.items() if ts - lk.last_ns <= STEP_GAP_NS}
            pruned_ns = ts
        name = (qname or "").lower()
        searched = dotted is not None and name.endswith(dotted)
        base = name.removesuffix(dotted) if searched and dotted else name
        lookup = _step_of(latest, base, name, qtype, dns_id, ts)
        if lookup is None:
            lookup = latest[base] = _Lookup(len(bases), base)
            bases.append(base)
            searched_ones.append(0)
        if searched:
            lookup.searched = True
            searched_ones[lookup.number] = 1
        lookup.add(name, qtype, dns_id, max(ts, end or ts))
        numbers[row] = lookup.number
    return numbers, [b if s else None for b, s in zip(bases, searched_ones, strict=True)]


def _step_of(latest: dict[str, _Lookup], base: str, name: str, qtype: int, dns_id: int,
             ts: int) -> _Lookup | None:
    """The open lookup a query for `name` (`base` once its first search domain is taken off)
    is a step of, if any, of those it may be a step of, in order: the lookup of `base` itself,
    then, longest first, searched lookups of a name that `name` extends (`X` for
    `X.svc.DOMAIN`, `X.DOMAIN`, `X.<node domain>`): the first that `takes` it."""
    own = latest.get(base)
    if own is not None and own.takes(name, qtype, dns_id, ts):
        return own
    cut = len(name)
    while (cut := name.rfind(".", 0, cut)) >= 0:  # each shorter name, longest first
        lookup = latest.get(name[:cut])
        if lookup is not None and lookup.searched and lookup is not own and lookup.takes(
                name, qtype, dns_id, ts):
            return lookup
    return None

"""Where along its path a conversation went, and where it stopped.

**The path.** The places (`pcapkit/kube/places.py`) that saw a connection, each with the packets
of each direction it saw there, in path order from the client outwards. The order comes from
what each place is and where: on the client's node its pod's `eth0`, its veth, the bridge, the
overlay device, the underlay NIC; then the same in reverse on the endpoint's node (the node of the
address DNAT chose, or that the client dialled); on one node, pod, veth, bridge, veth, pod. A
client outside the cluster that dialled a node's NodePort starts at that node, whose places are
ordered by their first packet (in by the underlay NIC, out by the overlay device and, encapsulated,
the same NIC), then the endpoint's node as above. The capture of a host outside the cluster
(`external`) comes first when that host is the client, last when it is the server. A place
nothing locates (an underlay capture that could be either node's, an `interface` of unknown role)
sits between the two nodes' places, or after its node's bridge; places at one position are
ordered by their first packet, on the first capture's clock (`pcapkit/flows/clocks.py`).

**Where it died.** A conversation failed when a SYN went unanswered, its SYN-ACKs never reached
the client (a `retransmission` with `handshake_failed`: some capture saw them), an ICMP error
answered it, or a DNS query timed out. The failing direction is the one that never arrived: the
answer (SYN-ACK, DNS response) when some place saw one, else the request. It died after the last
place that saw that direction and before the next place that should have seen it: the next place
a capture covers (a node's `-i any` covers its veths, bridge, overlay device and underlay NIC; a
pod's capture, its `eth0`; an underlay capture, its NIC). The node is named when everything
between those two places is on one node; when the two are on different nodes it was lost on the
underlay between them, unless a node in between has no capture, or no capture covers anything
past the last place: then nothing places it, and the explanation and `capture_to_take` say which
capture would (the uncovered node's `-i any`, filtered to the conversation; lost between two
nodes, a capture on the network between them). A failing direction seen all the way along (an
ICMP error about some packets of a connection whose others got through) has no `died_at`; nor
has a refused connection (`rst`): its answer came back.

**Through a NodeLocal DNSCache.** A lookup whose cache could not get an answer upstream
(`dns_timeout`, `dns_error` citing `upstream_sockets`, `pcapkit/detect/forwarded.py`) died
upstream of the cache, so its path is the cache's upstream leg (`leg: upstream`), from the
cache's node to kube-dns: its connections (or queries) that nothing answered when some were,
to the endpoint most of them were DNATed to, taken together as one conversation, which fails as
an unanswered SYN (over TCP) or a DNS timeout (over UDP) does.

**Never DNATed.** A conversation to a Service (its ClusterIP, a NodePort, a LoadBalancer IP) that
no place saw DNATed stopped on the node whose kube-proxy should have chosen an endpoint: the
NodePort's node (`externalTrafficPolicy: Local` without a local endpoint drops it there), else
the client's (without the Service's rules it routes the ClusterIP on, `kube_proxy_missing`).
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import polars as pl

from pcapkit.flows import Tables
from pcapkit.kube.dnat import front_doors
from pcapkit.kube.names import address_names, node_of_address
from pcapkit.kube.places import PLACES, Site, places, site_nodes
from pcapkit.kube.snapshot import Snapshot

#: positions on the client's node, from the pod outwards; the endpoint's node mirrors them
CLIENT_SIDE = {"pod": 0.0, "veth": 1.0, "bridge": 2.0, "interface": 2.5, "any": 2.5,
               "overlay": 3.0, "underlay": 4.0}
#: where the places of the node a client outside the cluster dialled (a NodePort) lie: all at
#: one position, so ordered by their first packet, since the request crosses one NIC twice
#: (in plain, out encapsulated to the endpoint's node) with the overlay device in between
ENTRY = 0.5
LAST = 9.0  #: the endpoint pod
#: a host outside the cluster's own capture: before everything as the client, after everything
#: as the server (what the client dialled, through its node's masquerade)
OUTSIDE = {"client": -1.0, "server": LAST + 1}
BETWEEN = 4.5  #: between the two nodes: a place that could be either's
#: places that are no one interface of known role
VAGUE = {"interface", "any", None}
KIND_TEXT = {"pod": "eth0", "veth": "veth", "bridge": "bridge", "interface": "interface",
             "external": "NIC",
             "any": "interfaces (cooked v1 -i any)",
             "overlay": "overlay device", "underlay": "underlay NIC"}
#: symptoms of a conversation that failed, and what its two directions carry
FAILED = {"unanswered_syn": ("SYN", "SYN-ACK"), "icmp_unreachable": ("packet", "answer"),
          "dns_timeout": ("query", "response"), "external_traffic_local": ("SYN", "SYN-ACK"),
          "kube_proxy_missing": ("SYN", "SYN-ACK"),
          # only a handshake whose SYN-ACKs never reached the client (`handshake_failed`)
          "retransmission": ("SYN", "SYN-ACK")}


@dataclass(frozen=True)
class Ends:
    """Who talks to whom: the client and the endpoint, their nodes and whether they are pods."""

    client_ip: str
    dialled_ip: str  #: the server address as the client sent to it (a ClusterIP before DNAT)
    endpoint_ip: str
    client_node: str | None
    endpoint_node: str | None
    client_pod: bool
    endpoint_pod: bool
    #: the node whose own address a client outside the cluster dialled (a NodePort), else None
    entry_node: str | None = None
    #: the Service the client dialled (its ClusterIP, a NodePort, a LoadBalancer IP), and its
    #: externalTrafficPolicy
    service: str | None = None
    policy: str | None = None

    def undnated(self) -> bool:
        """The client dialled a Service and no place saw the conversation DNATed."""
        return self.service is not None and self.endpoint_ip == self.dialled_ip

    def dnat_node(self) -> str | None:
        """The node whose kube-proxy should have DNATed it: the one whose NodePort a client
        outside the cluster dialled, else the client's own."""
        return self.entry_node or self.client_node

    def expected(self) -> list[tuple[float, str | None, str]]:
        """(position, node, kind) of every place the conversation should cross, client first."""
        near = [(CLIENT_SIDE[k], self.client_node, k) for k in
                (["pod", "veth", "bridge"] if self.client_pod else []) + ["overlay", "underlay"]]
        if self.client_node is None and self.entry_node is not None:
            near = [(ENTRY, self.entry_node, "underlay")]
            if self.endpoint_node is None:
                return near
            return near + self._far(skip=self.entry_node == self.endpoint_node)
        far = self._far(skip=False)
        if self.client_node is not None and self.client_node == self.endpoint_node:
            return [p for p in near + far if p[2] in ("pod", "veth", "bridge")
                    and (p[2] != "bridge" or p[0] < BETWEEN)]
        if self.endpoint_node is None and self.client_node is not None:
            return near
        if self.client_node is None and self.endpoint_node is not None:
            return far
        return near + far

    def _far(self, skip: bool) -> list[tuple[float, str | None, str]]:
        """The endpoint node's places, from the underlay in (`skip`: from its bridge)."""
        kinds = ([] if skip else ["underlay", "overlay"]) + (
            ["bridge", "veth", "pod"] if self.endpoint_pod else [])
        return [(LAST - CLIENT_SIDE[k], self.endpoint_node, k) for k in kinds]

    def position(self, kind: str, node: str | None, pod_ip: str | None) -> float:
        """Where a place of `kind` on `node` (of the pod, or host outside the cluster, at
        `pod_ip`) lies on this path."""
        if kind == "external":
            return OUTSIDE["client" if pod_ip == self.client_ip else "server"]
        if kind in ("pod", "veth") and pod_ip is not None:
            if pod_ip == self.client_ip:
                return CLIENT_SIDE[kind]
            if pod_ip == self.endpoint_ip:
                return LAST - CLIENT_SIDE[kind]
        if node is not None and node == self.client_node:
            return CLIENT_SIDE[kind]
        if node is not None and node == self.entry_node and (
                node != self.endpoint_node or kind not in ("bridge", "veth", "pod")):
            return ENTRY
        if node is not None and node == self.endpoint_node:
            return LAST - CLIENT_SIDE[kind]
        return BETWEEN


def locate(findings: pl.DataFrame, tables: Tables, sites: list[Site],
           snap: Snapshot | None) -> pl.DataFrame:
    """The findings with the path of their conversation, and where it died (`with_paths` over
    the `places` of the tables' views)."""
    return with_paths(findings, tables, places(tables.views, tables.sources, sites, snap), sites,
                      snap)


#: findings located at once: their conversations' rows are picked from the table, and read into
#: Python, once for the batch (4,143 symptoms of 5M DNS-heavy packets: 0.80 s -> 0.70 s against
#: a slice of a frame per finding); a batch's conversations only, as a row is ~0.8 KB as a dict,
#: and every finding's would hold ~300 MB as frames (60k findings of 40M DNS-heavy packets,
#: their tuples in 2.3M rows as ports were reused)
PATH_BATCH = 4096

#: a conversation's rows per view, as dicts, by its `conv`
Grouped = dict[int, list[dict[str, Any]]]
#: a server's address and port
Server = tuple[str, int]


class Sighting(NamedTuple):
    """A conversation's row in one view, as far as its ends are told from it (`_Namer.ends`)."""

    first_ts_ns: int
    view: int
    client_ip: str
    server_ip: str
    server_port: int
    packets_s2c: int


#: each conversation's sightings, in `TIME_ORDER`, by its `conv`
Sightings = dict[int, list[Sighting]]


def _sightings(frame: pl.DataFrame) -> Sightings:
    """The sightings (`frame`'s rows: `conv` and `Sighting`'s fields), in `frame`'s order, by
    conv. Made from its columns as lists, as tuples: `iter_rows` took ~5 us a row (20M
    DNS-heavy packets, 41k symptoms: 2.2 s of the 8.2 this stage took), dicts ~2.7."""
    out: Sightings = {}
    columns = (frame.get_column(c).to_list() for c in Sighting._fields)
    for conv, row in zip(frame["conv"].to_list(), map(Sighting._make, zip(*columns, strict=True)),
                         strict=True):
        out.setdefault(conv, []).append(row)
    return out


def _servers(servers: pl.DataFrame) -> dict[tuple[int, int], list[Server]]:
    """The (server address, port) pairs each view of each conversation saw (`servers`' rows:
    `conv`, `view` and the pair), each once, in order."""
    return {key: [(ip, port) for _, _, ip, port in rows] for key, rows in itertools.groupby(
        servers.unique().sort(pl.all()).iter_rows(), key=operator.itemgetter(0, 1))}


def _views(per_view: pl.DataFrame, servers: dict[tuple[int, int], list[Server]],
           place_of: dict[int, dict[str, Any]]) -> Grouped:
    """The rows of `per_view` by conv, each with where its view is (its PLACES row; its columns
    null for a view with none) and the `servers` it saw."""
    names = per_view.columns
    out: Grouped = {}
    for values in zip(*(per_view.get_column(c).to_list() for c in names), strict=True):
        r = dict(zip(names, values, strict=True))
        view, conv = r["view"], r["conv"]
        out.setdefault(conv, []).append({**place_of.get(view, NO_PLACE), **r,
                                         "servers": servers.get((conv, view), [])})
    return out


#: the PLACES row of a view with none
NO_PLACE = dict.fromkeys(PLACES)


def with_paths(findings: pl.DataFrame, tables: Tables, places: pl.DataFrame, sites: list[Site],
               snap: Snapshot | None) -> pl.DataFrame:
    """`findings` whose TCP and UDP symptoms carry `path` (and `died_at` when the conversation
    failed) in `extra`, with a sentence on where it died added to the explanation."""
    if findings.is_empty():
        return findings
    every = conversations(tables.connections, tables.dns_views)
    table = _Conversations(every, _hashed(every, KEYS), _hashed(every, SOCKET))
    namer = _Namer(snap, sites, places)
    place_of = {r["view"]: r for r in places.rows(named=True)}
    # Each batch's texts made a column at once: held as Python strings until the end, every
    # finding's `extra` stayed in the C heap after they went (60k findings of 40M DNS-heavy
    # packets: 55 MB of text), beside the evidence frames read next, the run's peak.
    extras: list[pl.Series] = []
    notes: list[pl.Series] = []
    for batch in findings.iter_slices(PATH_BATCH):
        located = _batch_paths(batch, table, namer, place_of)
        extras.append(pl.Series([text for text, _ in located], dtype=pl.String))
        notes.append(pl.Series([note for _, note in located], dtype=pl.String))
    return findings.with_columns(
        extra=pl.concat(extras),
        explanation=pl.concat_str("explanation", pl.concat(notes), separator=" ",
                                  ignore_nulls=True))


@dataclass(frozen=True)
class _Conversations:
    """Every conversation's rows (`conversations`), with a hash of each row's `KEYS` and of its
    client `SOCKET` (`_hashed`): each batch of findings picks its rows by them."""

    rows: pl.DataFrame
    keys: pl.Series
    sockets: pl.Series


def _batch_paths(findings: pl.DataFrame, table: _Conversations, namer: _Namer,
                 place_of: dict[int, dict[str, Any]]) -> list[tuple[str | None, str | None]]:
    """`extra` and the sentence on where it died (`_located`) of each of `findings`."""
    upstream = _upstream_sockets(findings)
    # the conversations with a view that has a finding's 4-tuple, or the client socket of one
    # of its NodeLocal DNSCache upstream legs
    tuples = _rows_with(table.rows, table.keys, findings, KEYS)
    sockets = _rows_with(table.rows, table.sockets, upstream, SOCKET)
    ids = pl.concat([tuples["conv"], sockets["conv"]]).unique().implode()
    spans_of = table.rows.select("conv", "first_ts_ns", "last_ts_ns").filter(
        pl.col("conv").is_in(ids)).group_by("conv").agg(
        pl.col("first_ts_ns").min(), pl.col("last_ts_ns").max())
    chosen = _chosen(findings, KEYS, tuples, spans_of).to_list()
    # each finding's upstream legs: the conversation each socket it cites is about
    legs = upstream.with_columns(conv=_chosen(upstream, SOCKET, sockets, spans_of)
                                 ).drop_nulls("conv")
    legs_of = {i: set(c) for i, c in legs.group_by("_finding").agg(pl.col("conv").unique()).rows()}
    spans = {k: (int(a), int(b)) for k, a, b in
             spans_of.join(legs.select("conv").unique(), on="conv", how="semi").rows()}
    # The rows of the conversations some finding is about, or follows a leg of: a finding's
    # 4-tuple is many conversations' when ports were reused (20M DNS-heavy packets: 850k rows
    # of 41k findings' tuples, 165k of the conversations chosen).
    convs = table.rows.filter(pl.col("conv").is_in(
        pl.concat([pl.Series(chosen, dtype=pl.Int64), legs["conv"]]).drop_nulls().implode()))
    # what `_Namer.ends` and `_legs` read of a conversation's rows
    rows_of = _sightings(convs.sort("conv", *TIME_ORDER, maintain_order=True))
    # A conversation's counts per view; where each view is, and the servers each saw, are
    # added as its rows are read (`_views`): gathered and joined here for every row, as lists
    # of structs and of names, they took 1.0 s and ~1 s of reading into Python of the 6.2 s
    # this stage took over 20M DNS-heavy packets (41k symptoms).
    by_view = _views(convs.group_by("conv", "view").agg(
        pl.col("packets_c2s", "packets_s2c").sum(), pl.col("first_ts_ns").min()),
        _servers(convs.select("conv", "view", "server_ip", "server_port")), place_of)
    return [_located(f, orjson.loads(f["extra"] or "{}"),
                     _legs(legs_of.get(i, set()), spans, rows_of, namer), conv, rows_of, by_view,
                     namer)
            for i, (f, conv) in enumerate(zip(findings.select(FINDING_COLUMNS).iter_rows(
                named=True), chosen, strict=True))]


TUPLE = ["client_ip", "client_port", "server_ip", "server_port"]
#: what a finding is matched to its conversations by
KEYS = ["protocol", *TUPLE]
#: a client's socket: what an upstream leg is matched to its conversations by
SOCKET = TUPLE[:2]
#: what a finding's path is made from: the rest of a findings row is not read
FINDING_COLUMNS = ["kind", "protocol", *TUPLE, "first_ts_ns", "last_ts_ns", "extra"]
#: the order of a conversation's rows that `_Namer.ends` reads them in
TIME_ORDER = ["first_ts_ns", "view"]
#: DNS conversations are numbered after the TCP connections
DNS_FROM = 1 << 32


#: how a NodeLocal DNSCache's upstream leg fails, by its protocol: as a connection's SYNs, as
#: DNS queries (`pcapkit/detect/forwarded.py`)
LEG_FAILED = {"tcp": "unanswered_syn", "udp": "dns_timeout"}


def _rows_with(convs: pl.DataFrame, hashed: pl.Series, wanted: pl.DataFrame, keys: list[str]
               ) -> pl.DataFrame:
    """The distinct `conv` and `keys` of the rows of `convs` whose `keys` are those of some row
    of `wanted`. The rows are picked by the hash of their keys (`hashed`, `_hashed`), and only
    those picked are joined on the keys themselves: a join of every row on its keys (two of
    them strings) held +300 MB over the 2.78M conversation rows of 40M DNS-heavy packets."""
    wanted = wanted.select(pl.col(k).cast(convs.schema[k]) for k in keys).unique()
    picked = convs.select("conv", *keys).filter(hashed.is_in(_hashed(wanted, keys).implode()))
    return picked.join(wanted, on=keys, how="semi").unique()


def _hashed(frame: pl.DataFrame, keys: list[str]) -> pl.Series:
    """A hash of each row's `keys`: each column's hashed on its own and xor-ed into the others'
    (a hash of a struct of them held +350 MB over 2.78M rows)."""
    hashed = frame.get_column(keys[0]).hash(0)
    for seed, key in enumerate(keys[1:], 1):
        hashed = hashed ^ frame.get_column(key).hash(seed)
    return hashed


def _upstream_sockets(findings: pl.DataFrame) -> pl.DataFrame:
    """The client sockets (`client_ip`, `client_port`) of the upstream legs DNS findings cite,
    each with its finding's row (`_finding`) and times."""
    cited = findings.with_row_index("_finding").filter(
        pl.col("extra").str.contains('"upstream_sockets"', literal=True))
    sockets = [(i, *_address(s), first, last) for i, extra, first, last
               in cited.select("_finding", "extra", "first_ts_ns", "last_ts_ns").iter_rows()
               for s in orjson.loads(extra)["upstream_sockets"]]
    return pl.DataFrame(sockets, schema={"_finding": pl.UInt32, "client_ip": pl.String,
                                         "client_port": pl.UInt16, "first_ts_ns": pl.Int64,
                                         "last_ts_ns": pl.Int64}, orient="row")


def _address(socket: str) -> tuple[str, int]:
    """(ip, port) of an `ip:port` (`[v6]:port`)."""
    ip, _, port = socket.rpartition(":")
    return ip.strip("[]"), int(port)


def _legs(candidates: set[int], spans: dict[int, tuple[int, int]], rows_of: Sightings,
          namer: _Namer) -> list[int]:
    """The conversations of a finding's failed NodeLocal DNSCache upstream legs to follow, of
    those of its `upstream_sockets` (`candidates`), earliest first: those nothing ever answered
    when some were (lost on the way there), to the endpoint most of them went to (DNAT may have
    spread them over several CoreDNS pods, whose paths differ); none when it cites no leg."""
    silent = [c for c in candidates if not sum(r.packets_s2c for r in rows_of[c])]
    legs = sorted(silent or candidates, key=lambda c: (spans[c][0], c))
    to = [namer.ends(rows_of[c]).endpoint_ip for c in legs]
    most = Counter(to).most_common(1)  # ties: the earliest leg's endpoint, counted first
    return [c for c, e in zip(legs, to, strict=True) if e == most[0][0]]


def _located(f: dict[str, Any], extra: dict[str, Any], legs: list[int], conv: int | None,
             rows_of: Sightings, by_view: Grouped, namer: _Namer
             ) -> tuple[str | None, str | None]:
    """A finding's `extra` with its `path` (and `died_at`), and the sentence on where it died:
    along its upstream `legs` when it has some, else along its conversation `conv` (None: as
    it was, with no sentence)."""
    if legs:  # a lookup through a NodeLocal DNSCache: where its upstream leg went
        rows = sorted((r for c in legs for r in rows_of[c]),
                      key=lambda r: (r.first_ts_ns, r.view))
        views = _merged([r for c in legs for r in by_view[c]])
        kind = LEG_FAILED["udp" if legs[0] >= DNS_FROM else "tcp"]
    elif conv is None:
        return f["extra"], None
    else:
        rows, views, kind = rows_of[conv], by_view[conv], f["kind"]
    ends = namer.ends(rows)
    path = sorted(({**r, "position": ends.position(r["kind"] or "interface", r["node"],
                                                    r["pod_ip"])} for r in views),
                  key=lambda r: (r["position"], r["first_ts_ns"], r["view"]))
    extra["path"] = [{**namer.entry(r), **({"leg": "upstream"} if legs else {})} for r in path]
    note = None
    if legs or (kind in FAILED and (kind != "retransmission" or extra.get("handshake_failed"))):
        died = _died_at(path, ends, namer, kind, "cache's upstream " if legs else "")
        if died is not None:
            extra["died_at"], verdict = died
            if legs:
                extra["died_at"]["leg"] = "upstream"
            route = _route(path, died[0]["direction"], namer)
            note = f"{_dnat(path, ends)}{verdict} Seen at: {route}."
    # orjson's compact text, not `json`'s: ~25 us a finding less, a path of ~20 places
    return orjson.dumps(extra, option=orjson.OPT_SORT_KEYS).decode(), note


def _merged(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows per view of several conversations (`by_view`'s) as one conversation's, in the
    order of each view's first row."""
    merged: dict[int, dict[str, Any]] = {}
    for r in views:
        m = merged.get(r["view"])
        if m is None:
            merged[r["view"]] = dict(r)  # its servers already each once, in order
            continue
        m["packets_c2s"] += r["packets_c2s"]
        m["packets_s2c"] += r["packets_s2c"]
        m["first_ts_ns"] = min(m["first_ts_ns"], r["first_ts_ns"])
        m["servers"] = sorted({*m["servers"], *r["servers"]})
    return list(merged.values())


def conversations(connections: pl.DataFrame, dns_views: pl.DataFrame) -> pl.DataFrame:
    """Per-view rows of every conversation: TCP connections (by `conn`) and DNS over UDP (by the
    client's socket, which DNAT leaves alone), numbered `conv`."""
    columns = ["view", "capture", *TUPLE, "packets_c2s", "packets_s2c", "first_ts_ns",
               "last_ts_ns"]
    tcp = connections.select(pl.col("conn").cast(pl.Int64).alias("conv"),
                             pl.lit("tcp").alias("protocol"), *columns)
    udp = dns_views.filter(pl.col("proto") == "udp")
    socket = pl.struct("client_ip", "client_port").rank("dense").cast(pl.Int64)
    dns = udp.select((socket + DNS_FROM).alias("conv"), pl.lit("udp").alias("protocol"),
                     *columns)
    return pl.concat([tcp, dns.cast(tcp.schema)])


def _dnat(path: list[dict[str, Any]], ends: Ends) -> str:
    """Where DNAT happened: the first place, from the client, that saw the endpoint's address
    after one that saw the address the client dialled."""
    dialled = False
    for r in path:
        ips = r["servers"]  # in order: the lowest port first, should it have seen several
        chosen = [port for ip, port in ips if ip == ends.endpoint_ip]
        if chosen and dialled and ends.endpoint_ip != ends.dialled_ip:
            where = f" on node {r['node']}" if r["node"] else ""
            ip = f"[{ends.endpoint_ip}]" if ":" in ends.endpoint_ip else ends.endpoint_ip
            return f"It was DNATed to {ip}:{chosen[0]}{where}. "
        dialled = dialled or any(ip == ends.dialled_ip for ip, _ in ips)
    return ""


def _route(path: list[dict[str, Any]], direction: str, namer: _Namer) -> str:
    """The places that saw the failing direction, short, in path order."""
    seen = [r for r in path if r[f"packets_{direction}"]]
    steps: list[str] = []
    for r in seen:
        kind = r["kind"] or "interface"
        step = ("pod eth0" if kind == "pod" else f"external host {r['pod_ip']}"
                if kind == "external" else f"{namer.where(r, prefix='')} {KIND_TEXT[kind]}")
        if not steps or steps[-1] != step:
            steps.append(step)
    return " → ".join(steps)


def _chosen(rows: pl.DataFrame, keys: list[str], convs: pl.DataFrame, spans: pl.DataFrame
            ) -> pl.Series:
    """The conversation each of `rows` (with `keys`, `first_ts_ns` and `last_ts_ns`) is about,
    null for none: of the conversations some view of which has its `keys`, the earliest whose
    time span (`spans`) meets the row's, else the earliest. Taken for all rows at once, not each
    in Python over a set of every conversation of its keys."""
    candidates = convs.select("conv", *keys).unique().join(spans, on="conv").rename(
        {"first_ts_ns": "start", "last_ts_ns": "end"})
    wanted = rows.select(*keys, "first_ts_ns", "last_ts_ns").with_row_index("_row")
    pairs = wanted.filter(pl.col("first_ts_ns").is_not_null()).join(
        candidates, on=keys, nulls_equal=True)
    meets = (pl.col("start") <= pl.col("last_ts_ns")) & (pl.col("end") >= pl.col("first_ts_ns"))
    best = (pairs.with_columns(meets=meets.fill_null(False))
            .filter(pl.col("meets") | ~pl.col("meets").any().over("_row"))
            .sort("_row", "start", "conv")
            .group_by("_row", maintain_order=True).first())
    return wanted.select("_row").join(best.select("_row", "conv"), on="_row", how="left",
                                      maintain_order="left")["conv"]


def _died_at(path: list[dict[str, Any]], ends: Ends, namer: _Namer, kind: str,
             whose: str = "") -> tuple[dict[str, Any], str] | None:
    """`died_at` and the sentence that says it, or None when the failing direction arrived.
    `whose`: what the sentence says of the packets (a NodeLocal DNSCache's upstream ones)."""
    # An ICMP error answers the packet it quotes, the client's; a missing answer failed on its
    # way back when some place saw one.
    answered = kind != "icmp_unreachable" and any(r["packets_s2c"] for r in path)
    direction = "s2c" if answered else "c2s"
    forward = direction == "c2s"
    sign = 1 if forward else -1
    count = f"packets_{direction}"
    seen = [r for r in path if r[count]]
    if not seen:
        return None
    # A place whose role is unknown, or that is several (a cooked v1 view), says where the
    # packet was only when no place that is one interface of the cluster saw it (a capture
    # outside the cluster only shows where the conversation began or was headed).
    exact = [r for r in seen if r["kind"] not in VAGUE]
    seen = exact if any(r["kind"] != "external" for r in exact) else seen
    what = whose + FAILED[kind][0 if forward else 1]
    expected = ends.expected()
    covered = namer.covered(ends, expected)
    last = max(seen, key=lambda r: (sign * r["position"], sign * r["first_ts_ns"]))
    ahead = sorted((p for p in expected if sign * p[0] > sign * last["position"]),
                   key=lambda p: sign * p[0])
    if not ahead and forward and ends.undnated():
        return _undnated(seen, what, ends, namer)
    # A veth delivers straight into its pod: reaching the endpoint's veth, with no capture in
    # the pod, is arriving.
    if not ahead or (len(ahead) == 1 and ahead[0][2] == "pod" and ahead[0][0] not in covered):
        along = path if forward else path[::-1]
        exact = [r for r in along if r["kind"] not in VAGUE]
        along = exact if any(r[count] for r in exact) else along
        return (_thinned(along, count, kind, what, direction, namer)
                or _unseen_loss(along, count, kind, what, direction, ends, covered, namer))
    nxt = next((p for p in ahead if p[0] in covered), None)
    target = nxt or ahead[0]
    span = [p for p in ahead if sign * p[0] <= sign * target[0]]
    nodes = {last["node"], *(p[1] for p in span)}
    gaps = list(dict.fromkeys(p[1] for p in span if p[0] not in covered and p[1]))
    # With no capture further on, nothing shows the packet did not get past the next place.
    node = last["node"] if len(nodes) == 1 and nxt is not None else None
    before = namer.expected_label(target, ends)
    # The node the packet was last seen on: `last` may be a place either node could be.
    near = next((r["node"] for r in sorted(seen, key=lambda r: -sign * r["position"])
                 if r["node"]), None)
    takes = ([namer.capture_between(near, target[1])] if not gaps and nxt is not None
             else [namer.capture_on(n, ends) for n in gaps])
    return _verdict(what, direction, namer.label(last), before, node,
                    between_nodes=not gaps and nxt is not None, takes=takes)


def _thinned(path: list[dict[str, Any]], count: str, kind: str, what: str, direction: str,
             namer: _Namer) -> tuple[dict[str, Any], str] | None:
    """For a symptom that says some packets were lost (a DNS response never received, an ICMP
    error) while others got through: the first place, along the failing direction, where
    fewer of its packets were seen than at the place before."""
    if FAILED[kind][0] == "SYN":
        return None
    for here, there in itertools.pairwise(path):
        if there[count] < here[count] and there["position"] != here["position"]:
            node = here["node"] if here["node"] == there["node"] else None
            what = f"{what}s ({here[count] - there[count]} of {here[count]})"
            between = node is None and bool(here["node"] and there["node"])
            takes = [namer.capture_between(here["node"], there["node"])] if between else []
            return _verdict(what, direction, namer.label(here), namer.label(there), node,
                            between_nodes=between, takes=takes)
    return None


def _undnated(seen: list[dict[str, Any]], what: str, ends: Ends,
              namer: _Namer) -> tuple[dict[str, Any], str] | None:
    """A conversation to a Service that no place saw DNATed: it stopped on the node whose
    kube-proxy should have chosen an endpoint, after the last place there that saw its requests;
    when no capture shows that node, the capture that would. A place no node is known for is
    left out: still addressed to the Service, the requests could reach no other node's pods.
    `None` when a place on another node saw them."""
    node = ends.dnat_node()
    if node is None or any(r["node"] not in (None, node) for r in seen):
        return None
    mine = [r for r in seen if r["node"] == node]
    if not mine:  # no capture shows that node: say which would
        last = max(seen, key=lambda r: (r["position"], r["first_ts_ns"]))
        first = next((p for p in ends.expected() if p[1] == node and p[2] != "pod"), None)
        before = namer.expected_label(first, ends) if first else f"node {node}"
        return _verdict(what, "c2s", namer.label(last), before, None, between_nodes=False,
                        takes=[namer.capture_on(node, ends)])
    last = max(mine, key=lambda r: (r["position"], r["first_ts_ns"]))
    after = namer.label(last)
    local = ends.entry_node == node and ends.policy == "Local"
    before = (f"an endpoint of Service {ends.service} on node {node} (externalTrafficPolicy "
              "Local)" if local else
              f"an endpoint of Service {ends.service} (DNAT on node {node})")
    text = (f"The {what} last seen at {after} was never DNATed to an endpoint of Service "
            f"{ends.service}: ")
    if last["kind"] in ("overlay", "underlay") and node != ends.entry_node:
        text += (f"node {node} routed it on still addressed to the Service; kube-proxy there "
                 "has no rule for it.")
    elif local:
        text += (f"dropped on node {node}, whose kube-proxy keeps externalTrafficPolicy Local "
                 "traffic for endpoints of its own.")
    else:
        text += f"dropped on node {node} before its kube-proxy rules chose one."
    return {"node": node, "direction": "c2s", "after": after, "before": before}, text


def _unseen_loss(along: list[dict[str, Any]], count: str, kind: str, what: str,
                 direction: str, ends: Ends, covered: dict[float, int],
                 namer: _Namer) -> tuple[dict[str, Any], str] | None:
    """A DNS server answers every query it gets: when the first place that saw responses saw
    fewer than the queries some place saw, the others were lost before it, where no capture
    looked."""
    if kind != "dns_timeout" or direction != "s2c":
        return None
    first = next(r for r in along if r[count])
    asked = max(r["packets_c2s"] for r in along)
    if first[count] >= asked:
        return None
    behind = [p for p in ends.expected()[::-1] if p[0] > first["position"]]
    if not behind:
        return None
    gaps = list(dict.fromkeys(p[1] for p in behind if p[0] not in covered and p[1]))
    nodes = {p[1] for p in behind} | {first["node"]}
    node = first["node"] if len(nodes) == 1 and not gaps else None
    what = f"{what}s ({asked - first[count]} of {asked})"
    origin = namer.expected_label(behind[0], ends)
    return _verdict(what, direction, origin, namer.label(first), node, between_nodes=False,
                    takes=[namer.capture_on(n, ends) for n in gaps], seen=False)


def _routed(after: str, before: str) -> str:
    """What lies between a bridge and an overlay device (either way): the node routes the packet,
    through its FORWARD chain, where NetworkPolicies and kube-proxy's rejects live."""
    kinds = {k for k in ("bridge", "overlay device") if k in after or k in before}
    if len(kinds) == 2:
        return (" (the node routes it there: its FORWARD chain, where NetworkPolicies and "
                "firewall rules drop, or its routes and neighbours)")
    return ""


def _verdict(what: str, direction: str, after: str, before: str, node: str | None, *,
             between_nodes: bool, takes: list[dict[str, Any]],
             seen: bool = True) -> tuple[dict[str, Any], str]:
    """`died_at` and its sentence. `takes`: the captures that would settle where, nearest the
    last place that saw it first; the first is `died_at.capture_to_take`."""
    text = f"The {what} {'last seen at' if seen else 'sent from'} {after} never reached {before}"
    if node is not None:
        text += f": dropped on node {node} between the two{_routed(after, before)}."
    elif between_nodes:
        text += (": lost on the network between the two nodes; a capture there would tell where "
                 f"({_commands(takes)}).")
    elif takes:
        text += f"; a capture would tell where ({_commands(takes)})."
    else:
        text += "; nothing the captures show places it."
    died: dict[str, Any] = {"node": node, "direction": direction, "after": after,
                            "before": before}
    if node is None and takes:
        died["capture_to_take"] = takes[0]
    return died, text


def _commands(takes: list[dict[str, Any]]) -> str:
    return "; ".join(f"{t['where']}: `{t['command']}`" for t in takes)


class _Namer:
    """Labels for places, and what the captures cover."""

    def __init__(self, snap: Snapshot | None, sites: list[Site], places: pl.DataFrame) -> None:
        self.snap = snap
        self.sites = sites
        self.places = places.sort("view").rows(named=True)
        self._labels: dict[int, str] = {}
        names = address_names(snap) if snap is not None else None
        self.names: dict[str, str] = (
            dict(zip(names["ip"].to_list(), names["name"].to_list(), strict=True))
            if names is not None else {})
        self.pods: set[str] = set() if snap is None else set(
            snap.pods.filter(~pl.col("host_network"))["ip"].drop_nulls().to_list())
        self.services: set[str] = set() if snap is None else set(
            snap.services["cluster_ip"].drop_nulls().to_list())
        #: node address:nodePort and LoadBalancer IP:port → the node dialled (None for a
        #: LoadBalancer IP)
        doors = front_doors(snap) if snap is not None else None
        self.doors: dict[tuple[str, int], str | None] = {} if doors is None else {
            (ip, port): node for ip, port, node in doors.filter(
                ~pl.col("service_ip").is_in(list(self.services)))
            .select("service_ip", "service_port", "node").iter_rows()}
        #: every address:port a Service is reached at → (the Service, its
        #: externalTrafficPolicy)
        self.front: dict[tuple[str, int], tuple[str, str | None]] = {} if doors is None else {
            (ip, port): (service, policy) for ip, port, service, policy in doors.select(
                "service_ip", "service_port", "service", "external_traffic_policy").iter_rows()}

    def node(self, ip: str) -> str | None:
        return node_of_address(self.snap, ip) if self.snap is not None else None

    def ends(self, rows: list[Sighting]) -> Ends:
        """`rows`: one conversation's, in `TIME_ORDER`."""
        client = str(rows[0].client_ip)
        sides = [(r.server_ip, r.server_port) for r in rows]
        doors = [d for d in sides if d in self.doors]
        servers = [s for s, p in sides if s not in self.services and (s, p) not in self.doors]
        endpoint = servers[0] if servers else str(rows[0].server_ip)
        known = endpoint not in self.services and not (doors and endpoint == doors[0][0])
        dialled = [(s, p) for s, p in sides if s in self.services or (s, p) in self.doors]
        client_node = self.node(client)
        service, policy = self.front.get(dialled[0], (None, None)) if dialled else (None, None)
        return Ends(client, dialled[0][0] if dialled else endpoint, endpoint, client_node,
                    self.node(endpoint) if known else None,
                    client in self.pods, endpoint in self.pods,
                    self.doors[doors[0]] if doors and client_node is None else None,
                    service, policy)

    def covered(self, ends: Ends,
                expected: list[tuple[float, str | None, str]]) -> dict[float, int]:
        """Expected positions some capture covers, each with the capture that covers it."""
        out: dict[float, int] = {}
        for i, site in enumerate(self.sites):
            nodes = site_nodes(site, self.snap)
            for position, node, kind in expected:
                if kind == "pod":
                    pod = self.names.get(ends.client_ip if position < BETWEEN else ends.endpoint_ip)
                    hit = site.vantage_kind == "pod" and pod is not None and site.vantage == pod
                elif site.vantage_kind == "node-any":
                    hit = node is not None and nodes == [node]
                else:
                    hit = (site.vantage_kind == "node-underlay" and kind == "underlay"
                           and node is not None and nodes == [node])
                if hit:
                    out.setdefault(position, i)
        return out

    def label(self, r: dict[str, Any]) -> str:
        """The label of the place `r` (a PLACES row, or a row with its columns): made once per
        view, every place of every path being one of a few views (20M DNS-heavy packets:
        166k labels of 12 views, 0.75 s)."""
        text = self._labels.get(r["view"])
        if text is None:
            text = self._labels[r["view"]] = self._label(r)
        return text

    def _label(self, r: dict[str, Any]) -> str:
        kind = r["kind"] or "interface"
        site = self.sites[r["capture"]]
        if kind == "pod":
            return f"{site.vantage} eth0"
        if kind == "external":
            return f"external host {r['pod_ip']}"
        where = self.where(r)
        what = KIND_TEXT[kind]
        if kind == "veth" and r["pod_ip"]:
            what += f" of {self.names.get(r['pod_ip'], r['pod_ip'])}"
        which = r["interface"] or (f"ifindex {r['ifindex']}" if r["ifindex"] is not None
                                   else None)
        return f"{where} {what} ({which})" if which else f"{where} {what}"

    def where(self, r: dict[str, Any], prefix: str = "node ") -> str:
        """The node a place is on (`prefix` before each name); with no snapshot to name it, the
        capture's vantage (its address, else its file)."""
        nodes = [r["node"]] if r["node"] else r["nodes"] or []
        site = self.sites[r["capture"]]
        return " or ".join(prefix + n for n in nodes) or site.vantage or site.path

    def expected_label(self, place: tuple[float, str | None, str], ends: Ends) -> str:
        position, node, kind = place
        ip = ends.client_ip if position < BETWEEN else ends.endpoint_ip
        if kind == "pod":
            return f"{self.names.get(ip, ip)} eth0"
        # The view a capture has of that place, when one has (it saw other packets there).
        view = next((r for r in self.places if r["node"] == node and r["kind"] == kind
                     and (kind != "veth" or r["pod_ip"] == ip)), None)
        if node is not None and view is not None:
            return self.label(view)
        name = self.names.get(ip, ip)
        what = KIND_TEXT[kind] + (f" of {name}" if kind == "veth" else "")
        if node:
            return f"node {node} {what}"
        # No node known (no snapshot names them): which node it is cannot be told, not even
        # whether it is the one last seen on; only which way the packet was going.
        end = "client" if position < BETWEEN else "server"
        return f"the {what}" if kind == "veth" else f"the next {what} on the way to the {end}"

    def capture_on(self, node: str, ends: Ends) -> dict[str, Any]:
        """The capture that shows where a conversation went on `node`: all its interfaces
        (veths, bridge, overlay device, underlay NIC), filtered to the conversation's two
        addresses as that node's pods and bridge see them: the client's alone when no capture
        showed which endpoint DNAT chose, the endpoint's alone for a client outside the cluster
        masqueraded on its way from the node it dialled."""
        masqueraded = ends.entry_node is not None and node != ends.entry_node
        if ends.undnated():  # the endpoint unknown: the client, before DNAT and after
            hosts = f"host {ends.client_ip}"
        elif masqueraded:
            hosts = f"host {ends.endpoint_ip}"
        else:
            hosts = f"host {ends.client_ip} and host {ends.endpoint_ip}"
        return {"node": node, "where": f"on node {node}",
                "command": f"tcpdump -i any -w {node}-any.pcap '{hosts}'"}

    def capture_between(self, near: str | None, far: str | None) -> dict[str, Any]:
        """The capture that shows where the network between two nodes lost a packet: on a
        router or a switch port mirroring theirs, the encapsulated packets between the two
        nodes' addresses (UDP: VXLAN, Geneve, flannel's UDP backend)."""
        ips = [self.node_ip(n) for n in (near, far)]
        hosts = " and ".join(["udp", *(f"host {ip}" for ip in ips if ip)])
        where = " and ".join(f"node {n}" for n in (near, far) if n)
        return {"node": None, "where": f"on the network between {where} (a router, or a switch "
                                       "port mirroring either)",
                "command": f"tcpdump -i <interface> -w underlay.pcap '{hosts}'"}

    def node_ip(self, node: str | None) -> str | None:
        if self.snap is None or node is None:
            return None
        ips = self.snap.nodes.filter(pl.col("name") == node)["ip"].drop_nulls()
        return str(ips[0]) if ips.len() else None

    def entry(self, r: dict[str, Any]) -> dict[str, Any]:
        site = self.sites[r["capture"]]
        entry = {
            "capture": site.path, "interface": r["interface"], "vantage": site.vantage,
            "c2s": r["packets_c2s"], "s2c": r["packets_s2c"], "first_ts": r["first_ts_ns"] / 1e9,
            "place": r["kind"], "node": r["node"], "label": self.label(r),
        }
        if r["ifindex"] is not None:
            entry["ifindex"] = r["ifindex"]
        return entry

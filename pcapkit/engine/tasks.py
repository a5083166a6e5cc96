"""What a worker does: the functions the engine maps over chunks and shards.

Each takes one picklable job and returns small results (counts, per-connection rows, findings);
packet rows travel between steps through the spill directory only. Top-level functions, so
that a process pool or a Dask cluster can run them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.decode import Engine, decode
from pcapkit.decode.reassembly import PIECES, Reassembly, pieces
from pcapkit.decode.schema import DNS_MESSAGES, PACKET_SCHEMA, empty_packets
from pcapkit.detect import PER_CLIENT, PER_CONNECTION, run_detectors
from pcapkit.detect.config import Config
from pcapkit.detect.digest import digest
from pcapkit.engine import chunks, shards, spill
from pcapkit.engine.chunks import Chunk
from pcapkit.engine.copies import Copies
from pcapkit.engine.stored import Starts, spill_marks
from pcapkit.flows import Tables, view_connections
from pcapkit.flows.clocks import links, merge_sightings, sightings, with_clock
from pcapkit.flows.dns import (
    NO_MESSAGES,
    client_flows,
    client_transactions,
    in_time_order,
    with_lookups,
)
from pcapkit.flows.icmp import SOCKET, last_before, socket_counts
from pcapkit.flows.kept import taken
from pcapkit.flows.probes import probe_rows
from pcapkit.flows.schema import CONNECTIONS, PACKET_EXTRA
from pcapkit.flows.search_path import WALKED, Hints, SearchPath, hints, lookups, names_by_client
from pcapkit.flows.sliced import Sliced
from pcapkit.flows.tally import tally
from pcapkit.flows.tcp import tcp_segments
from pcapkit.flows.views import first_copies, source_counts, view_counts, with_views
from pcapkit.kube.vantage import address_kinds
from pcapkit.read.pcap import Span
from pcapkit.read.ranges import Ends
from pcapkit.read.records import Capture, Records
from pcapkit.report.summary import PacketCounts
from pcapkit.wireshark.evidence import positions

TUPLE = ["src", "sport", "ip_proto", "dst", "dport"]


def _schema(columns: list[str]) -> pl.Schema:
    return pl.Schema({c: PACKET_SCHEMA[c] for c in columns})


#: a shard's TCP rows as its flows job reads them: the addresses as categories, 4 bytes a row
#: where the text took 16 or more (one connection of 10M packets: its batch 215 MB smaller)
TCP_SCHEMA = pl.Schema({**_schema(shards.TCP_COLUMNS), "src": pl.Categorical(),
                        "dst": pl.Categorical()})
ICMP_SCHEMA = _schema(shards.ICMP_COLUMNS)
TXN_SCHEMA = client_transactions(NO_MESSAGES).schema
#: what a flows job spills of a transaction: the key that paired its messages (`qkey`, the
#: lower-cased name, and `txn_in_key`) has done its work once they are in time order (a busy
#: pod's 2.5M transactions: 127 MB less read and sorted)
KEPT_SCHEMA = pl.Schema({c: t for c, t in TXN_SCHEMA.items() if c not in ("qkey", "txn_in_key")})
#: what the search-path walk reads of them (`pcapkit.flows.search_path.lookups`), and the rest
WALKED_SCHEMA = pl.Schema({c: KEPT_SCHEMA[c] for c in WALKED})
UNWALKED_SCHEMA = pl.Schema({c: t for c, t in KEPT_SCHEMA.items() if c not in WALKED})
#: what the search-path hints read of them
NAME_SCHEMA = pl.Schema({c: KEPT_SCHEMA[c] for c in ("client_ip", "ts_ns", "qname")})


def warm_up() -> None:
    """Load what decoding needs (numba and the compiled kernel), ahead of the first chunk."""
    from pcapkit.decode.compiled import link

    link()


# --- decoding a chunk ------------------------------------------------------------------------

@dataclass(frozen=True)
class DecodeJob:
    chunk: Chunk
    spill: str
    shards: int
    engine: Engine
    tuples: bool  #: gather the TCP/UDP 5-tuples (for DNAT legs, with a snapshot)
    clocks: bool  #: gather the clocks' sightings (several captures to put on one clock)
    #: records decoded at once, about (up to twice as many): a range of small packets holds
    #: many more records than the packets its size was planned by
    batch: int
    #: spill the decoded packets too, for a store (`pcapkit.engine.stored`)
    packets: bool = False


@dataclass(frozen=True)
class Failed:
    """Records a worker could not decode, numbered as it numbers them (a range's from 1)."""

    first: int
    last: int
    reason: str

    def warning(self, before: int) -> str:
        """The warning, the records numbered on from frame `before`."""
        return (f"frames {self.first + before}-{self.last + before} could not be decoded "
                f"({self.reason}); left out")


@dataclass(frozen=True)
class ChunkFacts:
    """What a batch of a chunk's records adds to the whole besides its spilled rows."""

    capture: int
    views: pl.DataFrame  #: `view_counts`
    sources: pl.DataFrame  #: `source_counts`
    counts: PacketCounts
    kinds: pl.DataFrame  #: `pcapkit.kube.vantage.address_kinds`
    sockets: pl.DataFrame  #: `socket_counts`
    tuples: pl.DataFrame | None  #: distinct TCP/UDP 5-tuples
    sightings: pl.DataFrame  #: `pcapkit.flows.clocks.sightings`
    failed: Failed | None = None  #: records that could not be decoded, if any


@dataclass(frozen=True)
class Walk:
    """A chunk's records as its worker saw them: frames (and so spans) numbered from 1 in a
    range, the capture's own numbers otherwise."""

    records: int
    first_ts_ns: int | None
    last_ts_ns: int | None
    spans: list[Span]  #: `chunks.spans_of` its records
    #: a range's walk (its records stay here: 31 bytes a packet, all of them held by the
    #: engine until the end had they gone with it)
    ends: Ends | None


@dataclass(frozen=True)
class Decoded:
    """What decoding a chunk gives back."""

    capture: int
    name: str  #: `chunks.name`: its spilled parts' names begin with it
    bytes: int  #: the chunk's bytes, for progress
    walk: Walk | None  #: None: a range whose bytes could not be read (`error` says why)
    facts: list[ChunkFacts]  #: a batch's each
    error: str | None = None


def decode_chunk(job: DecodeJob) -> Decoded:
    chunk = job.chunk
    name = chunks.name(chunk)
    try:
        capture, walked = chunks.load(chunk)
    except Exception as e:  # a chunk that cannot be read is reported, not fatal
        reason = f"{type(e).__name__}: {e}"
        if chunk.walk is not None:  # its records are not known: the engine says where it was
            return Decoded(chunk.capture, name, chunk.bytes, None, [], reason)
        frames = chunk.records.frame
        failed = Failed(int(frames[0]), int(frames[-1]), reason) if len(frames) else None
        return Decoded(chunk.capture, name, chunk.bytes, _walk(chunk.records, chunk.start, None),
                       [_facts(job, empty_packets(), failed)])
    records = capture.records
    # Batches of `batch` records to twice that: cut at `batch`, a range of a few records more
    # than planned was decoded as two batches, each paying a batch's fixed cost (392 ranges of
    # ~1k records: 3 s more)
    batches = max(1, len(records) // max(job.batch, 1))
    cuts = [len(records) * i // batches for i in range(batches + 1)]
    sharded = _Sharded()
    facts = [_decode_batch(job, dataclasses.replace(capture, records=records.take(slice(
        first, last))), f"{name}.{sub:05d}", sharded)
        for sub, (first, last) in enumerate(pairwise(cuts)) if last > first]
    sharded.write(job, f"{name}.00000")
    return Decoded(chunk.capture, name, chunk.bytes,
                   _walk(records, chunk.start, None if walked is None else walked.ends), facts)


@dataclass
class _Sharded:
    """A chunk's TCP and DNS rows, batch after batch, spilled to their shards once, as the
    chunk's one part of each shard. Each part is a file a flows job reads at ~0.3 ms whatever
    its size, and a capture is cut into more chunks, and more shards, as it grows: written a
    batch at a time, 40M DNS-heavy packets were 12,800 parts of each family (160 chunks, 80
    shards), ~15 s of the flows stage's CPU."""

    tcp: list[pl.DataFrame] = dataclasses.field(default_factory=list)
    dns: list[pl.DataFrame] = dataclasses.field(default_factory=list)

    def add(self, packets: pl.DataFrame) -> None:
        self.tcp.append(shards.tcp_rows(packets))
        self.dns.append(shards.dns_rows(packets))

    def write(self, job: DecodeJob, name: str) -> None:
        for family, held, shard in (("tcp", self.tcp, shards.tcp_shard(job.shards)),
                                    ("dns", self.dns, shards.dns_shard(job.shards))):
            if held:
                rows = pl.concat(held, rechunk=False)
                held.clear()
                spill.write_parts(job.spill, family, name, rows, shard, job.shards)


def _walk(records: Records, start: int, ends: Ends | None) -> Walk:
    ts = records.ts_ns
    return Walk(len(records), int(ts.min()) if len(ts) else None,
                int(ts.max()) if len(ts) else None, chunks.spans_of(records, start), ends)


def _decode_batch(job: DecodeJob, capture: Capture, name: str, sharded: _Sharded
                  ) -> ChunkFacts:
    """Decodes the records of `capture` and spills their rows, as parts named `name`; those
    spilled by shard are added to its chunk's (`sharded`)."""
    try:
        packets = decode(capture, job.chunk.capture, engine=job.engine)
        found = pieces(capture, packets)
    except Exception as e:  # a batch that sinks the decoder is reported, not fatal
        frames = capture.records.frame
        return _facts(job, empty_packets(), Failed(int(frames[0]), int(frames[-1]),
                                                   f"{type(e).__name__}: {e}"))
    sharded.add(packets)
    if job.packets:
        spill.write_parts(job.spill, "packets", name, packets, pl.lit(0), 1)
    # reassembled in packet order across chunks (`reassemble`), once every chunk is decoded
    spill.write_parts(job.spill, "pieces", name, found, pl.lit(0), 1)
    spill.write_parts(job.spill, "icmp", name, shards.icmp_rows(packets), pl.lit(0), 1)
    spill.write_parts(job.spill, "probe", name, probe_rows(packets), pl.lit(0), 1)
    return _facts(job, packets, None)


def _facts(job: DecodeJob, packets: pl.DataFrame, failed: Failed | None) -> ChunkFacts:
    kinds = tally(packets)
    tuples = None
    if job.tuples:
        tuples = kinds.filter(pl.col("ip_proto").is_in([6, 17])).select(TUPLE).unique(
            maintain_order=True)
    return ChunkFacts(
        capture=job.chunk.capture,
        views=view_counts(kinds), sources=source_counts(kinds), counts=PacketCounts.of(kinds),
        kinds=address_kinds(kinds), sockets=socket_counts(kinds), tuples=tuples,
        sightings=sightings(packets) if job.clocks else merge_sightings([]),
        failed=failed,
    )


# --- the DNS messages that link captures the sampled sightings left apart --------------------

@dataclass(frozen=True)
class LinksJob:
    spill: str
    shard: int
    groups: list[int]  #: `Clocks.groups` of the sampled sightings


def shard_links(job: LinksJob) -> pl.DataFrame:
    """`pcapkit.flows.clocks.links` of a shard's DNS messages."""
    return links(spill.read(job.spill, "dns", job.shard, DNS_MESSAGES), job.groups)


# --- DNS messages over TCP and in IP fragments --------------------------------------------------

def reassemble(root: str, count: int) -> None:
    """Reads every chunk's pieces (`pcapkit.decode.reassembly`) in packet order, each capture's
    fragments and TCP streams carried from chunk to chunk, and spills the DNS messages they
    complete with the chunks' own DNS rows, after them all (as `message_rows` orders them)."""
    reassembly = Reassembly()
    capture = None
    for name, part in spill.parts(root, "pieces", 0, PIECES):
        if part["capture"][0] != capture:
            capture, reassembly = part["capture"][0], Reassembly()
        spill.write_parts(root, "dns", f"reassembled-{name}", reassembly.messages(part),
                          shards.dns_shard(count), count)


# --- per-view TCP connections and DNS transactions of a shard --------------------------------

@dataclass(frozen=True)
class FlowsJob:
    spill: str
    shard: int
    views: pl.DataFrame
    errors: pl.DataFrame  #: the ICMP errors (for the last packet of each quoted socket)
    shift: list[int]  #: per capture, onto the first capture's clock (`Clocks.shift`)
    shards: int  #: how many shards the DNS transactions are spilled to, by client address
    caches: tuple[str, ...]  #: NodeLocal DNSCache addresses (`Config.nodelocal_dns`)


@dataclass(frozen=True)
class ShardFlows:
    last: pl.DataFrame  #: `last_before` rows, `conn` being the shard's `lconn`
    #: of each `client_transactions` row, in the order spilled to `txns`: what numbers them
    order: pl.DataFrame  #: `ts_ns`, `client_ip`, `client_port`
    dns_views: pl.DataFrame  #: `pcapkit.flows.dns.view_rows`
    #: some client of the shard asked a NodeLocal DNSCache (`pcapkit.detect.forwarded`)
    asks_cache: bool


def shard_flows(job: FlowsJob) -> ShardFlows:
    # The TCP part's tables are let go before the DNS part runs (each a function of its own):
    # a shard's are its worker's largest.
    last = _shard_connections(job)
    transactions, dns_views = _shard_transactions(job)
    asks_cache = not transactions.filter(pl.col("server_ip").is_in(list(job.caches))).is_empty()
    return ShardFlows(last, transactions.select("ts_ns", "client_ip", "client_port"), dns_views,
                      asks_cache)


def _shard_connections(job: FlowsJob) -> pl.DataFrame:
    """The shard's per-view TCP connections, settled and spilled a batch of whole connections
    at a time (`shards.tcp_batches`), numbered within the shard in batch order (`lconn`, as
    `_connections` numbers the shards' in shard order); a pair of endpoints too long to hold
    (`shards.Long`) a slice of its rows at a time (`pcapkit.flows.sliced`). Returns the
    shard's `last_before` rows."""
    parts = _parts(job.spill, "tcp", job.shard, TCP_SCHEMA)
    lasts, lconns = [], 0
    for name, held in enumerate(shards.tcp_batches(parts, _overflow(job.spill, "tcp", job.shard))):
        if isinstance(held, shards.Long):
            sliced = Sliced(functools.partial(_viewed_slices, job, held))
            for part, segs in enumerate(sliced.segments()):
                lasts.append(_annotated(job, f"{name:05d}.{part:05d}", segs, lconns))
            rows = sliced.rows()
        else:
            # The batch is held by no name here: `tcp_segments` lets it go once it has its own
            # sorted copy (a 5M-packet connection's batch: 400 MB less beside the flows'
            # tables).
            segs, rows = view_connections(tcp_segments(_viewed(job, held.pop())))
            lasts.append(_annotated(job, f"{name:05d}", segs, lconns))
            del segs  # not held while the next batch is read (`shards.batched`)
        # `connection_rows` (`lconn` numbered within the shard) spilled, not returned: they
        # would wait in the main process while the other shards' jobs run (20M DNS-heavy
        # packets: 280 MB), and it takes them only once all are done
        spill.write(job.spill, "rows", job.shard, f"{name:05d}",
                    rows.with_columns(pl.col("lconn") + lconns))
        lconns += rows.height
        del rows
    return pl.concat(lasts)


def _viewed_slices(job: FlowsJob, long: shards.Long) -> Iterator[pl.DataFrame]:
    return (_viewed(job, rows) for rows in long.slices())


def _viewed(job: FlowsJob, rows: pl.DataFrame) -> pl.DataFrame:
    """A shard's TCP rows with their `view`, on the first capture's clock."""
    return with_views(with_clock(rows, job.shift, "ts_ns"), job.views)


def _annotated(job: FlowsJob, name: str, segs: pl.DataFrame, lconns: int) -> pl.DataFrame:
    """Spills the segments of a batch (or slice) of the shard's connections, annotated for the
    detectors, their `lconn` numbered on from `lconns`; their `last_before` rows."""
    segs = segs.with_columns(pl.col("lconn") + lconns)
    spill.write(job.spill, "annotated", job.shard, name,
                segs.select("lconn", "copy", *shards.DETECT_COLUMNS))
    sent = segs.select(*SOCKET[:2], "ts_ns", "capture", "frame", conn="lconn").with_columns(
        ip_proto=pl.lit(6, pl.UInt8), icmp_type=pl.lit(None, pl.UInt8))
    return last_before(sent, job.errors)


def _parts(root: str, family: str, shard: int, schema: pl.Schema) -> Iterator[pl.DataFrame]:
    """A shard's rows of `family`, a written part at a time (`spill.parts`); one empty frame
    when it has none, so that a batch of it is still settled."""
    empty = True
    for _, part in spill.parts(root, family, shard, schema):
        empty = False
        yield part
    if empty:
        yield pl.DataFrame(schema=schema)


def _overflow(root: str, family: str, shard: int) -> shards.Overflow:
    """Where a job cuts the batches of a shard's rows of `family` when they are too many to
    hold (`shards.batched`): a folder of the spill of its own."""
    return shards.Overflow(f"{root}/batches/{family}-{shard:05d}", spill.count(root, family, shard))


def _shard_transactions(job: FlowsJob) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The shard's DNS transactions, in time order, spilled by client; and its DNS views: its
    messages paired a batch of client sides at a time (`shards.dns_batches`)."""
    settled, views = [], []
    for held in shards.dns_batches(_parts(job.spill, "dns", job.shard, DNS_MESSAGES),
                                   _overflow(job.spill, "dns", job.shard)):
        batch_transactions, batch_views = client_flows(
            with_clock(held.pop(), job.shift, "ts_ns"))
        settled.append(batch_transactions)
        views.append(batch_views)
    transactions = in_time_order(pl.concat(settled))
    dns_views = pl.concat(views)
    spill.write_parts(job.spill, "txns", f"{job.shard:05d}",
                      transactions.select(KEPT_SCHEMA.names()), shards.client_shard(job.shards),
                      job.shards)
    return transactions, dns_views


# --- DNS transactions of a shard of clients: numbered, then grouped into lookups -------------

@dataclass(frozen=True)
class HintsJob:
    spill: str
    shard: int
    #: the number (`txn`) of each of the shard's transactions, in the order they were spilled
    txn: npt.NDArray[np.uint32]


def client_hints(job: HintsJob) -> list[tuple[str, Hints]]:
    """The search-path hints of the shard's clients, in client order, from their names in
    `txn` order."""
    # The names alone, not the whole table: sorted whole and written again here, a busy pod's
    # 2.5M transactions took this job ~760 MB while it did, and 1.5 s of the run; the client
    # job puts the table in order as it reads it.
    names = spill.read_sorted(job.spill, "txns", [job.shard], NAME_SCHEMA, _numbers(job.txn))
    return [(client, hints(asked)) for client, asked in names_by_client(names).items()]


def _numbers(txn: npt.NDArray[np.uint32]) -> pl.Series:
    return pl.Series("txn", txn, dtype=pl.UInt32)


@dataclass(frozen=True)
class ClientsJob:
    spill: str
    shard: int
    txn: npt.NDArray[np.uint32]  #: as in `HintsJob`
    path: SearchPath  #: learned from every client's hints
    tables: Tables  #: `spans` and `views`: what the DNS detectors read besides `dns`
    config: Config
    #: run the `PER_CLIENT` detectors here (False: they run on the whole table instead)
    detect: bool


@dataclass(frozen=True)
class ClientFindings:
    findings: pl.DataFrame  #: of the `PER_CLIENT` detectors
    lookups: pl.DataFrame  #: per `client_ip`: its `first` lookup number and its `lookups`


def client_findings(job: ClientsJob) -> ClientFindings:
    """The shard's DNS_TRANSACTIONS (spilled to `transactions`), their lookups numbered from 0,
    and the findings of the per-client DNS detectors on them (none unless `job.detect`)."""
    # Put in `txn` order a column at a time as they are read (a busy resolver's shard is most
    # of the capture's transactions); the rows as read are let go before the detectors run.
    # What the search-path walk reads is read and walked first, the rest after: the walk's
    # arrays (~140 bytes a transaction) are not held beside the whole table (a busy pod's 2.5M
    # transactions: the walk's peak 1,147 -> 796 MB).
    txn = _numbers(job.txn)
    walked = spill.read_sorted(job.spill, "txns", [job.shard], WALKED_SCHEMA, txn)
    grouped = lookups(walked, job.path)
    rest = spill.read_sorted(job.spill, "txns", [job.shard], UNWALKED_SCHEMA, txn).drop("txn")
    dns = with_lookups(walked.hstack(rest), grouped)
    del walked, rest, grouped
    spill.write(job.spill, "transactions", job.shard, "all", dns)
    findings = run_detectors(dataclasses.replace(job.tables, dns=dns), job.config,
                             PER_CLIENT if job.detect else ())
    lookup = pl.col("lookup").cast(pl.Int64)
    return ClientFindings(findings, dns.group_by("client_ip").agg(
        first=lookup.min(), lookups=lookup.max() - lookup.min() + 1))


# --- per-connection detectors of a shard -----------------------------------------------------

@dataclass(frozen=True)
class DetectJob:
    spill: str
    shard: int
    conn_of_lconn: npt.NDArray[np.uint32]  #: the shard's lconn → conn
    alone: npt.NDArray[np.bool_]  #: the shard's lconn → `pcapkit.flows.views.alone_in_view`
    spanning: npt.NDArray[np.bool_]  #: by conn: has packets in other shards too
    shards: int  #: how many shards the spanning connections' packets are spilled to, by conn
    tables: Tables  #: every table but the packets and the connections (in the spill)
    config: Config
    #: where the chunks begin, when the TCP packets' marks are spilled for a store
    starts: Starts | None = None


def shard_findings(job: DetectJob) -> pl.DataFrame:
    """Findings of the per-connection detectors on the shard's connections that lie wholly in
    it, a batch of connections at a time (`shards.conn_batches`); the rows of the others are
    spilled to `spanning`, by `conn`, for `spanning_findings`."""
    spanning: list[pl.DataFrame] = []
    findings = _batch_findings(_wholly_here(job, spanning), job, "annotated", "shard_connections")
    if spanning:
        spill.write_parts(job.spill, "spanning", f"{job.shard:05d}", pl.concat(spanning),
                          shards.conn_shard(job.shards), job.shards)
    return findings


def _wholly_here(job: DetectJob, spanning: list[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """The shard's annotated rows (`ANNOTATED`) with their `conn` (`SPANNING`), a part at a
    time, those of connections that span shards put in `spanning` instead."""
    for annotated in _parts(job.spill, "annotated", job.shard, ANNOTATED):
        lconn = annotated["lconn"].to_numpy()
        conn = job.conn_of_lconn[lconn]
        packets = annotated.select(pl.Series("conn", conn, pl.UInt32),
                                   pl.Series("alone", job.alone[lconn]), "copy",
                                   *shards.DETECT_COLUMNS)
        away = pl.Series(job.spanning[conn])
        if away.any():  # most parts: none, and no copy of them
            spanning.append(taken(packets, away))
            packets = packets.filter(~away)
        yield packets


@dataclass(frozen=True)
class SpanningJob:
    spill: str
    shard: int  #: a shard of the spanning connections, by conn (`shards.conn_shard`)
    tables: Tables  #: every table but the packets and the connections (in the spill)
    config: Config
    starts: Starts | None = None  #: as `DetectJob`'s


def spanning_findings(job: SpanningJob) -> pl.DataFrame:
    """Findings of the per-connection detectors on the connections with packets in more than
    one flows shard (a NAT leg's 5-tuple in another), each read whole from every detect job's
    `spanning` rows and the `spanning_connections` of its shard."""
    parts = _parts(job.spill, "spanning", job.shard, SPANNING)
    return _batch_findings(parts, job, "spanning", "spanning_connections")


def _batch_findings(parts: Iterator[pl.DataFrame], job: DetectJob | SpanningJob, family: str,
                    connections: str) -> pl.DataFrame:
    """`per_connection` on the packets of whole connections (`parts`, read and let go as
    batched), a batch at a time (`shards.conn_batches`), a long connection on its digest (read
    a slice at a time: `pcapkit.detect.digest`), their CONNECTIONS rows read from the spill's
    `connections` family."""
    tables = dataclasses.replace(job.tables, connections=spill.read(
        job.spill, connections, job.shard, CONNECTIONS))
    overflow = _overflow(job.spill, family, job.shard)
    found = []
    for batch, held in enumerate(shards.conn_batches(parts, overflow)):
        if isinstance(held, shards.Long):
            kept = _without_copies(held)
            packets = digest(kept, tables, job.config)
        else:
            packets = first_copies(held.pop())
            kept = functools.partial(iter, [packets])
        if job.starts is not None:  # the packets kept, as the in-memory packet table has them
            for piece, rows in enumerate(kept()):
                spill_marks(job.spill, f"{family}-{job.shard:05d}.{batch:05d}.{piece:05d}", rows,
                            job.starts)
        found.append(per_connection(tables, packets, job.config))
        del packets, kept  # not held while the next batch is read
    return pl.concat(found)


def _without_copies(long: shards.Long) -> Callable[[], Iterator[pl.DataFrame]]:
    """A long connection's slices, read a slice at a time, its copies left out (`Copies`, known
    first)."""
    copies = Copies.of(long.slices, long.folder)
    return lambda: map(copies.without, long.slices())


def detect_shard(job: ClientsJob | DetectJob) -> ClientFindings | pl.DataFrame:
    """`client_findings` or `shard_findings`, by the job: one batch of jobs holds both."""
    return client_findings(job) if isinstance(job, ClientsJob) else shard_findings(job)


def per_connection(tables: Tables, packets: pl.DataFrame, config: Config) -> pl.DataFrame:
    """The per-connection detectors' findings on whole connections' packets, their copies left
    out (`first_copies`) as `pcapkit.flows.tcp_tables` leaves them out of the in-memory packet
    table."""
    conns = packets["conn"].unique().implode()
    part = Tables(
        packets=packets, connections=tables.connections.filter(pl.col("conn").is_in(conns)),
        dns=tables.dns, icmp_errors=tables.icmp_errors, views=tables.views, spans=tables.spans)
    return run_detectors(part, config, PER_CONNECTION)


_TYPES: dict[str, pl.DataType] = {**PACKET_SCHEMA, **PACKET_EXTRA}
_DETECTED = [(c, _TYPES[c]) for c in shards.DETECT_COLUMNS]
#: a shard's segments as the flows jobs spill them, `copy` being rule 5's (`tcp_segments`)
ANNOTATED = pl.Schema([("lconn", pl.UInt32()), ("copy", pl.Boolean()), *_DETECTED])
#: the packets of the connections that span shards, as the detect jobs spill them
SPANNING = pl.Schema([("conn", pl.UInt32()), ("alone", pl.Boolean()), ("copy", pl.Boolean()),
                      *_DETECTED])


# --- the evidence frames of the findings, decoded again -----------------------------------------

@dataclass(frozen=True)
class EvidenceJob:
    chunk: Chunk  #: a run of whole spans, walked from its first record (`exact`)
    before: int  #: the capture's records before the run's first
    records: int  #: the records of the run, as first walked
    frames: npt.NDArray[np.uint32]  #: the evidence frames in the run, numbered in the capture
    columns: tuple[str, ...]  #: the packet-table columns kept


def evidence_rows(job: EvidenceJob) -> pl.DataFrame | None:
    """The packet-table rows of the evidence frames of the job's run of records; None when its
    bytes cannot be read or decoded again (the main process reads those frames itself:
    `pcapkit.wireshark.evidence.evidence_packets`)."""
    try:
        capture, _ = chunks.load(job.chunk)
        records = capture.records  # numbered from 1 in the run
        if len(records) != job.records:
            return None  # not the records the spans say lie there: numbered otherwise
        wanted = records.take(positions(records.frame, job.frames - np.uint32(job.before)))
        wanted.frame += np.uint32(job.before)
        return decode(dataclasses.replace(capture, records=wanted), job.chunk.capture).select(
            job.columns)
    except Exception:  # the main process tries again, and says what went wrong
        return None

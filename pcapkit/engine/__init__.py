"""The streaming engine: an incident's captures analysed chunk by chunk, in bounded memory, on
every core or on a Dask cluster, with the same result as the in-memory pipeline.

The stages are the pipeline's own (read → decode → flows → detect); what changes is how the
packets move between them. Every result pcapkit computes is either a count that adds up, or
something settled by the packets of one key, so:

1. **Decode** (per chunk of records, in parallel): each chunk's packet table is split at once
   into TCP segments, DNS messages and ICMP errors, each written to the shard its key names
   (`shards`), and into counts that add up (views, summary, vantage, sockets). The packet table
   itself is never held whole.
2. **Per-view connections and DNS transactions** (per shard, in parallel): `view_connections`
   and `client_transactions` on each shard's rows, which hold every packet of their keys.
   The DNS transactions are spilled again, by client address.
3. **Shared ids** (here): `shared_ids` over the per-view connection rows of every shard (one row
   per connection per view: small), the ICMP errors tied to them; DNS transactions numbered in
   time order from a slim table of them all (time and client side), and (per client shard, in
   parallel) the search-path hints of their clients gathered from their names in that order.
4. **Detectors** (per shard, in parallel): the per-connection detectors on the connections that
   lie wholly in one shard; then (per shard of them, by `conn`, in parallel) on those spanning
   shards (a NAT leg in another shard: on a node's capture, most of them); the detectors that
   read only the flow tables run here. Per client shard: its transactions put in time order, the
   lookups walked with the search path learned from every client's hints, and the per-client
   DNS detectors; the shards' transactions are gathered here, their lookups renumbered.

Memory is bounded by the chunk and shard sizes and by the per-connection and per-transaction
tables, not by the number of packets.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.decode import COMPILED_FROM_BYTES, Engine
from pcapkit.decode.schema import PACKET_SCHEMA
from pcapkit.detect import DETECTORS, PER_CLIENT, PER_CONNECTION, run_detectors, worst_first
from pcapkit.detect.config import Config
from pcapkit.detect.late_answers import REFUSED_ANSWER
from pcapkit.engine import spill
from pcapkit.engine.chained import Chained, Seen, hold
from pcapkit.engine.chunks import Chunk, Sampled, plan, plan_ranges, sample
from pcapkit.engine.chunks import name as chunk_name
from pcapkit.engine.evidence import Rewalk, evidence_jobs
from pcapkit.engine.executor import Executor, walking_heap
from pcapkit.engine.shards import client_shard, conn_shard
from pcapkit.engine.stored import (
    Starts,
    Store,
    StoreJob,
    empty_part,
    frame_keys,
    store_packets,
)
from pcapkit.engine.tasks import (
    ICMP_SCHEMA,
    ClientFindings,
    ClientsJob,
    Decoded,
    DecodeJob,
    DetectJob,
    FlowsJob,
    HintsJob,
    LinksJob,
    ShardFlows,
    SpanningJob,
    client_hints,
    decode_chunk,
    detect_shard,
    evidence_rows,
    reassemble,
    shard_flows,
    shard_links,
    spanning_findings,
)
from pcapkit.engine.totals import Totals, totals
from pcapkit.flows import TABLE_ORDER, Tables, connection_columns
from pcapkit.flows.clocks import Clocks, merge_sightings, with_clock
from pcapkit.flows.icmp import error_copies, tied
from pcapkit.flows.ordering import gathered, lexsorted, packed
from pcapkit.flows.probes import PROBE_PACKETS, probes
from pcapkit.flows.schema import (
    CONNECTIONS,
    DNS_TRANSACTIONS,
    DNS_VIEW_ROWS,
    PACKET_EXTRA,
    SPANS,
)
from pcapkit.flows.search_path import SearchPath, settle
from pcapkit.flows.tcp import CONNECTION_ROWS, shared_ids
from pcapkit.flows.views import alone_in_view, dns_views_table
from pcapkit.kube.vantage import AddressCounts
from pcapkit.progress import NO_PROGRESS, Progress, Stage
from pcapkit.read.pcapng import Windows
from pcapkit.read.records import Capture, Records
from pcapkit.report.summary import PacketCounts

#: records per chunk: a chunk's packet table is ~45 MB
CHUNK_RECORDS = 250_000
#: packets per shard, about: what one worker holds while it settles connections
SHARD_RECORDS = 500_000
#: chunks a capture is cut into, at most about, when its chunks are not given
#: (`_chunk_records`): enough for every core of a machine or a few to have several
MAX_CHUNKS = 64

T = TypeVar("T")
NO_NUMBERS = np.empty(0, np.uint32)  #: the numbers of a client shard without transactions


@dataclass(frozen=True)
class Streamed:
    """What the engine hands back to `pcapkit.analyze`."""

    tables: Tables  #: `packets` empty: the packets were never held whole
    findings: pl.DataFrame  #: not yet named with the snapshot
    counts: PacketCounts
    addresses: list[AddressCounts]  #: per capture
    seen: list[Seen]  #: per capture: its records
    warnings: list[list[str]]  #: per capture: chunks that could not be decoded
    tuples: pl.DataFrame | None  #: distinct TCP/UDP 5-tuples, when asked for
    clocks: Clocks
    #: rows of the evidence frames of the findings the workers found (`evidence` columns),
    #: those they could read again (`pcapkit.engine.evidence`); None when not asked for
    evidence: pl.DataFrame | None = None


def run(scans: list[tuple[Capture, Iterator[Records]]], config: Config, pool: Executor, *,
        chunk_records: int | None = None, shards: int | None = None, tuples: bool = False,
        spill_dir: str | None = None, progress: Progress = NO_PROGRESS,
        total_bytes: int | None = None, evidence: Sequence[str] = (),
        packets_to: str | None = None) -> Streamed:
    """Analyse the captures of `scans` (`pcapkit.read.scan_capture`) with the jobs run by
    `pool`, which is closed once the last of them is done. A pcap file is cut into byte ranges
    whose workers find their records themselves (`pcapkit.read.ranges`); the records of any
    other capture come as this process walks it, and are cut into chunks as they come.
    `progress` is called as chunks and shards complete, with bytes counted of `total_bytes`
    (the files' sizes on disk; default: their decompressed sizes). `evidence`: the packet-table
    columns of the findings' evidence frames that the workers decode again (none: they do
    not). `packets_to`: the folder the flow stage's packet table is written to as Parquet, for
    a store, a part per chunk in partitions by capture (`pcapkit.engine.stored`)."""
    captures = [capture for capture, _ in scans]
    size = sum(len(c.buffer) for c in captures)
    engine: Engine = "compiled" if size >= COMPILED_FROM_BYTES else "auto"
    sampled = {i: sample(c, windows, pool.local) for i, (c, windows) in enumerate(scans)}
    samples = {i: s for i, s in sampled.items() if s is not None}
    # decoded in batches of `batch` records, and cut into chunks of `chunk_records`
    batch = chunk_records or CHUNK_RECORDS
    chunk_records = chunk_records or _chunk_records(next(iter(samples.values()), None), size)
    count = [shards or 0]  # set by the first records when not given (`_shards`)
    ranges: dict[str, DecodeJob] = {}
    # ranges planned per capture cut into them: what follows them is named after them all
    planned_ranges = dict.fromkeys(samples, 0)
    walked_from: dict[int, int] = {}  # where this process's walk of a pcapng's rest began

    def counted(windows: Iterator[Records]) -> Iterator[Records]:
        for records in windows:
            if not count[0]:  # the first records tell how large a packet is, on average
                count[0] = _shards(Sampled.of(records), size, pool.workers)
            yield records

    def job(chunk: Chunk, root: str) -> DecodeJob:
        return DecodeJob(chunk, root, count[0], engine, tuples, len(scans) > 1, batch,
                         packets_to is not None)

    def jobs(root: str) -> Iterator[DecodeJob]:
        for i, (capture, windows) in enumerate(scans):
            if i in samples and not count[0]:
                count[0] = _shards(samples[i], size, pool.workers)
            planned = (plan_ranges(capture, i, chunk_records, samples[i], local=pool.local)
                       if i in samples else
                       plan(capture, i, counted(windows), chunk_records, local=pool.local))
            for chunk in planned:
                if chunk.walk is not None:
                    ranges[chunk_name(chunk)] = job(chunk, root)
                    planned_ranges[i] += 1
                yield job(chunk, root)

    def redo(again: list[DecodeJob]) -> list[Decoded]:
        return [meter.decoded(d) for d in pool.map(decode_chunk, again)]

    def rest(i: int, pos: int, before: int) -> list[Decoded]:
        walked_from[i] = pos
        capture, windows = scans[i]
        assert isinstance(windows, Windows)  # only a pcapng's ranges leave it the rest
        # named after every range of the capture: some are still to be dropped by name
        planned = plan(capture, i, windows.rest(pos, before), chunk_records, local=pool.local,
                       first_seq=planned_ranges[i])
        return [meter.decoded(d) for d in pool.map(decode_chunk, (job(c, root) for c in planned))]

    root = tempfile.mkdtemp(prefix="pcapkit-spill-", dir=spill_dir)
    sweeper = spill.Sweeper(root)
    try:
        meter = _Meter(progress, size, total_bytes)
        with walking_heap():
            decoded = [meter.decoded(d) for d in pool.map(decode_chunk, jobs(root))]
            held = hold(captures, decoded, ranges, redo, lambda c: spill.drop_parts(root, c),
                        rest)
        del decoded
        spill.number_frames(root, held.before)
        store = None if packets_to is None else _store(packets_to, held)
        icmp = spill.read(root, "icmp", 0, ICMP_SCHEMA)
        added = totals([f for d in held.kept for f in d.facts], len(captures), icmp)
        held = dataclasses.replace(held, kept=[])  # each chunk's facts go, their totals stay
        # The workers walk again the records of the captures they walked (`samples`): a
        # pcapng's up to where this process's walk began.
        rewalks = {i: Rewalk(s.shape, walked_from.get(i)) for i, s in samples.items()
                   if s.shape is not None}
        return _reduce(captures, held, added, icmp, root, count[0] or 1, config, pool, meter,
                       sweeper, evidence, rewalks, store)
    finally:
        sweeper.close()


def _store(folder: str, held: Chained) -> Store:
    """Where the packet table of the chunks `held` kept is written, chunk after chunk."""
    firsts = [(d.capture, d.name, held.before.get(d.name, 0) + d.walk.spans[0].frame)
              for d in held.kept if d.walk is not None and d.walk.spans]
    starts = frame_keys(np.array([c for c, _, _ in firsts], np.uint64),
                        np.array([f for _, _, f in firsts], np.uint64))
    return Store(folder, Starts(starts), [(name, c) for c, name, _ in firsts])


def _chunk_records(sampled: Sampled | None, size: int) -> int:
    """Records per chunk for `size` bytes of captures whose packets are like `sampled`'s:
    `CHUNK_RECORDS`, or more so that they are cut into `MAX_CHUNKS` chunks at most (each is
    still decoded `CHUNK_RECORDS` at a time, and at most `CHUNK_BYTES`). Each chunk spills a
    part of each shard, and the shards grow with the captures too: at a chunk per
    `CHUNK_RECORDS`, the parts grew as the square of the packets (`tasks._Sharded`)."""
    if sampled is None or not sampled.records:
        return CHUNK_RECORDS
    return max(CHUNK_RECORDS, size * sampled.records // sampled.span // MAX_CHUNKS)


def _shards(sampled: Sampled, size: int, workers: int) -> int:
    """Shards for `size` bytes of captures whose packets are like `sampled`'s: at least two per
    worker, so that one large shard does not hold the others up, and a whole number per worker,
    so that the last round of a stage's jobs keeps every worker busy: 11 shards of 5M DNS-heavy
    packets left one worker idle while the other settled the 11th (~0.6 s of the flows stage)."""
    if not sampled.records:
        return 2 * workers
    packets = size * sampled.records // sampled.span
    rounds = max(2, math.ceil(packets / (SHARD_RECORDS * workers)))
    return rounds * workers


class _Meter:
    """Progress in the protocol's terms: bytes on disk, however the chunks count theirs."""

    def __init__(self, progress: Progress, buffered: int, total_bytes: int | None) -> None:
        self.progress = progress
        self.buffered = buffered
        self.total = self.buffered if total_bytes is None else total_bytes
        self.done = self.packets = 0

    def decoded(self, decoded: Decoded) -> Decoded:
        self.done += decoded.bytes
        self.packets += sum(f.counts.packets for f in decoded.facts)
        on_disk = self.total * min(self.done, self.buffered) // max(self.buffered, 1)
        self.progress(Stage.DECODE, on_disk, self.total, self.packets)
        return decoded

    def each(self, stage: Stage, results: Iterable[T]) -> list[T]:
        out = []
        for r in results:
            out.append(r)
            self.progress(stage, self.total, self.total, self.packets)
        return out


def _reduce(captures: list[Capture], held: Chained, added: Totals, icmp: pl.DataFrame,
            root: str, shards: int, config: Config, pool: Executor, meter: _Meter,
            sweeper: spill.Sweeper, evidence: Sequence[str], rewalks: dict[int, Rewalk],
            store: Store | None) -> Streamed:
    views = added.views
    # Every timestamp read back from the spill is brought onto the first capture's clock.
    sights = added.sightings
    # The DNS messages over TCP and in IP fragments join the DNS shards before clocks are
    # linked by them (`shard_links`), as in memory (`message_rows`).
    reassemble(root, shards)
    clocks = Clocks.of(sights, len(captures))
    if clocks.apart():
        linked = pool.map(shard_links, (LinksJob(root, s, clocks.groups) for s in range(shards)))
        clocks = Clocks.of(sights, len(captures), merge_sightings(list(linked)))
    shift = clocks.shift
    errors = error_copies(with_clock(icmp, shift, "ts_ns"))
    # The largest shards first: their jobs are the longest, and the last one to start held the
    # stage up alone (5M bulk: 0.48 s of its 1.8 s on one worker while the other waited).
    order = sorted(range(shards), key=spill.shard_bytes(root, ("tcp", "dns"), shards).__getitem__,
                   reverse=True)
    settled = dict(zip(order, meter.each(Stage.FLOWS, pool.map(shard_flows, (
        FlowsJob(root, s, views, errors, shift, shards, config.nodelocal_dns) for s in order))),
        strict=True))
    # taken out of `settled`, so that `del found` lets them go (a busy pod's numbering rows:
    # ~65 MB this process held through the detectors)
    found = [settled.pop(s) for s in range(shards)]
    # A NodeLocal DNSCache's upstream query (from the node's address) is its pod's lookup
    # (pcapkit/detect/forwarded.py): the two clients may sit in different shards, so then the
    # DNS detectors read the whole table instead of each client shard's.
    whole_dns = any(f.asks_cache for f in found)
    numbers, path = _numbered(found, root, shards, pool, meter)
    sweeper.drop("tcp", "dns", "pieces", "icmp")
    # Read only after the detectors: spilled while this process merges the connections and the
    # workers run the detectors (20M DNS-heavy packets: ~55 MB), as the shards' parts of it
    # and their numbering rows go (the transactions live on in the spill).
    spill.write(root, "dns_views", 0, "all",
                dns_views_table([f.dns_views for f in found], views))
    lasts = [f.last for f in found]
    del found
    connections, conn_of_lconn, alone, heights, last = _connections(root, lasts)
    sweeper.drop("rows")
    offsets = np.concatenate([[0], np.cumsum(heights)]).astype(np.int64)
    shard_of_lconn = np.repeat(np.arange(shards), heights)
    spanning = _spanning(conn_of_lconn, shard_of_lconn, shards)
    # The workers read their shards' connections from the spill, and this process lets the
    # table go while they work (a DNS-heavy capture's is hundreds of MB): back once they are done.
    _spill_connections(root, connections, conn_of_lconn, shard_of_lconn, spanning, shards)
    del shard_of_lconn
    connections = connections.clear()
    tables = Tables(
        packets=pl.DataFrame(schema=PACKET_SCHEMA | PACKET_EXTRA),
        connections=connections, dns=pl.DataFrame(schema=DNS_TRANSACTIONS),
        icmp_errors=tied(errors, added.sockets, last), views=views,
        spans=with_clock(_spans(held.seen), shift, "first_ts_ns", "last_ts_ns"),
        sources=added.sources,
        probes=probes(with_clock(spill.read(root, "probe", 0, PROBE_PACKETS), shift, "ts_ns")))
    lean = Tables(packets=tables.packets, connections=tables.connections,
                  dns=tables.dns, icmp_errors=tables.icmp_errors, views=views,
                  spans=tables.spans)
    # The DNS detectors read of the ICMP errors only the answers clients refused.
    bare = dataclasses.replace(lean, icmp_errors=tables.icmp_errors.filter(REFUSED_ANSWER))
    # The shards' client and connection jobs are one batch, the clients' first: a busy
    # resolver's client shard is the longest job of all, and the other workers take the rest
    # meanwhile instead of waiting for it at the end of a batch of its own.
    jobs: Iterator[ClientsJob | DetectJob] = chain(
        (ClientsJob(root, s, numbers.get(s, NO_NUMBERS), path, bare, config, not whole_dns)
         for s in range(shards)),
        (DetectJob(root, s, conn_of_lconn[offsets[s]:offsets[s + 1]],
                   alone[offsets[s]:offsets[s + 1]], spanning, shards, lean, config,
                   None if store is None else store.starts)
         for s in range(shards)))
    done = meter.each(Stage.DETECT, pool.map(detect_shard, jobs))
    # Each per-view row's numbers go before this process takes the tables back (40M DNS-heavy
    # packets: ~50 MB, beside the run's largest moment at its end).
    del jobs, conn_of_lconn, alone, spanning
    clients = [c for c in done if isinstance(c, ClientFindings)]
    local = [f for f in done if isinstance(f, pl.DataFrame)]
    spanned = meter.each(Stage.DETECT, pool.map(
        spanning_findings, (SpanningJob(root, s, lean, config,
                                        None if store is None else store.starts)
                            for s in range(shards))))
    # Nearly every finding is found by now (the rest cite few frames): the workers decode their
    # evidence again before they go.
    cited = [*local, *spanned, *([] if whole_dns else [c.findings for c in clients])]
    rows = [r for r in meter.each(Stage.DETECT, pool.map(evidence_rows, evidence_jobs(
        captures, [s.spans for s in held.seen], rewalks, cited, evidence, pool.local)))
            if r is not None]
    if store is not None:
        meter.each(Stage.STORE, pool.map(store_packets, (
            StoreJob(root, name, i, capture, views, store.folder)
            for i, (name, capture) in enumerate(store.chunks))))
        for capture in set(range(len(captures))) - {c for _, c in store.chunks}:
            empty_part(Path(store.folder), capture)
    # The workers' last job is done: their memory is let go before this process gathers the
    # transactions, the largest table it holds.
    pool.close()
    connections = spill.read(root, "connections", 0, CONNECTIONS)
    dns_views = spill.read(root, "dns_views", 0, DNS_VIEW_ROWS)
    sweeper.drop("annotated", "txns", "shard_connections", "spanning", "spanning_connections",
                 "connections", "probe", "dns_views")
    lean = dataclasses.replace(lean, connections=connections)
    tables = dataclasses.replace(tables, connections=connections,
                                 dns=_transactions(root, shards, clients), dns_views=dns_views)
    by_client = ([run_detectors(tables, config, PER_CLIENT)] if whole_dns
                 else [c.findings for c in clients])
    others = [k for k in DETECTORS if k not in PER_CONNECTION and k not in PER_CLIENT]
    findings = worst_first([
        *local, *spanned, *by_client,
        run_detectors(tables, config, others)])
    return Streamed(
        tables=tables, findings=findings, counts=added.counts, addresses=added.addresses,
        seen=held.seen,
        warnings=held.warnings,
        tuples=added.tuples,
        clocks=clocks,
        evidence=pl.concat(rows) if rows else None,
    )


def _numbered(found: list[ShardFlows], root: str, shards: int, pool: Executor,
              meter: _Meter) -> tuple[dict[int, npt.NDArray[np.uint32]], SearchPath]:
    """The number of every shard's DNS transactions in `TIME_ORDER` (`txn`), from a slim table
    of them all: one row per transaction, three columns; per client shard, in the order its
    rows were spilled. And the search path learned from every client."""
    order = pl.concat([f.order for f in found])
    # Rows alike in time and client side come from one flows shard (sharded by client side),
    # in `TIME_ORDER` there: a stable sort on the three puts every row in `TIME_ORDER`.
    rank = order.select(pl.arg_sort_by(["ts_ns", "client_ip", "client_port"],
                                       maintain_order=True)).to_series().to_numpy()
    txn = np.empty(len(rank), np.uint32)
    txn[rank] = np.arange(len(rank), dtype=np.uint32)
    parts = order.select(client_shard(shards).alias("shard"), txn=pl.Series(txn)).partition_by(
        "shard", as_dict=True, maintain_order=True, include_key=False)
    numbers = {int(str(key)): part["txn"].to_numpy() for (key,), part in parts.items()}
    hinted = meter.each(Stage.FLOWS, pool.map(client_hints, (
        HintsJob(root, s, txns) for s, txns in sorted(numbers.items()))))
    return numbers, settle(sorted((h for part in hinted for h in part), key=lambda h: h[0]))


def _transactions(root: str, shards: int, clients: list[ClientFindings]) -> pl.DataFrame:
    """DNS_TRANSACTIONS of every client shard as one table: in `txn` order, and the lookups,
    numbered from 0 in each shard, numbered client after client in client order (as
    `pcapkit.flows.search_path.lookups` numbers them)."""
    dns = spill.read_sorted(root, "transactions", range(shards), DNS_TRANSACTIONS, "txn")
    if dns.is_empty():
        return dns
    lookups = pl.concat([c.lookups for c in clients]).sort("client_ip")
    before = lookups["lookups"].cum_sum() - lookups["lookups"]
    shift = pl.col("client_ip").replace_strict(
        lookups["client_ip"], before - lookups["first"], return_dtype=pl.Int64)
    return dns.with_columns((pl.col("lookup").cast(pl.Int64) + shift).cast(pl.UInt32))


def _connections(root: str, lasts: list[pl.DataFrame]) -> tuple[
        pl.DataFrame, npt.NDArray[np.uint32], npt.NDArray[np.bool_], list[int], pl.DataFrame]:
    """The CONNECTIONS table of every shard's per-view rows (spilled to `rows`), numbered as one
    table; each row's `conn` and whether it is `alone_in_view`; the shards' row counts; and the
    `last_before` rows (`lasts`, each shard's `ShardFlows.last`), by `conn`.

    Copies the rows into table order a column at a time, letting each go once copied: the
    table is never held twice (20M DNS-heavy packets: 170 MB)."""
    parts = [spill.read(root, "rows", s, CONNECTION_ROWS) for s in range(len(lasts))]
    heights = [part.height for part in parts]
    offsets = np.concatenate([[0], np.cumsum(heights)]).astype(np.int64)
    rows = pl.concat([
        part.with_columns((pl.col("lconn").cast(pl.Int64) + int(offsets[s])).cast(pl.UInt32))
        for s, part in enumerate(parts)])
    del parts  # their `lconn` numbered within the shard
    conn_of_lconn = shared_ids(rows)
    alone = alone_in_view(rows, conn_of_lconn)
    last = pl.concat([
        part.with_columns(conn=pl.Series(
            conn_of_lconn[part["conn"].cast(pl.Int64).to_numpy() + int(offsets[i])],
            dtype=pl.UInt32))
        for i, part in enumerate(lasts)])
    rows = connection_columns(rows, conn_of_lconn)
    # sorted by its columns packed into words: a query over the rows would first copy them
    # into one chunk, as for `connection_columns`
    order = lexsorted(packed(rows, TABLE_ORDER))
    columns = [rows.get_column(name) for name in CONNECTIONS.names()]
    del rows
    return gathered(columns, order), conn_of_lconn, alone, heights, last


def _spanning(conn_of_lconn: npt.NDArray[np.uint32], shard_of_lconn: npt.NDArray[np.int64],
              shards: int) -> npt.NDArray[np.bool_]:
    """Whether each connection spans shards: its per-view rows lie in more than one."""
    n_conns = int(conn_of_lconn.max()) + 1 if len(conn_of_lconn) else 0
    low = np.full(n_conns, shards, np.int64)
    high = np.full(n_conns, -1, np.int64)
    np.minimum.at(low, conn_of_lconn, shard_of_lconn)
    np.maximum.at(high, conn_of_lconn, shard_of_lconn)
    spanning: npt.NDArray[np.bool_] = low != high
    return spanning


def _spill_connections(root: str, connections: pl.DataFrame, conn_of_lconn: np.ndarray,
                       shard_of_lconn: np.ndarray, spanning: np.ndarray, shards: int) -> None:
    """Spills the CONNECTIONS table (`connections`, shard 0), each shard's rows of it, those
    of the connections with packets in the shard (`shard_connections`), in table order; and
    the rows of the connections `spanning` shards, by conn (`spanning_connections`)."""
    spill.write(root, "connections", 0, "all", connections)
    spill.write_parts(root, "spanning_connections", "all",
                      connections.filter(pl.Series(spanning[connections["conn"].to_numpy()])),
                      conn_shard(shards), shards)
    # Row numbers, not rows, are joined and partitioned: one shard's rows are copied at a time.
    shard_of = pl.DataFrame({"conn": conn_of_lconn, "shard": shard_of_lconn}).unique()
    rows = connections.select("conn").with_row_index("row").join(
        shard_of, on="conn", maintain_order="left")
    for (shard,), part in rows.partition_by("shard", as_dict=True, maintain_order=True).items():
        spill.write(root, "shard_connections", int(str(shard)), "all",
                    connections[part["row"]])


def _spans(seen: list[Seen]) -> pl.DataFrame:
    rows = [(i, s.first_ts_ns, s.last_ts_ns, s.records) for i, s in enumerate(seen) if s.records]
    return pl.DataFrame(rows, schema=SPANS, orient="row")

"""Which shard each row goes to, and which columns it takes there.

Rows are sharded so that each shard holds everything one computation needs:

- `tcp`: TCP segments, by the endpoint with the higher port (the client's ephemeral port, most
  often). Per-view connections are settled by the pair of endpoints, which any function of the
  pair keeps together; this one also keeps a ClusterIP connection's two legs (client →
  ClusterIP, client → pod, the same client port) in one shard, so that few connections span
  shards.
- `dns`: DNS messages, by their client side (address and port), the DNS transaction key.
- `txns`: DNS transactions, once settled from their messages, by their client address: the
  search path is walked client by client (`pcapkit.flows.search_path`), and the DNS detectors
  report per client address (`pcapkit.detect.PER_CLIENT`). Messages are not sharded so: one
  busy client (a node's resolver cache) would put every DNS packet in one shard.
- `icmp`: ICMP errors, all in shard 0: they are few, and merged across views by what they quote.
- `probe`: echo and neighbour requests and their answers, all in shard 0: they are few, and
  paired across views and captures (`pcapkit.flows.probes`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, overload

import polars as pl

from pcapkit.engine import spill
from pcapkit.flows.dns import NO_MESSAGES, message_rows
from pcapkit.flows.icmp import IS_ERROR
from pcapkit.flows.kept import taken
from pcapkit.flows.views import VIEW_KEY

#: fixed, so that every process (a pool's worker, a Dask worker) shards alike
SEED = 0x5043_4B54
#: TCP rows a flows job settles at once, and a detect job reads at once, about (`tcp_batches`,
#: `conn_batches`): a shard's rows (`pcapkit.engine.SHARD_RECORDS`) are one batch, most often,
#: and not cut part by part. At 250k, each part of a shard was cut in two and each half settled
#: on its own (bulk TCP, 5M packets on both cores: CPU 8.5-8.7 -> 7.8-8.2 s user, wall
#: 5.45-5.55 -> 5.2-5.4 s; 20M: 20.5 -> 18.7-19.2 s); the peak RSS unchanged (bulk 5M and
#: 20M, DNS-heavy 5M and 20M, Dask local:2 on DNS-heavy 20M: 1,273 MB), the largest moments
#: being elsewhere. A batch's working tables are ~300 bytes a row.
BATCH_ROWS = 500_000
#: DNS messages a flows job pairs into transactions at once, about (`dns_batches`): ~1.5 KB
#: each while they are
DNS_BATCH_ROWS = 64_000
#: a view's pair of endpoints with more TCP rows than this in a batch read back from files
#: (one long connection, most often) is settled a slice of about this many rows at a time
#: (`pcapkit.flows.sliced`), not held whole: ~100 bytes a row while it is (one connection of
#: 20M packets: its flows job 2.3 GB); a connection with more is read so by its detect job,
#: for its digest (`pcapkit.detect.digest`: ~54 bytes a row held whole)
SLICE_ROWS = 1_000_000

TCP_COLUMNS = [*VIEW_KEY, "frame", "ts_ns", "src", "dst", "sport", "dport", "tcp_flags",
               "tcp_seq", "tcp_ack", "tcp_win", "tcp_wscale", "payload_len", "ip_id", "ip_ttl"]
ICMP_COLUMNS = [*VIEW_KEY, "frame", "ts_ns", "ip_version", "ip_proto", "icmp_type", "icmp_code",
                "src", "dst", "icmp_mtu", "icmp_q_src", "icmp_q_dst", "icmp_q_proto",
                "icmp_q_sport", "icmp_q_dport", "ip_id"]
#: what the per-connection detectors read of a packet, besides its `conn`
DETECT_COLUMNS = ["view", "capture", "frame", "ts_ns", "tcp_flags", "from_client",
                  "tcp_analysis", "payload_len", "tcp_seq", "tcp_ack", "ip_id", "ip_ttl"]

IS_TCP = pl.col("tcp_flags").is_not_null() & pl.col("sport").is_not_null()


def _endpoint(ip: str, port: str) -> pl.Expr:
    """A hash of an (address, port) endpoint. Each column hashed on its own and the hashes
    chosen between: a struct of the text chosen row by row (`when`) copied every address of a
    chunk first (4.7 ms a chunk of 129k bulk TCP rows, now 1.9)."""
    return pl.col(ip).hash(SEED) ^ pl.col(port).hash(SEED)


def tcp_shard(shards: int) -> pl.Expr:
    """The shard of a TCP row: its endpoint with the higher port (ties: the higher address)."""
    src_side = (pl.col("sport") > pl.col("dport")) | (
        (pl.col("sport") == pl.col("dport")) & (pl.col("src") >= pl.col("dst")))
    key = pl.when(src_side).then(_endpoint("src", "sport")).otherwise(_endpoint("dst", "dport"))
    return (key.hash(SEED) % shards).cast(pl.UInt32)


#: the rows a job holds in its batches, about, before it writes them to files instead (one
#: file per part and batch) and reads the batches back one at a time: past it, a shard's rows
#: held at once were most of its job's memory (a 5M-packet connection seen on three
#: interfaces: 5M rows, 545 MB, in one shard)
HELD_ROWS = 1_000_000

#: a batch, in a list of one that its reader empties: a name bound to it, as a `for` loop's
#: variable is, would keep it as long as the next batch is made
Held = list[pl.DataFrame]


@dataclass(frozen=True)
class Overflow:
    """Where a job's batches go when its rows are too many to hold (`HELD_ROWS`)."""

    folder: str  #: a folder of the spill of its own (made, and emptied, by `batched`)
    parts: int  #: the parts the rows come in: how many batches to cut is estimated from them


@dataclass(frozen=True)
class Long:
    """The rows of one group (one `key` value) of a batch cut to files, too many to hold at
    once: read from the files a slice at a time, as often as asked (`slices`)."""

    folder: str
    index: int  #: the batch's
    key: pl.Expr
    value: int  #: the group's `key`
    schema: pl.Schema

    def slices(self) -> Iterator[pl.DataFrame]:
        """The group's rows in order, in slices of `SLICE_ROWS` to twice that, each made of
        whole pieces of the files where it can be."""
        held: list[pl.DataFrame] = []
        rows = 0
        for _, part in spill.parts(self.folder, "batch", self.index, self.schema):
            part = part.filter(self.key == self.value)
            for start in range(0, part.height, SLICE_ROWS):
                held.append(part.slice(start, SLICE_ROWS))
                rows += held[-1].height
                if rows >= SLICE_ROWS:
                    yield _concat_emptied(held)
                    rows = 0
        if held:
            yield _concat_emptied(held)


@overload
def batched(parts: Iterable[pl.DataFrame], key: pl.Expr, overflow: Overflow,
            rows_per_batch: int, long: Literal[False] = False) -> Iterator[Held]: ...


@overload
def batched(parts: Iterable[pl.DataFrame], key: pl.Expr, overflow: Overflow,
            rows_per_batch: int, long: Literal[True]) -> Iterator[Held | Long]: ...


def batched(parts: Iterable[pl.DataFrame], key: pl.Expr, overflow: Overflow,
            rows_per_batch: int, long: bool = False) -> Iterator[Held | Long]:
    """The rows of `parts` (in order) in batches of about `rows_per_batch` or fewer by `key` (an
    integer expression: rows alike in it go to one batch), each batch in the parts' order.

    Up to `HELD_ROWS` rows, the parts are cut in memory one by one, so that their rows are
    held once: a shard's, cut whole, were held twice (2.3M TCP rows: 380 MB more). Past it,
    each part is cut as it is read, its pieces written to files of `overflow.folder`, and the
    batches are read back one at a time: a job holds one part and one batch. `long`: a group
    (one `key` value) of more than `SLICE_ROWS` rows in such a batch is given apart, as `Long`
    slices, the rest of its batch before it."""
    parts = iter(parts)  # read on past `HELD_ROWS` where the loop left it, never again
    held: list[pl.DataFrame] = []
    rows = 0
    for part in parts:
        held.append(part)
        rows += part.height
        if rows > HELD_ROWS:
            # as many batches as the rows seen so far, extended to every part, fill
            batches = -(-rows * overflow.parts // (len(held) * rows_per_batch))
            following = next(parts, None)
            if following is None and _one_batch(held, key, batches):
                # Every row is one batch's (one long connection's, in a part or two): cut to
                # a file and read back, it was held twice while it was read.
                yield [_concat_emptied(held)]
                return
            rest = parts if following is None else itertools.chain([following], parts)
            yield from _through_files(held, rest, key, batches, overflow.folder, long)
            return
    batches = -(-rows // rows_per_batch)
    if batches <= 1:
        yield [_concat_emptied(held)]
        return
    cut: list[list[pl.DataFrame]] = [[] for _ in range(batches)]
    while held:
        for index, piece in _pieces(held.pop(0), key, batches):
            cut[index].append(piece)
    while cut:
        pieces = cut.pop(0)
        if pieces:
            yield [pl.concat(pieces, rechunk=False)]


def _concat_emptied(held: list[pl.DataFrame]) -> pl.DataFrame:
    """The parts `held` as one batch, `held` emptied: let go as the cut parts are, the batch
    alone holds them."""
    whole = pl.concat(held, rechunk=False)
    held.clear()
    return whole


def _one_batch(held: list[pl.DataFrame], key: pl.Expr, batches: int) -> bool:
    """Whether the rows of every part `held` fall in one of `batches` by `key`."""
    return pl.concat([part.select(key % batches) for part in held]).to_series().n_unique() == 1


def _pieces(part: pl.DataFrame, key: pl.Expr, batches: int) -> list[tuple[int, pl.DataFrame]]:
    """`part`'s rows by batch: `key` modulo `batches`."""
    batch = part.select(key % batches).to_series()
    if batch.n_unique() == 1:  # a part of one batch (one long connection's) is not copied
        return [(int(batch[0]), part)]
    pieces = part.with_columns(batch.alias("_batch")).partition_by(
        "_batch", as_dict=True, maintain_order=True, include_key=False)
    return [(int(str(index)), piece) for (index,), piece in pieces.items()]


def _through_files(held: list[pl.DataFrame], rest: Iterator[pl.DataFrame], key: pl.Expr,
                   batches: int, folder: str, long: bool) -> Iterator[Held | Long]:
    """`batched` past `HELD_ROWS`: the parts `held` (let go one by one), then `rest`, cut to
    files of `folder`, a folder per batch and a file per part, then read back batch by batch,
    each batch's files removed once read. The files are written uncompressed (`spill.write`):
    they are read once, soon, from the page cache."""
    schema = held[0].schema
    written = _written(itertools.chain(_emptied(held), rest), key, batches, folder)
    for index, rows in sorted(written.items()):
        if long and rows > SLICE_ROWS:
            yield from _with_long(folder, index, key, schema)
        else:
            yield [spill.read_whole(folder, "batch", index, schema)]
        spill.remove(folder, "batch", index)


def _with_long(folder: str, index: int, key: pl.Expr, schema: pl.Schema
               ) -> Iterator[Held | Long]:
    """A batch's rows of the groups of at most `SLICE_ROWS` rows, held, then each larger
    group's, as `Long` slices: its files read a part at a time."""
    # counted a file at a time: the keys of every row at once were 8 bytes a row more
    keyed = pl.Schema({name: schema[name] for name in key.meta.root_names()})
    counts = pl.concat([part.group_by(key.alias("key")).len() for _, part in
                        spill.parts(folder, "batch", index, keyed)]).group_by("key").sum()
    large = counts.filter(pl.col("len") > SLICE_ROWS)
    if large.is_empty():
        yield [spill.read_whole(folder, "batch", index, schema)]
        return
    if large["len"].sum() < counts["len"].sum():
        yield [pl.concat([taken(part, ~key.is_in(large["key"].implode()))
                          for _, part in spill.parts(folder, "batch", index, schema)])]
    for value in large["key"].sort():
        yield Long(folder, index, key, int(value), schema)


def _emptied(held: list[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    while held:
        yield held.pop(0)


def _written(parts: Iterator[pl.DataFrame], key: pl.Expr, batches: int, folder: str
             ) -> dict[int, int]:
    """Writes each part's pieces (`_pieces`) to the files of their batches; the rows written
    to each batch."""
    written: dict[int, int] = {}
    for number, part in enumerate(parts):
        for index, piece in _pieces(part, key, batches):
            spill.write(folder, "batch", index, f"{number:07d}", piece)
            written[index] = written.get(index, 0) + piece.height
    return written


def tcp_batches(parts: Iterable[pl.DataFrame], overflow: Overflow) -> Iterator[Held | Long]:
    """The TCP rows of a shard, as the parts it was spilled in, in batches by their view and
    pair of endpoints (each batch holds whole per-view connections) for the flows job to
    settle one at a time. By view too: a node's `-i any` sees one connection on each interface
    it crosses (a pod's veth, the bridge, the overlay device, the underlay), and one long
    connection's batch held every copy of each of its packets (3 views of a 1.5M-packet
    connection: 4.5M rows in one batch).

    A shard holds whole endpoints, however many connections each has, so its rows vary: 2.3M
    in one of 41 shards of 20M packets of bulk TCP (5.7x the median), where one server's port
    was the higher for many of its clients, and that shard's flows job took 710 MB. A batch's
    working tables are ~300 bytes a row. What a batch does not hold (a ClusterIP connection's
    other leg) is joined across batches as it is across shards, by `_connections` in the main
    process; and a connection's rows in the shard, whichever batch they were settled in, are
    read together by the detectors (`conn_batches`)."""
    return batched(parts, view_pair(), overflow, BATCH_ROWS, long=True)


def view_pair() -> pl.Expr:
    """A TCP row's view and unordered pair of endpoints, hashed: what `tcp_batches` batches
    by, and a long pair (`Long`) is told apart by."""
    pair = _endpoint("src", "sport") ^ _endpoint("dst", "dport")
    return (pair ^ pl.struct(VIEW_KEY).hash(SEED)).hash(SEED)


def conn_batches(parts: Iterable[pl.DataFrame], overflow: Overflow) -> Iterator[Held | Long]:
    """A shard's packets for the per-connection detectors (with their `conn`), as read, in
    batches of whole connections: the detectors work connection by connection, as they do
    shard by shard (2.3M rows at once took 263 MB). A connection of more than `SLICE_ROWS`
    rows in a batch read back from files comes apart (`Long`), for its digest
    (`pcapkit.detect.digest`)."""
    return batched(parts, pl.col("conn"), overflow, BATCH_ROWS, long=True)


def conn_shard(shards: int) -> pl.Expr:
    """The shard of a connection's rows, once its shared id (`conn`) is known."""
    return (pl.col("conn") % shards).cast(pl.UInt32)


def _dns_client() -> pl.Expr:
    """A hash of a DNS message's client side (a response's destination), the side that every
    message of a transaction shares, in every view (`pcapkit.flows.dns.KEY`)."""
    return pl.when(pl.col("dns_qr")).then(_endpoint("dst", "dport")).otherwise(
        _endpoint("src", "sport")).hash(SEED)


def dns_shard(shards: int) -> pl.Expr:
    """The shard of a DNS message: its client side."""
    return (_dns_client() % shards).cast(pl.UInt32)


def dns_batches(parts: Iterable[pl.DataFrame], overflow: Overflow) -> Iterator[Held]:
    """The DNS messages of a shard, as the parts it was spilled in, in batches by their client
    side for the flows job to pair into transactions one at a time: paired whole, a shard's
    messages took ~1.5 KB each while they were (one pod's 2.5M lookups, 5M packets in 10
    shards: 906-922 MB in each flows job, ~450 MB in batches)."""
    return batched(parts, _dns_client().hash(SEED), overflow, DNS_BATCH_ROWS)


def client_shard(shards: int) -> pl.Expr:
    """The shard of a DNS transaction: its client address."""
    return (pl.col("client_ip").hash(SEED) % shards).cast(pl.UInt32)


# Filtered lazily, so that only the columns kept are (a packet table has some sixty).
def tcp_rows(packets: pl.DataFrame) -> pl.DataFrame:
    return packets.lazy().filter(IS_TCP).select(TCP_COLUMNS).collect()


def dns_rows(packets: pl.DataFrame) -> pl.DataFrame:
    """The DNS messages a chunk's packets hold on their own: those over TCP, and in IP
    fragments, are read across chunks (`pcapkit.engine.tasks.reassemble`)."""
    return message_rows(packets, NO_MESSAGES)


def icmp_rows(packets: pl.DataFrame) -> pl.DataFrame:
    return packets.lazy().filter(IS_ERROR).select(ICMP_COLUMNS).collect()

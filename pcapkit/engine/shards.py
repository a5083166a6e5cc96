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

import polars as pl

from pcapkit.flows.dns import NO_MESSAGES, message_rows
from pcapkit.flows.icmp import IS_ERROR
from pcapkit.flows.views import VIEW_KEY

#: fixed, so that every process (a pool's worker, a Dask worker) shards alike
SEED = 0x5043_4B54
#: TCP rows a flows job settles at once, and a detect job reads at once, about (`tcp_batches`,
#: `conn_batches`)
BATCH_ROWS = 250_000

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


def batched(parts: list[pl.DataFrame], key: pl.Expr) -> list[pl.DataFrame]:
    """The rows of `parts` (in order; let go here one by one) in batches of about `BATCH_ROWS`
    or fewer by `key` (an integer expression: rows alike in it go to one batch), each batch in
    the parts' order. The parts are cut one by one, so that their rows are held once: a
    shard's, cut whole, were held twice (2.3M TCP rows: 380 MB more)."""
    batches = -(-sum(part.height for part in parts) // BATCH_ROWS)
    if batches <= 1:
        whole = pl.concat(parts, rechunk=False)
        parts.clear()  # let go as the cut parts are: the batch alone holds them
        return [whole]
    cut: list[list[pl.DataFrame]] = [[] for _ in range(batches)]
    while parts:
        part = parts.pop(0)
        batch = part.select(key % batches).to_series()
        if batch.n_unique() == 1:  # a part of one batch (one long connection's) is not copied
            cut[int(batch[0])].append(part)
            continue
        pieces = part.with_columns(batch.alias("_batch")).partition_by(
            "_batch", as_dict=True, maintain_order=True, include_key=False)
        for (index,), piece in pieces.items():
            cut[int(str(index))].append(piece)
    return [pl.concat(pieces, rechunk=False) for pieces in cut if pieces]


def tcp_batches(parts: list[pl.DataFrame]) -> list[pl.DataFrame]:
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
    pair = _endpoint("src", "sport") ^ _endpoint("dst", "dport")
    return batched(parts, (pair ^ pl.struct(VIEW_KEY).hash(SEED)).hash(SEED))


def conn_batches(parts: list[pl.DataFrame]) -> list[pl.DataFrame]:
    """A shard's packets for the per-connection detectors (with their `conn`), as read, in
    batches of whole connections: the detectors work connection by connection, as they do
    shard by shard (2.3M rows at once took 263 MB)."""
    return batched(parts, pl.col("conn"))


def conn_shard(shards: int) -> pl.Expr:
    """The shard of a connection's rows, once its shared id (`conn`) is known."""
    return (pl.col("conn") % shards).cast(pl.UInt32)


def dns_shard(shards: int) -> pl.Expr:
    """The shard of a DNS message: its client side (a response's destination)."""
    key = pl.when(pl.col("dns_qr")).then(_endpoint("dst", "dport")).otherwise(
        _endpoint("src", "sport"))
    return (key.hash(SEED) % shards).cast(pl.UInt32)


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

"""TCP connections: which packets belong together, who is the client, and one row per
connection per view (the CONNECTIONS table, `pcapkit/flows/schema.py`).

Rules, in order:

1. **Per view, per bidirectional 5-tuple.** Packets are grouped by view and by the unordered
   pair of (address, port) endpoints, in frame order. Only rows whose TCP header was decoded
   count (`tcp_flags` not null); later IP fragments have no ports and are left out.
2. **Port reuse.** Within a group, a new connection starts at a SYN (without ACK) whose
   sequence number differs from the group's previous SYN, or at a SYN after packets that had
   no SYN at all (a capture that started mid-stream, then a new connection). A repeated SYN
   with the same sequence number is a retransmission of the same attempt. This is Wireshark's
   rule (a SYN whose sequence differs from the conversation's base sequence starts a new
   conversation) and Zeek's (`IsReuse`) in the cases that occur in practice.
3. **Client and server.** The sender of the connection's first SYN is the client; without
   one, the receiver of its first SYN-ACK; without either (mid-stream), the side with the
   higher port (so the lower, usually well-known, port is the server), and with equal ports
   the sender of the first packet. Zeek guesses mid-stream roles from a list of likely server
   ports instead; the two agree whenever the server's port is the lower one.
4. **One id across views and captures** (`shared_ids`). Rows of different views, or of one
   view, are the same connection when they share the client's ISN (from its SYN, or what the
   server's SYN-ACK, or RST refusing it, acknowledges) and either the client's (address, port)
   — which follows the connection through DNAT, since conntrack rewrites the server's address
   but not sequence numbers — or the server's (through SNAT); or the server's ISN and the
   client's (address, port). So one view may hold a connection under two 5-tuples: a bridge
   interface sees the request after DNAT and the reply before un-DNAT; the client sees the
   DNAT-return mismatch (its SYN to the ClusterIP, the pod's SYN-ACK from the pod IP). Rows
   with neither ISN (the capture started mid-connection) join rows of *other* views with the
   same 5-tuple whose time spans overlap.
   **Both ends rewritten** (a NodePort or LoadBalancer connection that kube-proxy DNATs to an
   endpoint and masquerades, with `externalTrafficPolicy: Cluster`, to the node's own or its
   `flannel.1` address; a pod reaching itself through its Service): no address or port is
   left in common, only what NAT never touches: the client's ISN and its SYN's IP id. Rows
   sharing both, whose first packets lie within `NAT_WINDOW_NS` of each other, are one
   connection (`_nat_stitches`). Such a stitch joins at most `NAT_LEGS` connections, and
   never two that hold the same client address: a scanner or flood that sends one fixed
   sequence number and IP id to many ports stays many connections.
5. **Copies within a view.** A packet seen again in the same connection (same sender,
   sequence, acknowledgement, flags, length and IP id, less than `COPY_WINDOW_NS` later,
   `pcapkit.flows.views.repeated`: a bridge capture shows each packet entering from one port
   and leaving by another; a Linux cooked v1 `-i any` capture shows it once per interface it
   crossed, other packets of the connection possibly in between) is one packet: the later ones
   are marked `copy` and left out of the connection's counts and of the per-segment analysis.
   tshark, reading that interface, calls them retransmissions. (The same packet under another
   5-tuple of the view, before or after a NAT, is left to `first_copies`: it is a connection
   row of its own here.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.codes import TcpFlags
from pcapkit.flows.components import components
from pcapkit.flows.conn_state import zeek_state_and_history
from pcapkit.flows.ordering import gathered, in_order, lexsorted, packed, same_as_previous
from pcapkit.flows.runs import Maybe, Runs, values
from pcapkit.flows.schema import CONNECTIONS
from pcapkit.flows.views import repeated

SYN, ACK, FIN, RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
PAIR = ["a_ip", "a_port", "b_ip", "b_port"]
#: how close in time (first packets, each on its capture's clock) the legs of one connection
#: across a NAT that rewrote both ends must be: the same SYN crosses a node in microseconds,
#: and this leaves room for captures whose clocks are up to a second apart (rule 4)
NAT_WINDOW_NS = 2_000_000_000
#: the most connections one NAT stitch joins: pre-NAT, post-NAT, and one more NAT on the way
NAT_LEGS = 3
#: the packet columns `tcp_segments` keeps, `row` being the packet's position
SEGMENT_COLUMNS = ["row", "view", "capture", "frame", "ts_ns", "src", "dst", "sport", "dport",
                   "tcp_flags", "tcp_seq", "tcp_ack", "tcp_win", "tcp_wscale", "payload_len",
                   "ip_id", "ip_ttl"]
#: what makes a packet the same packet again within a connection (rule 5)
COPY_KEY = ["src", "sport", "tcp_seq", "tcp_ack", "tcp_flags", "payload_len", "ip_id"]

_flags = pl.col("tcp_flags")
IS_SYN = (_flags & (SYN | ACK)) == SYN
IS_SYNACK = (_flags & (SYN | ACK)) == (SYN | ACK)
IS_FIN = (_flags & FIN) != 0
IS_RST = (_flags & RST) != 0


def tcp_segments(packets: pl.DataFrame) -> pl.DataFrame:
    """The TCP rows of a packet table (with `view`), split into per-view connections.

    Columns: `row` (position in `packets`), `lconn` (connection within its view, 0-based and
    dense over all views), `from_client`, `copy` (rule 5), and the packet columns the flow stage
    needs, sorted by (lconn, row). `src` and `dst` are an Enum of the table's addresses (whose
    categories differ from one table to the next: cast them to text to compare them across).
    """
    segs = packets.with_row_index("row").select(SEGMENT_COLUMNS)
    # Let go of: when the caller holds no other reference, the packets' columns go with the
    # unsorted `segs` below (a 5M-packet connection's batch: 400 MB).
    del packets
    tcp = segs.select(_flags.is_not_null() & pl.col("sport").is_not_null()).to_series()
    if not tcp.all():  # a flows job's rows are all TCP: not copied by a filter that keeps all
        segs = segs.filter(tcp)
    segs = paired(segs)
    # Rows come in `row` order: a stable sort by the group keeps it within each group. A batch
    # already in that order (one long connection's) is not sorted, only put in one chunk.
    words = packed(segs, ["view", *PAIR], nulls_last=False)
    order = None if in_order(words) else lexsorted(words)
    del words
    unsorted = segs.get_columns()
    del segs
    segs = gathered(unsorted, order)
    del order
    segs = segs.with_columns(lconn=pl.Series(_lconn(segs), dtype=pl.UInt32))
    # Rule 5: the same packet again in the same connection. A connection's rows come in the
    # order of `row`, which is capture order: they are compared in it, without a key of their
    # captures and frames to check it by (one connection of 10M packets: 80 MB).
    copy = pl.Series(repeated(segs, ["lconn", *COPY_KEY], within=()))
    return with_sides(segs, clients(segs), copy)


def paired(segs: pl.DataFrame) -> pl.DataFrame:
    """`segs` with their pair of endpoints ordered (`PAIR`), the addresses as codes in their
    text order (an Enum of the rows' addresses), so that the pair is ordered and sorted as the
    text would be, at the cost of integers; and kept so: 8 bytes a row, not the text's 32,
    through the sort and rule 5 and in the segments given back (a 5M-packet connection: 120
    MB). (As text: a flows job reads them as categories, `pcapkit.engine.tasks.TCP_SCHEMA`.)"""
    text = pl.concat([segs["src"].unique(), segs["dst"].unique()]).cast(pl.String)
    text = text.unique().sort()
    codes = pl.Enum(text)
    segs = segs.with_columns(pl.col("src", "dst").cast(codes))
    src, dst = pl.col("src").to_physical(), pl.col("dst").to_physical()
    a_is_src = (src < dst) | ((src == dst) & (pl.col("sport") <= pl.col("dport")))
    return segs.with_columns(
        a_ip=pl.when(a_is_src).then(src).otherwise(dst),
        a_port=pl.when(a_is_src).then("sport").otherwise("dport"),
        b_ip=pl.when(a_is_src).then(dst).otherwise(src),
        b_port=pl.when(a_is_src).then("dport").otherwise("sport"),
    )


def clients(segs: pl.DataFrame) -> npt.NDArray[np.bool_]:
    """Rule 3: whether each connection's client is its pair's `a` end (by lconn; `segs` sorted
    by lconn, in row order within each, `paired`). Its first SYN and SYN-ACK, and its first
    row, are all it reads: the rows may be those alone."""
    return (segs.group_by("lconn", maintain_order=True).agg(_client_is_a())
            .to_series(1).to_numpy())


def with_sides(segs: pl.DataFrame, client_is_a: npt.NDArray[np.bool_],
               copy: pl.Series) -> pl.DataFrame:
    """The segments as `tcp_segments` gives them, with `from_client` (by their connection's
    `client_is_a`) and `copy`."""
    return segs.with_columns(
        from_client=pl.Series(client_is_a[segs["lconn"].to_numpy()]) == _sender_is_a(), copy=copy,
    ).select(*SEGMENT_COLUMNS, "lconn", "from_client", "copy")


def _lconn(segs: pl.DataFrame) -> npt.NDArray[np.uint32]:
    """Rules 1 and 2: each row's connection within its view, numbered from 0; `segs` sorted by
    view and pair, in row order within each. Rule 2 is weighed at the SYNs alone (few), each
    against the SYN before it: arrays of the rows' length, a 5M-packet connection's 40 MB
    each, were several times the table's own columns."""
    n = segs.height
    # Rule 1: a group is one view's bidirectional 5-tuple.
    starts = np.ones(n, np.bool_)
    for name in ["view", *PAIR]:
        col = segs[name].to_numpy()
        starts[1:] &= col[1:] == col[:-1]
    starts[1:] = ~starts[1:]
    # Rule 2: a SYN starts a connection unless the SYN before it is in its group, with the
    # same sequence number.
    syns = np.flatnonzero(segs.select(IS_SYN).to_series().to_numpy())
    before = np.concatenate([[-1], syns])[:len(syns)]  # the SYN before each, -1 for none
    groups = np.flatnonzero(starts)
    group_start = groups[np.searchsorted(groups, syns, side="right") - 1]
    seq = segs["tcp_seq"].to_numpy()
    starts[syns[(before < group_start) | (seq[syns] != seq[np.maximum(before, 0)])]] = True
    lconn = np.cumsum(starts, dtype=np.uint32)
    lconn -= np.uint32(1)  # the first row starts a group: no row is left at -1
    return lconn


def _sender_is_a() -> pl.Expr:
    return (pl.col("src").to_physical() == pl.col("a_ip")) & (pl.col("sport") == pl.col("a_port"))


def _client_is_a() -> pl.Expr:
    """Rule 3, evaluated per connection (an aggregation by `lconn`)."""
    sender_a = _sender_is_a()
    syn_from_a = sender_a.filter(IS_SYN).first()
    synack_from_a = sender_a.filter(IS_SYNACK).first()
    a_port, b_port = pl.col("a_port").first(), pl.col("b_port").first()
    return (
        pl.when(syn_from_a.is_not_null())
        .then(syn_from_a)
        .when(synack_from_a.is_not_null())
        .then(~synack_from_a)
        .when(a_port != b_port)
        .then(a_port > b_port)
        .otherwise(sender_a.first())
    )


#: `connection_rows`' columns (in another order): what the engine spills of each shard
CONNECTION_ROWS = pl.Schema({"lconn": pl.UInt32, "syn_ip_id": pl.UInt32} | {
    name: dtype for name, dtype in CONNECTIONS.items() if name != "conn"})


def connection_rows(segs: pl.DataFrame, compiled: bool | None = None) -> pl.DataFrame:
    """One row per (lconn), with every CONNECTIONS column but `conn`, plus `lconn` and
    `syn_ip_id` (the IP id of the client's first SYN, for `shared_ids`).

    `segs` is sorted by lconn, so each connection's rows are one run: every column is a numpy
    reduction over the runs (`pcapkit.flows.runs`), not a group-by over the rows. `compiled` as in
    `pcapkit.flows.build_tables`."""
    runs = Runs(segs["lconn"].to_numpy())
    shake = handshakes(runs, segs)
    states, histories = zeek_state_and_history(
        lconn=segs["lconn"].to_numpy(),
        from_client=segs["from_client"].to_numpy(),
        flags=segs["tcp_flags"].to_numpy(),
        seq=segs["tcp_seq"].to_numpy(),
        payload=segs["payload_len"].fill_null(0).to_numpy(),
        n_conns=len(runs.starts),
        compiled=compiled,
    )
    return assembled(tallies(runs, segs, shake), shake, states, histories)


@dataclass(frozen=True)
class Handshake:
    """What each connection's SYNs and SYN-ACKs say (one value per connection)."""

    synack_ts: Maybe  #: the server's first SYN-ACK's time
    server_isn: Maybe  #: ... its sequence number
    synack_ack: Maybe  #: ... and its acknowledgement
    last_syn_ts: Maybe  #: the client's last SYN up to it
    client_isn: Maybe  #: the client's first SYN's sequence number
    syn_ip_id: Maybe  #: ... and its IP id

    def at(self, conns: npt.NDArray[np.int64]) -> Handshake:
        """The values of connections `conns` (positions in these)."""
        return Handshake(*(Maybe(m.values[conns], m.valid[conns]) for m in
                           (getattr(self, f.name) for f in dataclasses.fields(self))))


def handshakes(runs: Runs, segs: pl.DataFrame) -> Handshake:
    """The `Handshake` of each run of `segs` (rows sorted by lconn, copies left out): SYNs and
    SYN-ACKs alone are all it reads, so the rows may be those alone."""
    flags = segs["tcp_flags"].to_numpy()
    c2s = segs["from_client"].to_numpy()
    ts = segs["ts_ns"].to_numpy()
    syn = ((flags & (SYN | ACK)) == SYN) & c2s
    first_synack = runs.first(((flags & (SYN | ACK)) == (SYN | ACK)) & ~c2s)
    synack_ts = runs.at(segs["ts_ns"], first_synack)
    # The client's last SYN up to the SYN-ACK, as a flag a row: the time spread over the rows
    # (64 bits a row) is let go at once (one connection of 10M packets: the peak of this
    # function 70 MB lower).
    row_synack_ts = runs.spread(synack_ts)
    upto_synack = row_synack_ts.valid & (ts <= row_synack_ts.values)
    del row_synack_ts
    first_syn = runs.first(syn)
    return Handshake(
        synack_ts=synack_ts, server_isn=runs.at(segs["tcp_seq"], first_synack),
        synack_ack=runs.at(segs["tcp_ack"], first_synack),
        last_syn_ts=runs.max(ts, syn & upto_synack),
        client_isn=runs.at(segs["tcp_seq"], first_syn), syn_ip_id=runs.at(segs["ip_id"], first_syn))


def tallies(runs: Runs, segs: pl.DataFrame, shake: Handshake) -> pl.DataFrame:
    """Per run of `segs` (rows sorted by lconn, copies left out), what adds up over its rows:
    its view and ends, first and last times and first frame, counts and bytes, the time of
    the client's first ACK of the SYN-ACK `shake` says (`ack_ts`), and the acknowledgement of
    the server's first RST (`rst_ack`). Over slices of a connection's rows, the slices' rows
    add up to the whole's (`pcapkit.flows.sliced`)."""
    flags = segs["tcp_flags"].to_numpy()
    c2s = segs["from_client"].to_numpy()
    s2c = ~c2s
    ts = segs["ts_ns"].to_numpy()
    syn = (flags & (SYN | ACK)) == SYN
    synack = (flags & (SYN | ACK)) == (SYN | ACK)
    fin, rst = (flags & FIN) != 0, (flags & RST) != 0
    payload = segs["payload_len"].fill_null(0).to_numpy()
    win = segs["tcp_win"]
    zero_win = (win.fill_null(1).to_numpy() == 0) & ((flags & (SYN | FIN | RST)) == 0)
    # The client's first ACK of the SYN-ACK: at or after it, acknowledging the server's ISN + 1.
    # The acknowledgement each row's connection awaits, on its every row, in 32 bits as the
    # ACKs are: in 64 bits, each ACK was copied into 64 bits too to be compared (~120 MB more).
    row_synack_ts = runs.spread(shake.synack_ts)
    from_synack = (row_synack_ts.valid & (ts >= row_synack_ts.values)
                   & np.repeat(shake.server_isn.valid, runs.sizes))
    del row_synack_ts
    awaited = np.repeat(((shake.server_isn.values + 1) % (1 << 32)).astype(np.uint32),
                        runs.sizes)
    ack = segs["tcp_ack"]
    handshake_ack = (
        c2s & ((flags & (SYN | ACK | RST)) == ACK) & from_synack
        & ack.is_not_null().to_numpy() & (ack.fill_null(0).to_numpy() == awaited)
    )
    del awaited, from_synack
    first = runs.starts
    client_side = pl.Series(c2s[first])
    at_first = segs[first].with_columns(pl.col("src", "dst").cast(pl.String))
    return pl.DataFrame({
        "lconn": at_first["lconn"], "view": at_first["view"], "capture": at_first["capture"],
    }).with_columns(
        client_ip=pl.when(client_side).then(at_first["src"]).otherwise(at_first["dst"]),
        client_port=pl.when(client_side).then(at_first["sport"]).otherwise(at_first["dport"]),
        server_ip=pl.when(client_side).then(at_first["dst"]).otherwise(at_first["src"]),
        server_port=pl.when(client_side).then(at_first["dport"]).otherwise(at_first["sport"]),
    ).with_columns(
        first_ts_ns=pl.Series(np.minimum.reduceat(ts, first) if len(first) else ts[:0]),
        last_ts_ns=pl.Series(np.maximum.reduceat(ts, first) if len(first) else ts[:0]),
        first_frame=at_first["frame"],
        packets_c2s=runs.count(c2s), packets_s2c=runs.count(s2c),
        bytes_c2s=runs.total(np.where(c2s, payload, 0)),
        bytes_s2c=runs.total(np.where(s2c, payload, 0)),
        syn_count=runs.count(syn & c2s), synack_count=runs.count(synack & s2c),
        fin_from_client=runs.count(fin & c2s), fin_from_server=runs.count(fin & s2c),
        rst_from_client=runs.count(rst & c2s), rst_from_server=runs.count(rst & s2c),
        zero_win_c2s=runs.count(zero_win & c2s), zero_win_s2c=runs.count(zero_win & s2c),
        ack_ts=runs.min(ts, handshake_ack).series(pl.Int64()),
        rst_ack=runs.at(ack, runs.first(rst & s2c & ((flags & ACK) != 0))).series(pl.Int64()),
    )


def assembled(tallied: pl.DataFrame, shake: Handshake, states: list[str],
              histories: list[str]) -> pl.DataFrame:
    """CONNECTION_ROWS (in another order) of connections' `tallies`, their `Handshake` and
    Zeek's state and history of each."""
    ack_ts = values(tallied["ack_ts"])
    return tallied.drop("ack_ts", "rst_ack").with_columns(
        client_isn=shake.client_isn.series(pl.UInt32()),
        syn_ip_id=shake.syn_ip_id.series(pl.UInt32()),
        server_isn=shake.server_isn.series(pl.UInt32()),
        answer_ack=shake.synack_ack.otherwise(values(tallied["rst_ack"])).series(pl.UInt32()),
        syn_synack_ns=shake.synack_ts.minus(shake.last_syn_ts).series(pl.Int64()),
        synack_ack_ns=ack_ts.minus(shake.synack_ts).series(pl.Int64()),
        conn_state=pl.Series(states, dtype=CONNECTIONS["conn_state"]),
        history=pl.Series(histories, dtype=pl.String),
    )


def shared_ids(rows: pl.DataFrame) -> npt.NDArray[np.uint32]:
    """Rule 4: a `conn` id for each row of `rows` (indexed by `lconn`), shared across views.

    Ids are dense, numbered in order of each connection's first packet."""
    # The client's ISN as this row knows it: its SYN's, else what the server's answer to it
    # (SYN-ACK, or RST refusing it) acknowledges.
    keyed = rows.with_columns(
        isn=pl.coalesce("client_isn", (pl.col("answer_ack").cast(pl.Int64) - 1) % (1 << 32))
    )
    strong = components(keyed, (
        ["client_ip", "client_port", "isn"],
        ["server_ip", "server_port", "isn"],
        ["client_ip", "client_port", "server_isn"],
    ))
    root = _weak_merges(keyed, _nat_stitches(keyed, strong))
    # Dense ids in order of each connection's earliest (capture, frame).
    position = pl.col("capture").cast(pl.Int64) * (1 << 32) + pl.col("first_frame")
    order = rows.select(root=pl.Series(root), position=position).with_columns(
        first=pl.col("position").min().over("root"))
    return (order["first"].rank("dense").cast(pl.Int64) - 1).cast(pl.UInt32).to_numpy()


def _nat_stitches(keyed: pl.DataFrame, strong: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """`strong` with the legs of connections whose both ends a NAT rewrote joined (rule 4).

    The legs share the client's ISN and its SYN's IP id, and their first packets lie within
    `NAT_WINDOW_NS`: two bucketings of time, the second shifted by half a window, put any two
    rows less than half a window apart into one bucket of at least one of them, and rows a
    window or more apart into none. Only rows whose (ISN, IP id) more than one strong
    component holds take part: the NATed connections, a few of the rows."""
    half = NAT_WINDOW_NS // 2
    taking_part = _sent_by_several(keyed, strong)
    if not len(taking_part):
        return strong
    rows = keyed[taking_part].select(
        "client_ip", *SENT, strong=pl.Series(strong[taking_part]),
        early=pl.col("first_ts_ns") // NAT_WINDOW_NS,
        late=(pl.col("first_ts_ns") + half) // NAT_WINDOW_NS,
    )
    stitches, keys = [pl.col("strong")], [["strong"]]
    for bucket in ("early", "late"):
        key = [*SENT, bucket]
        # A client address in two of the stitch's connections: not one connection's legs.
        fits = rows.group_by(key).agg(
            legs=pl.col("strong").n_unique(),
            alone=pl.struct("client_ip", "strong").n_unique() == pl.col("client_ip").n_unique(),
        ).filter((pl.col("legs") > 1) & (pl.col("legs") <= NAT_LEGS) & pl.col("alone"))
        rows = rows.join(fits.select(*key, pl.lit(True).alias(f"{bucket}_fits")), on=key,
                         how="left")
        ok = pl.col(f"{bucket}_fits").fill_null(False)
        stitches += [pl.when(ok).then(pl.col(k)).alias(f"{bucket}_{k}") for k in key]
        keys.append([f"{bucket}_{k}" for k in key])
    stitched = rows.select(stitches)
    joined = stitched["strong"].to_numpy()[components(stitched, keys)]
    # Every row of a strong component that took part takes its stitch's label.
    label = np.arange(len(strong), dtype=np.int64)
    label[stitched["strong"].to_numpy()] = joined
    return label[strong]


#: what a connection's legs on both sides of a NAT share: the client's ISN and its SYN's IP id
SENT = ["isn", "syn_ip_id"]


def _sent_by_several(keyed: pl.DataFrame, strong: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The rows, in order, whose `SENT` more than one strong component (`strong`) holds. Sorted
    by the columns packed into words: the distinct (ISN, IP id, component) of every row, as a
    frame, held +187 MB over the 1.26M per-view rows of 20M DNS-heavy packets, this +66."""
    whole = keyed.select(pl.all_horizontal(pl.col(k).is_not_null() for k in SENT)).to_series()
    index = np.flatnonzero(whole.to_numpy())
    if not len(index):
        return index
    rows = keyed.select(SENT).filter(whole).with_columns(strong=pl.Series(strong[index]))
    words = packed(rows, [*SENT, "strong"])
    order = lexsorted(words)
    # in that order: a row of the same (ISN, IP id) as the one before it, of another component
    same = np.concatenate([[False], same_as_previous(packed(rows, SENT), order)])
    other = same & np.concatenate([[True], ~same_as_previous(words, order)])
    group = np.cumsum(~same) - 1
    several = np.zeros(group[-1] + 1, np.bool_)
    several[group[other]] = True
    return np.sort(index[order[several[group]]])


def _weak_merges(keyed: pl.DataFrame, strong: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """`strong` (each row's strong component) with the weak merges made: rows with neither ISN
    join rows of *other* views with the same 5-tuple (either orientation) whose time spans
    overlap. Few rows take part, so this is plain Python over them alone."""
    weak = pl.col("isn").is_null() & pl.col("server_isn").is_null()
    if not keyed.select(weak.any()).item():  # the endpoints of every row as strings: skipped
        return strong
    ends = keyed.select(
        "first_ts_ns", "last_ts_ns", "view", strong=pl.Series(strong), weak=weak,
        lo=pl.min_horizontal(_endpoint("client"), _endpoint("server")),
        hi=pl.max_horizontal(_endpoint("client"), _endpoint("server")),
    ).with_row_index("lconn").filter(pl.col("weak").any().over("lo", "hi"))
    if not ends.height:
        return strong
    # Each strong component's views, for the components that take part.
    involved = pl.DataFrame({"strong": strong, "view": keyed["view"]}).filter(
        pl.col("strong").is_in(ends["strong"].unique().implode()))
    views = {c: set(v) for c, v in involved.group_by("strong").agg(pl.col("view").unique())
             .iter_rows()}
    merger = _Merger(views)
    for group in ends.partition_by("lo", "hi"):
        spans = group.select("strong", "first_ts_ns", "last_ts_ns", "weak").rows()
        for i, (a, first_a, last_a, weak_a) in enumerate(spans):
            for b, first_b, last_b, weak_b in spans[:i]:
                if (weak_a or weak_b) and first_a <= last_b and first_b <= last_a:
                    merger.union(b, a)
    return np.array([merger.find(int(c)) for c in strong], dtype=np.int64) if merger.merged \
        else strong


def _endpoint(side: str) -> pl.Expr:
    port = pl.col(f"{side}_port").cast(pl.String)
    return pl.concat_str(pl.col(f"{side}_ip"), port, separator="|")


class _Merger:
    """Union-find over strong components; a merge refuses to join two components that hold
    rows of one view."""

    def __init__(self, views: dict[int, set[int]]) -> None:
        self.parent = {c: c for c in views}
        self.views = views
        self.merged = False

    def find(self, c: int) -> int:
        root = c
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while c != root:  # path compression
            self.parent[c], c = root, self.parent[c]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb and not self.views[ra] & self.views[rb]:
            self.parent[rb] = ra
            self.views[ra] |= self.views[rb]
            self.merged = True

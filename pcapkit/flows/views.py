"""Views: the places where each packet is seen at most once.

A pod's capture is one view. A node's `tcpdump -i any` (LINUX_SLL2) shows one packet once per
interface it crossed (the pod's veth, cni0, flannel.1, and eth0 VXLAN-encapsulated, which
decodes to the same inner packet), so each interface index is its own view. A pcapng file's
interfaces are views too. Per-segment analysis compares packets only within a view.

A Linux cooked v1 capture (LINUX_SLL: `dumpcap -i any`, `tshark -i any`, Wireshark's "any") has
no interface index, and nothing else in its header tells the interfaces apart: the packet type
and source link address are the same on a pod's veth and on the bridge it enters (both "host",
the pod's MAC), and on the bridge and the veth it leaves by (both "outgoing", the bridge's
MAC); and splitting by them would put the two directions of one interface in two views. What
does tell interfaces apart, in any capture, is encapsulation: a packet seen inside VXLAN,
Geneve, GRE or IP-in-IP was on an underlay interface, the same packet seen bare on another
(the tunnel device, a bridge, a veth), so a view's encapsulated packets are a view of their own
(`tunnel` in the key). Otherwise a v1 interface is one view, in which a packet is seen once per
interface it crossed. Those
copies are told apart from resends by `seen_again`: the same packet (for TCP, the same sender,
sequence, acknowledgement, flags, length and IP id) again within `COPY_WINDOW_NS`. TCP
(`pcapkit.flows.tcp`, rule 5, and `first_copies` for the detectors), DNS and ICMP errors leave
the copies out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.decode.schema import SEEN_AT, empty_packets
from pcapkit.flows.kept import kept
from pcapkit.flows.ordering import packed, previous_rows
from pcapkit.flows.schema import DNS_VIEW_ROWS, VIEW_SOURCES, VIEWS
from pcapkit.flows.tally import packets_where, tally
from pcapkit.read.records import Direction

VIEW_KEY = SEEN_AT

#: Copies of one packet on a host's interfaces are microseconds apart. Nothing is sent again
#: this soon: TCP's minimum RTO is 200 ms and a fast retransmission waits for three duplicate
#: ACKs (and carries a new IPv4 id), a resolver waits a second or more before asking again.
COPY_WINDOW_NS = 1_000_000
#: what makes a TCP packet of a connection the same packet again (its IPv4 id and segment; the
#: addresses and ports are not compared: DNAT and SNAT change them between interfaces)
TCP_COPY_KEY = ["from_client", "tcp_seq", "tcp_ack", "tcp_flags", "payload_len", "ip_id"]
#: SLL packet type: received, addressed to another host's link address
OTHERHOST = 3
#: the first seed `with_views` hashes view keys with
SEED = 0x5649_4557


def add_views(packets: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The packets with a `view` column, the VIEWS table and the VIEW_SOURCES table."""
    kinds = tally(packets)
    views = views_table([view_counts(kinds)])
    return with_views(packets, views), views, sources_table([source_counts(kinds)], views)


def view_counts(kinds: pl.DataFrame) -> pl.DataFrame:
    """Packets per view key of a `tally`, with the view's link type: what `views_table` adds
    up."""
    return kinds.group_by(VIEW_KEY, maintain_order=True).agg(
        pl.col("link_type").first(), packets=pl.col("n").sum(),
        tunneled=packets_where(pl.col("tunnel").is_not_null()),
        other_host=packets_where((pl.col("sll_pkttype") == OTHERHOST)
                                 & pl.col("src").is_not_null()))


def views_table(counts: list[pl.DataFrame]) -> pl.DataFrame:
    """The VIEWS table from `view_counts` of every part of the packets, in packet order."""
    return (
        pl.concat(counts or [view_counts(tally(empty_packets()))])
        .group_by(VIEW_KEY, maintain_order=True)
        .agg(pl.col("link_type").first(), pl.col("packets", "tunneled", "other_host").sum())
        .sort(VIEW_KEY, nulls_last=False)
        .with_row_index("view")
        .select(VIEWS.names())
        .cast(VIEWS)
    )


def source_counts(kinds: pl.DataFrame) -> pl.DataFrame:
    """Unencapsulated IP packets of a `tally` per view key, direction, source and destination:
    what `sources_table` adds up (only where the capture records directions)."""
    known = pl.col("direction").is_in([Direction.INBOUND, Direction.OUTBOUND])
    return (kinds.filter(pl.col("tunnel").is_null() & pl.col("src").is_not_null() & known)
            .group_by(*VIEW_KEY, "direction", "src", "dst").agg(pl.col("n").sum().alias("packets")))


def sources_table(counts: list[pl.DataFrame], views: pl.DataFrame) -> pl.DataFrame:
    """The VIEW_SOURCES table from `source_counts` of every part of the packets."""
    parts = counts or [source_counts(tally(empty_packets()))]
    summed = pl.concat(parts).group_by(*VIEW_KEY, "direction", "src", "dst").agg(
        pl.col("packets").sum())
    return (with_views(summed, views).select(VIEW_SOURCES.names()).cast(VIEW_SOURCES)
            .sort("view", "direction", "src", "dst"))


def dns_views_table(rows: list[pl.DataFrame], views: pl.DataFrame) -> pl.DataFrame:
    """DNS_VIEW_ROWS from `pcapkit.flows.dns.view_rows` of parts of the packets whose DNS client
    sides do not overlap."""
    return (with_views(pl.concat(rows), views).select(DNS_VIEW_ROWS.names()).cast(DNS_VIEW_ROWS)
            .sort("client_ip", "client_port", "view", "server_ip", "server_port", "proto"))


def with_views(packets: pl.DataFrame, views: pl.DataFrame) -> pl.DataFrame:
    """The packets with the `view` column of their view key (every packet's key is one of
    `views`': they were counted from these packets, or from all of which these are some).

    Each key is hashed (sll_ifindex is null for every link type but LINUX_SLL2, tunnel for
    packets not encapsulated: nulls hash alike) and the hash looked up among the views': a
    packet's hash is its own view's, and the views' hashes are told apart (another seed, were
    two alike), so each packet finds its view. A left join of the keys on the views held ~100
    bytes a packet more at once (a 5M-packet connection's batch: 480 MB) and took 5x longer
    (30 ns a packet against 150 ns)."""
    keys = views.select(pl.col(k).cast(packets.schema[k]) for k in VIEW_KEY)
    # Bounded: views that share a key (which `views_table` never makes) would never be told
    # apart, and the run would hang on them.
    for seed in range(SEED, SEED + 8):
        hashes = keys.select(pl.struct(VIEW_KEY).hash(seed)).to_series()
        if hashes.n_unique() == len(hashes):
            break
    else:
        raise ValueError("with_views: two views have one key")
    view = packets.select(pl.struct(VIEW_KEY).hash(seed).replace_strict(
        hashes, views["view"], return_dtype=views.schema["view"]).alias("view"))
    return packets.with_columns(view.to_series())


def seen_again(key: list[str]) -> pl.Expr:
    """True for a row whose `key` the row before it in the same `key` had less than
    `COPY_WINDOW_NS` earlier: a copy of that packet. The rows of each key must be in capture
    order (a `-i any` capture's timestamps may step back a little between CPUs: the gap is
    taken either way)."""
    gap = (pl.col("ts_ns") - pl.col("ts_ns").shift(1)).over(key).abs()
    return (gap < COPY_WINDOW_NS).fill_null(False)


def tcp_copies(packets: pl.DataFrame) -> pl.Series:
    """For each row of `packets`, whether it is a copy of a TCP packet of its connection seen
    earlier in the same view (`TCP_COPY_KEY`, `seen_again`), whichever 5-tuple it was seen
    under. One view of a v1 capture holds a connection under two 5-tuples when a node rewrites
    it (a pod's veth sees the ClusterIP, the underlay the pod behind it): each keeps its own
    packets for the per-segment analysis, but each packet counts once. Needs `conn`, `alone`
    (`alone_in_view` of the row's per-view connection), `copy` (rule 5 of
    `pcapkit.flows.tcp`), `from_client`, `capture`, `frame`; rows without a `conn` are not
    copies.

    A row `alone` in its view is a copy as rule 5 says: the packets it is compared with are
    its own 5-tuple's, and the sender's address and port say what `from_client` says. Only the
    others are compared again: on a node's capture, every packet of a connection that crossed
    a DNAT was compared twice, a hash pass over every TCP packet (bulk TCP: 7 % of the run)."""
    copies = packets["copy"].to_numpy().copy()
    shared = ~packets["alone"].to_numpy()
    if shared.any():
        part = packets.filter(pl.Series(shared))
        key = ["conn", "view", *TCP_COPY_KEY]
        copies[shared] = repeated(part, key) & part["conn"].is_not_null().to_numpy()
    return pl.Series("copy", copies)


def alone_in_view(rows: pl.DataFrame, conn_of_lconn: npt.NDArray[np.uint32]
                  ) -> npt.NDArray[np.bool_]:
    """For each per-view connection row (`pcapkit.flows.tcp.connection_rows`, in `lconn`
    order) whose shared id is `conn_of_lconn`'s, whether it is its connection's only row in
    its view: then rule 5's copies are `tcp_copies`'. (Within one 5-tuple, `from_client` is
    the sender's side of the pair, as the sender's address and port are; on a socket connected
    to itself both are the same on every packet.)"""
    # (conn, view) packed into words (one), whose uniqueness is one hash of them: a count
    # over the two (a window) held +126 MB over the 1.23M rows of 20M DNS-heavy packets
    words = packed(pl.DataFrame({"conn": conn_of_lconn, "view": rows["view"]}),
                   ["conn", "view"], ordered=False)
    return pl.DataFrame(list(words)).is_unique().to_numpy()


def repeated(rows: pl.DataFrame, key: list[str],
             within: Sequence[str] = ("capture", "frame")) -> npt.NDArray[np.bool_]:
    """`seen_again` on a frame in any order, as one array: each row compared with the row
    before it of its key in the order of `within` (capture order by default; none: the
    rows' own order), found by `previous_rows` (cheaper than a window over many key columns,
    on a busy capture's every TCP packet)."""
    previous = previous_rows(packed(rows, key, ordered=False), packed(rows, within))
    ts = rows["ts_ns"].to_numpy()
    found = previous >= 0
    # in place: each temporary is an array of the rows' length
    gap = ts[found]
    gap -= ts[previous[found]]
    del previous
    np.abs(gap, out=gap)
    found[found] = gap < COPY_WINDOW_NS
    return found


def first_copies(packets: pl.DataFrame) -> pl.DataFrame:
    """The packets without the TCP copies (`tcp_copies`), and without the columns that say
    which they are. The packets themselves when none is a copy (a connection seen in one view
    alone): filtered, a connection of 10M packets was copied whole, ~450 MB."""
    return kept(packets, ~tcp_copies(packets)).drop("copy", "alone")

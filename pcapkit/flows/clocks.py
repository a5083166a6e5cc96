"""Capture clocks: how far each capture's clock is from the first capture's.

Captures from different nodes are stamped by different clocks, off by milliseconds to seconds.
Wherever captures are ordered or compared (a connection's legs, the places along its path, an
ICMP error and the packet it answers), timestamps are first brought onto the first capture's
clock by subtracting each capture's offset.

**Same packet.** A packet seen in two captures is provably the same packet when its inner
5-tuple, IP id, TCP sequence, acknowledgement, flags and payload length agree (`KEY`: NAT changes
the 5-tuple, so only copies on the same side of a NAT match), and each capture saw it only once:
its copies on several interfaces of one capture (a node's `-i any` shows one packet on the veth,
the bridge, the VXLAN device and the NIC) lie within `ONE_PASSAGE_NS` of each other. A key seen
twice further apart in one capture (a resent query with the same id) proves nothing there.

**Offset.** For two captures, the difference of their earliest sightings of each matched packet,
split by the packet's direction of travel (from the lower or the higher endpoint): the median of
each direction, and the mean of the two medians when both exist, so that the one-way delay
cancels when it is the same both ways (NTP's assumption); with one direction only, its median
(off by the one-way delay, microseconds on a cluster network). Medians, because a few false
matches (two resends each seen once) must not move the result.

**Chaining.** Offsets are chained from the first capture along the pairs with the most matched
packets (a maximum spanning tree). A capture sharing no packet with the first one's group is
aligned with its own group (for comparisons within it) and has no offset to report.

**Sampling.** Every TCP SYN and SYN-ACK (each connection's first packets, that every place on
its path sees), every ICMP echo request and reply (their identifier and sequence number stand
for the ports: a ping alone is enough to match captures), and one in `SAMPLE_ONE_IN` of the
other TCP and UDP packets (chosen by a hash of
the key's numbers, so alike in every capture and every chunking): enough matches to take medians
from, few enough rows to gather from every chunk of a large capture.

**Bounded.** Sampled so, a capture's sightings grow with it: 25M packets of short connections
in two captures (every connection's SYN and SYN-ACK on three interfaces) gathered 4M of them,
and matching them took this process past 1.8 GB. So each capture keeps at most
`MOST_SIGHTINGS` distinct ones: past them, its sample is halved again and again (`bounded`),
each halving keeping the sightings whose hash has one more trailing zero bit, the control packets
ahead of the others (4 bits ahead: as kept at first, 16 times as likely). Which sightings a
capture keeps depends on all of its own, not on how they were cut into chunks nor in which
order they were merged: each row carries how far its capture's sample was cut (`floor`), which
only rises as parts merge, and never past the whole's (a part holds fewer sightings at any
level than the whole). A packet kept in one capture is
kept in any other whose sample is halved as often or less: the matches of two captures are the
packets their sparser sample keeps.

**Linking.** A capture that shares only a few packets with the others (a pod that sent a few DNS
queries) may share no sampled one: the sampled sightings leave it in a group of its own. Then
every DNS message seen in captures of two such groups (`links`) is matched too, for the pairs
across groups only: few rows however large the captures, since groups that shared many packets
would have shared sampled ones.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import polars as pl

from pcapkit.codes import TcpFlags

#: what makes two sightings the same packet
KEY = ["src", "sport", "dst", "dport", "ip_proto", "ip_id", "tcp_seq", "tcp_ack", "tcp_flags",
       "payload_len", "dns_id"]
#: copies of one packet in one capture lie this close (one passage through a node takes
#: microseconds; a retransmission waits 200 ms at least)
ONE_PASSAGE_NS = 10_000_000
SAMPLE_KEY = ["sport", "dport", "ip_id", "tcp_seq", "tcp_ack", "payload_len"]
SAMPLE_ONE_IN = 16
#: the distinct sightings a capture keeps at most (`bounded`): ~100 bytes each in memory, and
#: thousands of matches are plenty to take medians from
MOST_SIGHTINGS = 250_000
#: fixed, so that every process samples alike
SEED = 0x434C_4B53

#: DNS messages, as `links` gathers them
DNS = pl.col("dns_id").is_not_null() & pl.col("dns_qr").is_not_null()

SIGHTINGS = pl.Schema({
    "capture": pl.UInt16, "src": pl.String, "sport": pl.UInt16, "dst": pl.String,
    "dport": pl.UInt16, "ip_proto": pl.UInt8, "ip_id": pl.UInt32, "tcp_seq": pl.UInt32,
    "tcp_ack": pl.UInt32, "tcp_flags": pl.UInt16, "payload_len": pl.UInt32, "dns_id": pl.UInt16,
    "first_ns": pl.Int64, "last_ns": pl.Int64,
    #: the least `_depth` of a capture's sightings kept (`bounded`): 0 until its sample is cut
    "floor": pl.UInt8,
})
_CONTROL = int(TcpFlags.SYN)


def sightings(packets: pl.DataFrame) -> pl.DataFrame:
    """SIGHTINGS of a packet table (or a chunk of one): the sampled TCP/UDP packets, each key's
    earliest and latest copy per capture. Chunks' sightings add up with `merge_sightings`."""
    echo = pl.col("icmp_echo_id").is_not_null()
    keyed = packets.lazy().filter(
        (pl.col("sport").is_not_null() & pl.col("ip_proto").is_in([6, 17])) | echo
    ).with_columns(sport=pl.coalesce("sport", "icmp_echo_id"),
                   dport=pl.coalesce("dport", "icmp_echo_seq"))
    chosen = keyed.filter(_depth() >= _FIRST_LEVEL)  # the control packets, 1 in 16 others
    return bounded(_grouped(chosen.select("capture", *KEY, first_ns="ts_ns", last_ns="ts_ns",
                                          floor=pl.lit(0, pl.UInt8)).collect()))


#: the trailing zero bits of a sampled packet's hash: 4 for one in 16
_FIRST_LEVEL = SAMPLE_ONE_IN.bit_length() - 1


def _zeros() -> pl.Expr:
    """The trailing zero bits of a packet's sample hash: hashed by the key's numbers only, the
    same for every copy, and cheaper than its text."""
    return pl.struct(SAMPLE_KEY).hash(SEED).bitwise_trailing_zeros()


def _depth() -> pl.Expr:
    """How many halvings of the sample a sighting survives, plus `_FIRST_LEVEL`: its hash's
    trailing zero bits, 4 more for a control packet (a SYN or SYN-ACK; an echo request or
    reply, whose rows are neither TCP nor UDP)."""
    control = ((pl.col("tcp_flags") & _CONTROL) != 0).fill_null(False) | \
        ~pl.col("ip_proto").is_in([6, 17]).fill_null(False)
    return _zeros().cast(pl.Int64) + pl.when(control).then(_FIRST_LEVEL).otherwise(0)


def bounded(sights: pl.DataFrame) -> pl.DataFrame:
    """`sights` (distinct, as `_grouped` makes them) with each capture's sample halved as few
    times as leave it `MOST_SIGHTINGS` or fewer: those of depth (`_depth`) at or past its
    `floor`. A capture's floor only rises: rows merged from a part whose floor was lower are cut
    to the highest; then it rises past every depth at or past which there are more than
    `MOST_SIGHTINGS`. So the rows kept are those of depth at or past the floor the capture's
    whole sample would have, whatever parts they were merged from: a part's floor is never past
    the whole's (it holds fewer), and at or past the highest of the parts' floors the merge
    holds every row of the whole."""
    most = MOST_SIGHTINGS
    if sights.height <= most and not (sights["floor"] > 0).any():
        return sights  # no capture holds more, and none was cut
    depth = sights.select(_depth()).to_series()
    floor = sights.select(pl.col("floor").max().over("capture").cast(pl.Int64)).to_series()
    cut = sights.with_columns(floor=floor).filter(depth >= floor)
    depth = depth.filter(depth >= floor)
    # per capture and depth, how many; then, deepest first, how many are that deep or deeper
    counts = pl.DataFrame({"capture": cut["capture"], "depth": depth}).group_by(
        "capture", "depth").len().sort("capture", "depth", descending=[False, True]).with_columns(
        deeper=pl.col("len").cum_sum().over("capture"))
    over = counts.filter(pl.col("deeper") > most).group_by("capture").agg(
        past=pl.col("depth").max() + 1)
    if over.is_empty():
        return cut.with_columns(pl.col("floor").cast(pl.UInt8))
    raised = cut.select(pl.max_horizontal("floor", pl.col("capture").replace_strict(
        over["capture"], over["past"], default=0, return_dtype=pl.Int64))).to_series()
    return cut.with_columns(floor=raised.cast(pl.UInt8)).filter(depth >= raised)


#: the parts `merge_sightings` merges at once
_MERGED_AT_ONCE = 16


def merge_sightings(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The sightings of the whole from those of its parts, `bounded`. Merged a few at a time,
    each merge bounded, so that the parts' rows are never all held at once with their merge."""
    merged = pl.DataFrame(schema=SIGHTINGS)
    for start in range(0, len(parts), _MERGED_AT_ONCE):
        merged = bounded(_grouped(pl.concat([merged, *parts[start:start + _MERGED_AT_ONCE]])))
    return merged


def links(rows: pl.DataFrame, groups: list[int]) -> pl.DataFrame:
    """SIGHTINGS of the DNS messages in `rows` (a packet table, or its DNS rows) seen in
    captures of two groups (`Clocks.groups`): what links groups that sampling left apart. A
    message's copies share one shard of DNS rows (`pcapkit.engine.shards`), so the links of the
    shards add up to those of the whole. Keyed without TCP fields and payload length (DNS rows
    do not keep it; the DNS id and IP id tell messages apart)."""
    group = pl.col("capture").cast(pl.Int64).replace_strict(
        list(range(len(groups))), groups, default=-1, return_dtype=pl.Int64)
    dns = rows.filter(DNS).select(
        "capture", *(c if c in rows.columns else pl.lit(None).alias(c) for c in KEY),
        first_ns="ts_ns", last_ns="ts_ns", floor=pl.lit(0, pl.UInt8), group=group)
    dns = dns.with_columns(pl.lit(None).alias(c) for c in ("tcp_seq", "tcp_ack", "tcp_flags",
                                                            "payload_len")).cast(SIGHTINGS)
    shared = dns.group_by(KEY).agg(pl.col("group").n_unique()).filter(pl.col("group") > 1)
    return _grouped(dns.join(shared.select(KEY), on=KEY, how="semi", nulls_equal=True))


def _grouped(rows: pl.DataFrame) -> pl.DataFrame:
    return (rows.group_by("capture", *KEY)
            .agg(pl.col("first_ns").min(), pl.col("last_ns").max(), pl.col("floor").max())
            .select(SIGHTINGS.names()).cast(SIGHTINGS))


@dataclass(frozen=True)
class Clocks:
    """Each capture's clock, from its sightings (see the module docstring)."""

    #: the capture's clock minus the first capture's, ns (None: it shares no packet with the
    #: first capture's group)
    offsets: list[int | None]
    #: what to subtract from each capture's timestamps to bring them onto one clock: its offset
    #: from the first capture of its group (0 for a capture alone)
    shift: list[int]
    #: the first capture of each capture's group
    groups: list[int]

    @staticmethod
    def of(sights: pl.DataFrame, captures: int, linked: pl.DataFrame | None = None) -> Clocks:
        """From the sampled `sights`, and the `links` between the groups they leave."""
        pairs = pair_offsets(sights)
        if linked is not None:
            roots = pl.Series([root for _, root in _aligned(pairs, captures)])
            across = pair_offsets(linked).filter(
                pl.col("a").replace_strict(range(captures), roots, default=-1)
                != pl.col("b").replace_strict(range(captures), roots, default=-1))
            pairs = pl.concat([pairs, across]).sort("a", "b")
        aligned = _aligned(pairs, captures)
        return Clocks(offsets=[offset if root == 0 else None for offset, root in aligned],
                      shift=[offset for offset, _ in aligned],
                      groups=[root for _, root in aligned])

    def apart(self) -> bool:
        """Some captures are in groups of their own: `links` may join them."""
        return len(set(self.groups)) > 1


def with_clock(frame: pl.DataFrame, shift: list[int], *columns: str) -> pl.DataFrame:
    """`frame` with `shift[capture]` subtracted from the timestamp `columns`."""
    if not any(shift):
        return frame
    by_capture = pl.col("capture").cast(pl.Int64).replace_strict(
        list(range(len(shift))), shift, default=0, return_dtype=pl.Int64)
    return frame.with_columns((pl.col(c) - by_capture).alias(c) for c in columns)


def _aligned(pairs: pl.DataFrame, captures: int) -> list[tuple[int, int]]:
    """(offset from the group's root, root) per capture, from `pair_offsets`."""
    edges: dict[int, list[tuple[int, int, int]]] = {i: [] for i in range(captures)}
    for a, b, n, offset in pairs.iter_rows():
        edges[a].append((b, n, offset))
        edges[b].append((a, n, -offset))
    out: list[tuple[int, int] | None] = [None] * captures
    for root in range(captures):
        if out[root] is not None:
            continue
        # Prim's algorithm: the best-matched pair reaching a capture not yet placed, first.
        out[root] = (0, root)
        heap = [(-n, root, b, offset) for b, n, offset in edges[root]]
        heapq.heapify(heap)
        while heap:
            _, a, b, offset = heapq.heappop(heap)
            placed = out[a]
            if out[b] is not None or placed is None:
                continue
            out[b] = (placed[0] + offset, root)
            for c, n, off in edges[b]:
                if out[c] is None:
                    heapq.heappush(heap, (-n, b, c, off))
    return [o if o is not None else (0, i) for i, o in enumerate(out)]


def pair_offsets(sights: pl.DataFrame) -> pl.DataFrame:
    """Per pair of captures `a` < `b`: `n` matched packets and `offset` (b's clock minus a's,
    ns)."""
    once = sights.filter(pl.col("last_ns") - pl.col("first_ns") < ONE_PASSAGE_NS)
    a = once.select("capture", *KEY, "first_ns")
    matched = a.join(a, on=KEY, nulls_equal=True, suffix="_b").filter(
        pl.col("capture") < pl.col("capture_b"))
    forward = pl.concat_str("src", pl.col("sport").cast(pl.String), separator="|") < \
        pl.concat_str("dst", pl.col("dport").cast(pl.String), separator="|")
    directions = (
        matched.group_by(pl.col("capture").alias("a"), pl.col("capture_b").alias("b"),
                         forward.alias("forward"))
        .agg(n=pl.len(), median=(pl.col("first_ns_b") - pl.col("first_ns")).median())
    )
    return (
        directions.group_by("a", "b")
        .agg(pl.col("n").sum(), offset=pl.col("median").mean().floor().cast(pl.Int64))
        .sort("a", "b")
        .select(pl.col("a").cast(pl.Int64), pl.col("b").cast(pl.Int64), pl.col("n").cast(pl.Int64),
                "offset")
    )

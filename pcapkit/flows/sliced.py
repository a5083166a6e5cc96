"""One view's pair of endpoints whose TCP rows are too many to hold at once (one long
connection, most often), settled a slice of its rows at a time: the same segments and
connection rows as `tcp_segments` and `view_connections` give for them whole.

What needs the whole of a connection is read first from its few rows that say it (`Plan`):
its first row and every SYN and SYN-ACK. They settle where each per-view connection starts
(rule 2 of `pcapkit.flows.tcp`), which side is its client (rule 3), the window scales its SYNs
announce, and its handshake (`tcp.Handshake`): `tcp_segments` and `tcp.handshakes` on those
rows give what they give on all of them. Then each slice is walked in order, carrying from one
to the next only what the next reads:

- rule 5's copies: a packet is compared with the one before it of its key less than
  `COPY_WINDOW_NS` earlier, so the rows of the slices before, from the first whose time is
  within that of the slice's earliest, are compared again with it (`_Copies`);
- the TCP analysis's state (`tcp_analysis.Carried`) and Zeek's (`conn_state.ZeekWalk`), each
  resumed where the slice before stopped; the history letters are appended;
- each slice's `tcp.tallies` of its connections, added up at the end (sums, first and last
  times, first values).

Exact whatever the slices, as long as the capture's clock never steps back past a slice's
copies (`_Copies`): a packet and a copy of it are microseconds apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import polars as pl

from pcapkit.codes import TcpFlags
from pcapkit.flows import with_analysis, wscales
from pcapkit.flows.conn_state import ZeekWalk
from pcapkit.flows.runs import Runs
from pcapkit.flows.tcp import (
    COPY_KEY,
    SEGMENT_COLUMNS,
    Handshake,
    assembled,
    clients,
    handshakes,
    paired,
    tallies,
    tcp_segments,
    with_sides,
)
from pcapkit.flows.tcp_analysis import Carried, window_scales
from pcapkit.flows.views import COPY_WINDOW_NS, repeated

_SYN = int(TcpFlags.SYN)
#: how `tallies` of slices add up, column by column (the rest: the first slice's)
_SUMS = ["packets_c2s", "packets_s2c", "bytes_c2s", "bytes_s2c", "syn_count", "synack_count",
         "fin_from_client", "fin_from_server", "rst_from_client", "rst_from_server",
         "zero_win_c2s", "zero_win_s2c"]


class Plan:
    """What a group's first row and its SYNs and SYN-ACKs settle for all of its rows."""

    def __init__(self, slices: Iterator[pl.DataFrame]) -> None:
        said, at, rows = [], [], 0
        for part in slices:
            keep = ((pl.col("tcp_flags") & _SYN) != 0) | (pl.col("_at") == 0)
            picked = part.with_row_index("_at", offset=rows).filter(keep)
            at.append(picked["_at"].to_numpy())
            said.append(picked.drop("_at"))
            rows += part.height
        if not rows:
            raise ValueError("a sliced group without rows")
        segs = tcp_segments(pl.concat(said))
        self.pair = _pair_of(segs)
        lconn = segs["lconn"].to_numpy()
        #: the row (of the group's) each connection starts at
        self.starts = np.concatenate(at)[segs["row"].to_numpy()[Runs(lconn).starts]].astype(
            np.int64)
        #: rule 3's answer of each connection, as `tcp_segments` gave it on these rows
        self.client_is_a = clients(paired(segs))
        original = segs.filter(~pl.col("copy"))
        self.handshake: Handshake = handshakes(Runs(original["lconn"].to_numpy()), original)
        self.scales = window_scales(original["lconn"].to_numpy(),
                                    original["from_client"].to_numpy(),
                                    original["tcp_flags"].to_numpy(), wscales(original),
                                    len(self.starts))

    @property
    def conns(self) -> int:
        return len(self.starts)


def _pair_of(segs: pl.DataFrame) -> tuple[object, ...]:
    """The view and pair of endpoints (as text) of every row of `segs`: rows of another pair
    are no rows of a group."""
    ends = segs.select("view", pl.col("src", "dst").cast(pl.String), "sport", "dport").unique()
    pairs = {(v, *sorted([(s, sp), (d, dp)])) for v, s, d, sp, dp in ends.iter_rows()}
    if len(pairs) != 1:
        raise ValueError("a sliced group of several pairs of endpoints")
    return pairs.pop()


class Sliced:
    """A group's rows (`slices()`: its slices in row order, each time asked), settled slice by
    slice (`segments`), then its connection rows (`rows`, once every slice is settled)."""

    def __init__(self, slices: Callable[[], Iterator[pl.DataFrame]],
                 compiled: bool | None = None) -> None:
        self.slices = slices
        self.compiled = compiled
        self.plan = Plan(slices())
        self.copies = _Copies()
        self.carried = Carried()
        self.zeek = ZeekWalk(self.plan.conns)
        self.letters: list[list[str]] = [[] for _ in range(self.plan.conns)]
        self.tallied: list[pl.DataFrame] = []

    def segments(self) -> Iterator[pl.DataFrame]:
        """Each slice's segments with `tcp_analysis`, as `view_connections` gives them, their
        `lconn` numbered from 0 in the group."""
        rows = 0
        for part in self.slices():
            segs = paired(part.with_row_index("row", offset=rows).select(SEGMENT_COLUMNS))
            rows += part.height
            if _pair_of(segs) != self.plan.pair:
                raise ValueError("a sliced group of several pairs of endpoints")
            lconn = np.searchsorted(self.plan.starts, segs["row"].to_numpy(), side="right") - 1
            segs = segs.with_columns(lconn=pl.Series(lconn, dtype=pl.UInt32))
            segs = with_sides(segs, self.plan.client_is_a, self.copies.of(segs))
            yield self._settled(segs)

    def _settled(self, all_segs: pl.DataFrame) -> pl.DataFrame:
        """A slice's segments with their analysis; its tallies and history letters kept."""
        original = ~all_segs["copy"].to_numpy()
        segs = all_segs if original.all() else all_segs.filter(pl.Series(original))
        if not segs.is_empty():  # a slice of copies alone adds nothing
            lconn = segs["lconn"].to_numpy()
            runs = Runs(lconn)
            self.tallied.append(tallies(runs, segs, self.plan.handshake.at(
                lconn[runs.starts].astype(np.int64))))
            added = self.zeek.histories(
                lconn, segs["from_client"].to_numpy(), segs["tcp_flags"].to_numpy(),
                segs["tcp_seq"].to_numpy(), segs["payload_len"].fill_null(0).to_numpy(),
                self.compiled)
            for conn, letters in zip(range(int(lconn[0]), int(lconn[-1]) + 1), added,
                                     strict=True):
                self.letters[conn].append(letters)
        return with_analysis(all_segs, original, segs, self.plan.scales, self.compiled,
                             self.carried)

    def rows(self) -> pl.DataFrame:
        """The group's `connection_rows`, `lconn` numbered from 0 in the group."""
        parts = pl.concat(self.tallied)
        types = parts.schema
        merged = parts.group_by("lconn", maintain_order=True).agg(
            pl.all().exclude("lconn", *_SUMS, "first_ts_ns", "last_ts_ns", "ack_ts",
                             "rst_ack").first(),
            pl.col(*_SUMS).sum(), pl.col("first_ts_ns", "ack_ts").min(),
            pl.col("last_ts_ns").max(), pl.col("rst_ack").drop_nulls().first(),
        ).select(pl.col(name).cast(dtype) for name, dtype in types.items()).sort("lconn")
        if merged.height != self.plan.conns:
            raise ValueError("a sliced group's connections were not all settled")
        return assembled(merged, self.plan.handshake, self.zeek.states(),
                         ["".join(letters) for letters in self.letters])


#: what rule 5 reads of a row
_COPIED = ["lconn", *COPY_KEY, "ts_ns"]


class _Copies:
    """Rule 5 over slices: each slice's rows compared with the rows before them within
    `COPY_WINDOW_NS`, those of the slices before kept from the first whose time is within it
    of the slice's earliest (the clock may step back a little between a host's CPUs)."""

    def __init__(self) -> None:
        self.before: pl.DataFrame | None = None

    def of(self, segs: pl.DataFrame) -> pl.Series:
        rows = segs.select(*_COPIED).with_columns(pl.col("src").to_physical())
        if self.before is not None and rows.height:
            earliest = rows["ts_ns"].min()
            assert isinstance(earliest, int)
            near = self.before["ts_ns"].to_numpy() >= earliest - COPY_WINDOW_NS
            kept = self.before.slice(int(np.argmax(near))) if near.any() else self.before.clear()
            rows = pl.concat([kept, rows])
            found = repeated(rows, ["lconn", *COPY_KEY], within=())[kept.height:]
        else:
            found = repeated(rows, ["lconn", *COPY_KEY], within=())
        self.before = rows
        return pl.Series("copy", found)

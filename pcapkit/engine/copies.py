"""Which rows of a long connection are copies, known before its slices are read for its digest.

A detect job leaves the copies of a connection's packets out (`first_copies`). A row alone in
its view (`alone_in_view`) is a copy as rule 5 of `pcapkit.flows.tcp` says, in its `copy`
column. A view that holds the connection under two 5-tuples (a node that DNATs it, in a v1
capture of every interface as one: the pod's side before DNAT, the underlay's after) compares
each of its packets with the packet before it of the same key, whichever 5-tuple it was seen
under (`tcp_copies`): the one before may lie in any slice of a long connection's rows, which
come in no time order. So those rows' keys are first written to files by a hash of the key
(`BUCKETS` of them, each holding every row of its keys), each file compared whole
(`repeated`), and the copies found kept as a bitmap of their frames per capture (one bit a
frame from the connection's first to its last: 2.5 MB for 20M frames), which each slice is
read against (`Copies.without`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.engine import spill
from pcapkit.engine.shards import SEED
from pcapkit.flows.kept import kept
from pcapkit.flows.views import TCP_COPY_KEY, repeated

#: the files a long connection's shared rows are hashed to: ~300k rows each at 20M rows
BUCKETS = 64
FAMILY = "copies"
KEY = ["conn", "view", *TCP_COPY_KEY]
COLUMNS = [*KEY, "capture", "frame", "ts_ns"]


@dataclass
class Copies:
    """The copies among a connection's rows that are not alone in their view: per capture,
    its first frame and a bitmap of the copies from it."""

    bits: dict[int, tuple[int, npt.NDArray[np.uint8]]] = field(default_factory=dict)

    @classmethod
    def of(cls, slices: Callable[[], Iterable[pl.DataFrame]], folder: str) -> Copies:
        """The copies of the rows `slices()` gives (`alone`, `copy` and the detected columns),
        worked out in `folder`'s files."""
        schema: pl.Schema | None = None  # of the shared rows, once some are written
        for number, part in enumerate(slices()):
            shared = part.filter(~pl.col("alone")).select(COLUMNS)
            if shared.height:  # most connections: none
                schema = shared.schema
                spill.write_parts(folder, FAMILY, f"{number:07d}", shared,
                                  (pl.struct(KEY).hash(SEED) % BUCKETS).cast(pl.UInt32), BUCKETS)
        if schema is None:
            return cls()
        found: dict[int, list[npt.NDArray[np.uint32]]] = {}
        for bucket in range(BUCKETS):
            rows = spill.read(folder, FAMILY, bucket, schema)
            spill.remove(folder, FAMILY, bucket)
            # every row of the detect job has its `conn`: `tcp_copies` asks it of the others
            copies = rows.filter(pl.Series(repeated(rows, KEY)))
            for (capture,), frames in copies.partition_by("capture", as_dict=True).items():
                found.setdefault(int(str(capture)), []).append(frames["frame"].to_numpy())
        return cls({capture: _bitmap(np.concatenate(frames))
                    for capture, frames in found.items()})

    def without(self, part: pl.DataFrame) -> pl.DataFrame:
        """`part` (a slice of the rows) without its copies, and without the columns that say
        which they are: `first_copies` of the rows whole, a slice of it."""
        copy = part["copy"].to_numpy().copy()
        shared = ~part["alone"].to_numpy()
        if shared.any():
            copy[shared] = self._holds(part.filter(pl.Series(shared)))
        return kept(part, pl.Series(~copy)).drop("copy", "alone")

    def _holds(self, rows: pl.DataFrame) -> npt.NDArray[np.bool_]:
        """For each of `rows`, whether its frame is a copy's."""
        out = np.zeros(rows.height, np.bool_)
        captures = rows["capture"].to_numpy()
        frames = rows["frame"].to_numpy().astype(np.int64)
        for capture, (first, bits) in self.bits.items():
            at = captures == capture
            offset = frames[at] - first
            inside = (offset >= 0) & (offset < bits.shape[0] * 8)
            hit = np.zeros(offset.shape[0], np.bool_)
            hit[inside] = (bits[offset[inside] >> 3] >> (offset[inside] & 7)) & 1 == 1
            out[at] = hit
        return out


def _bitmap(frames: npt.NDArray[np.uint32]) -> tuple[int, npt.NDArray[np.uint8]]:
    """The first of `frames` and a bitmap of them all from it."""
    first = int(frames.min())
    offset = frames.astype(np.int64) - first
    bits = np.zeros(int(offset.max()) // 8 + 1, np.uint8)
    np.bitwise_or.at(bits, offset >> 3, (1 << (offset & 7)).astype(np.uint8))
    return first, bits

"""The flow stage's packet table of a streamed run, written as Parquet for a store
(`pcapkit convert`), a decoded batch at a time: never held whole.

The in-memory pipeline's table is the decoded packets plus `view`, `conn`, `from_client` and
`tcp_analysis` (`pcapkit.flows.tcp_tables`). A streamed run has each of them apart: the decode
jobs spill each chunk's packets (`packets`), every packet's view follows from its key and the
VIEWS table, and the detect jobs, which hold whole connections with their shared ids and leave
the copies out, spill the other three of each TCP packet kept (`marks`) to the chunk that holds
it. A job per chunk then puts its rows together and writes them, a part of its capture's
partition per decoded batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.decode.schema import PACKET_SCHEMA
from pcapkit.engine import spill
from pcapkit.flows import with_marks
from pcapkit.flows.schema import PACKET_EXTRA
from pcapkit.flows.views import with_views

#: the column a stored table is partitioned by, hive style (`capture=N/part-K.parquet`)
PARTITION_KEY = "capture"
#: what a detect job spills of each TCP packet it keeps
MARKS = pl.Schema({"capture": pl.UInt16(), "frame": pl.UInt32(), "conn": pl.UInt32(),
                   "from_client": pl.Boolean(), "tcp_analysis": pl.UInt16()})
#: the stored packet table's columns, in order: the in-memory flow stage's
STORED = pl.Schema({**PACKET_SCHEMA, **PACKET_EXTRA})


def part_file(folder: Path, capture: int, part: str) -> Path:
    """The file of a capture's partition of the table in `folder` named `part`: the parts are
    read in the order of their names."""
    return folder / f"{PARTITION_KEY}={capture}" / f"part-{part}.parquet"


@dataclass(frozen=True)
class Starts:
    """Where each chunk kept begins, in file order: its capture and first frame packed into a
    word (`frame_keys`), ascending."""

    keys: npt.NDArray[np.uint64]

    def chunk_of(self, rows: pl.DataFrame) -> pl.Series:
        """The index of the chunk holding each of `rows` (`capture`, `frame`)."""
        keys = frame_keys(rows["capture"].to_numpy(), rows["frame"].to_numpy())
        return pl.Series(np.searchsorted(self.keys, keys, side="right") - 1, dtype=pl.UInt32)


def frame_keys(capture: npt.NDArray[np.integer], frame: npt.NDArray[np.integer]
               ) -> npt.NDArray[np.uint64]:
    """Captures and frames as words in (capture, frame) order."""
    return (capture.astype(np.uint64) << np.uint64(32)) | frame.astype(np.uint64)


@dataclass(frozen=True)
class Store:
    """Where a run writes its packet table, and the chunks it is written from."""

    folder: str
    starts: Starts
    chunks: list[tuple[str, int]]  #: each kept chunk's name and capture, as `starts` orders them


def spill_marks(root: str, name: str, kept: pl.DataFrame, starts: Starts) -> None:
    """Spill the `MARKS` of packets a detect job keeps (`first_copies`), each to its chunk's
    folder, as parts named `name` (one per job and batch)."""
    marks = kept.select(MARKS.names())
    spill.write_parts(root, "marks", name, marks, pl.lit(starts.chunk_of(marks)),
                      len(starts.keys))


@dataclass(frozen=True)
class StoreJob:
    spill: str
    chunk: str  #: `pcapkit.engine.chunks.name`: its packets' parts begin with it
    index: int  #: its place among the chunks kept (`Starts`): its marks' folder
    capture: int
    views: pl.DataFrame  #: VIEWS
    folder: str  #: the stored table's folder


def store_packets(job: StoreJob) -> int:
    """Writes the chunk's rows of the stored packet table, a part per decoded batch (a chunk
    of a large capture is several: written whole, 40M DNS-heavy packets' chunks of 625k took
    their workers to ~600 MB); how many rows."""
    marks = spill.read(job.spill, "marks", job.index, MARKS)
    written = 0
    for name, packets in spill.parts(job.spill, "packets", 0, PACKET_SCHEMA, job.chunk):
        # A batch's frames ascend (its records in file order), and each of its marks is one.
        frames = packets["frame"].to_numpy()
        mine = marks.filter(pl.col("frame").is_between(int(frames[0]), int(frames[-1])))
        rows = np.searchsorted(frames, mine["frame"].to_numpy())
        if not np.array_equal(frames[rows], mine["frame"].to_numpy()):
            raise ValueError(f"chunk {job.chunk}: marks of frames it does not hold")
        stored = with_marks(with_views(packets, job.views), rows, mine).select(STORED.names())
        _write(stored, Path(job.folder), job.capture, f"{job.index:07d}.{name.split('.')[-1]}")
        written += stored.height
    if not written:  # every batch of the chunk failed to decode (`tasks.Failed`)
        _write(pl.DataFrame(schema=STORED), Path(job.folder), job.capture, f"{job.index:07d}")
    return written


def _write(rows: pl.DataFrame, folder: Path, capture: int, part: str) -> None:
    """Write a part of a capture's partition: its rows, less the column it is named by."""
    path = part_file(folder, capture, part)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.drop(PARTITION_KEY).write_parquet(path)


def empty_part(folder: Path, capture: int) -> None:
    """The partition of a capture without packets: a file of no rows, so that every partition
    has the table's columns."""
    _write(pl.DataFrame(schema=STORED), folder, capture, "0")

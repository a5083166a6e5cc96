"""The packets a finding points at: its `evidence` (capture, frame) pairs, and their rows of
the packet table, decoded again from the captures when the analysis did not hold them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.decode import decode
from pcapkit.decode.schema import empty_packets
from pcapkit.read import Capture, Records, Span, rescan
from pcapkit.read.source import release


def evidence_keys(findings: pl.DataFrame) -> pl.DataFrame:
    """One row per (finding, capture, frame): `finding` is the row's 0-based position."""
    return (findings.select(pl.col("evidence")).with_row_index("finding")
            .explode("evidence").drop_nulls("evidence").unnest("evidence")
            .select(pl.col("finding").cast(pl.UInt32), "capture", "frame"))


def cited_frames(keys: pl.DataFrame) -> Iterator[tuple[int, npt.NDArray[np.uint32]]]:
    """Each capture's frames among `keys` (`evidence_keys` rows), sorted and unique, in
    capture order."""
    for index, frames in keys.group_by("capture").agg("frame").sort("capture").rows():
        yield index, np.unique(np.asarray(frames, np.uint32))


def frames_of(finding: dict[str, Any]) -> dict[int, list[int]]:
    """A finding row's evidence frames by capture index, sorted."""
    out: dict[int, set[int]] = {}
    for ev in finding["evidence"] or ():
        out.setdefault(ev["capture"], set()).add(ev["frame"])
    return {c: sorted(f) for c, f in sorted(out.items())}


def take_frames(capture: Capture, frames: Sequence[int]) -> Capture:
    """`capture` with only the records of `frames` (1-based), in file order."""
    wanted = np.isin(capture.records.frame, np.asarray(frames, np.uint32))
    return dataclasses.replace(capture, records=capture.records.take(np.flatnonzero(wanted)))


#: evidence frames decoded at a time: each may touch a page of its own of the capture file,
#: resident until the batch is done (65,536 frames scattered over a capture of GBs: +200 MB)
EVIDENCE_BATCH = 16384


def positions(frames: npt.NDArray[np.uint32],
              wanted: npt.NDArray[np.uint32]) -> npt.NDArray[np.intp]:
    """Where in `frames` (ascending, a run of a capture's records) the `wanted` frames (sorted,
    unique) are. By binary search on the run's range: a set lookup of every wanted frame for
    each of thousands of runs cost minutes when the findings cite millions of frames."""
    if not len(frames):
        return np.zeros(0, np.intp)
    inside = wanted[np.searchsorted(wanted, frames[0]):
                    np.searchsorted(wanted, frames[-1], side="right")]
    at: npt.NDArray[np.intp] = np.searchsorted(frames, inside)
    found: npt.NDArray[np.intp] = at[frames[at] == inside]
    return found


def _batches(windows: Iterable[Records], wanted: npt.NDArray[np.uint32]) -> Iterator[Records]:
    """The records of the `wanted` frames (sorted, unique) among `windows`, about
    `EVIDENCE_BATCH` at a time."""
    hits: list[Records] = []
    count = 0
    for records in windows:
        hits.append(records.take(positions(records.frame, wanted)))
        count += len(hits[-1])
        if count >= EVIDENCE_BATCH:
            yield Records.concat(hits)
            hits, count = [], 0
    if count:
        yield Records.concat(hits)


def evidence_packets(captures: Sequence[Capture], findings: pl.DataFrame,
                     spans: Sequence[Sequence[Span]] | None = None,
                     columns: Sequence[str] | None = None,
                     known: pl.DataFrame | None = None) -> pl.DataFrame:
    """The packet-table rows of every evidence frame of `findings`, decoded again from the
    `captures` scanned before (in the analysis's capture order; `pcapkit.read.rescan`): what a
    streamed analysis, which never held the packet table, needs to describe a finding's
    packets. `spans` (per capture) say where the analysis found its records: those of the
    evidence are read again, not the whole file. `columns`: those kept of each batch as it is
    decoded (default: all), so that the frames of tens of thousands of findings are held in the
    few columns their use reads. `known`: rows of some of the frames, decoded already (by the
    engine's workers, `pcapkit.engine.evidence`): the others alone are read here."""
    keys = evidence_keys(findings)
    frames = []
    if known is not None:
        keys = keys.join(known.select("capture", "frame"), on=["capture", "frame"], how="anti")
        frames.append(known)
    for index, wanted in cited_frames(keys):
        # A window of the file at a time, as the engine read it: holding every record of a
        # capture of tens of millions of packets for a few thousand frames would not be.
        capture, windows = rescan(captures[index], None if spans is None else [
            s for s in spans[index] if s.holds(wanted)])
        # Decoded in batches of about `EVIDENCE_BATCH` frames: a decode per run of records
        # cost more in set-up than in packets, one of every frame held millions at once.
        for batch in _batches(windows, wanted):
            rows = decode(dataclasses.replace(capture, records=batch), index)
            frames.append(rows if columns is None else rows.select(columns))
            # its frames' pages, read after the walk let them go, go again: the frames of a
            # few hundred thousand findings touch every page of a capture of GBs
            release(capture.buffer)
    if not frames:
        empty = empty_packets()
        return empty if columns is None else empty.select(columns)
    return pl.concat(frames)

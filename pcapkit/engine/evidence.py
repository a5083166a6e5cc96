"""The evidence frames of the findings, decoded again by the workers.

A streamed analysis never holds the packet table, so the rows of the frames its findings cite
are decoded again from the captures (`pcapkit.wireshark.evidence`), from the runs of records
(`Span`s) that hold them. This process walking them cost a DNS-heavy capture of 5M packets
~1 s at the end of its run, alone: the findings cite frames all over the file, the walk touches
every page of it, and this process walks without compiled code until it has walked 16 MB
(`pcapkit.read.walk`), then loads numba; and it walks a pcapng file whole. The workers walk
compiled already, share the work, and walk a pcapng's spans as its ranges were walked. What
they cannot read is left to this process: a capture this process walked (a compressed one sent
to workers elsewhere; a pcapng's blocks after one its ranges left to this process's walk, a
new section perhaps), bytes gone unreadable.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.engine.chunks import RangeLayout, exact_range
from pcapkit.engine.tasks import EvidenceJob
from pcapkit.read.pcap import Span
from pcapkit.read.records import Capture
from pcapkit.wireshark.evidence import cited_frames, evidence_keys

#: bytes of capture an evidence job reads at most: a job per worker and run of evidence, about
EVIDENCE_BYTES = 32 << 20
#: bytes of records citing no evidence that a job walks through rather than end (~1 ms)
GAP_BYTES = 1 << 20


@dataclass(frozen=True)
class Rewalk:
    """How the workers walk a capture's records again: as its ranges were walked (`shape`),
    the spans that end by byte `until` (None: all of them; a pcapng's, up to the block its
    ranges left to this process's walk)."""

    shape: RangeLayout
    until: int | None = None

    def spans(self, spans: Sequence[Span]) -> list[Span]:
        return [s for s in spans if self.until is None or s.end <= self.until]


def evidence_jobs(captures: Sequence[Capture], spans: Sequence[Sequence[Span]],
                  rewalks: dict[int, Rewalk], findings: Sequence[pl.DataFrame],
                  columns: Sequence[str], local: bool) -> Iterator[EvidenceJob]:
    """The jobs decoding the evidence frames of `findings` (frames of findings) again, the
    `columns` of each (none: no job), from the captures' `spans` (per capture, in file order)
    that hold them, those the workers can walk again (`rewalks`, by capture number); `local`:
    the workers run on this machine (and open a compressed capture's spool)."""
    if not columns or not findings:
        return
    for index, wanted in cited_frames(pl.concat([evidence_keys(f) for f in findings])):
        rewalk = rewalks.get(index)
        if rewalk is None:
            continue
        header = rewalk.shape.header_len
        for first, last in _runs(rewalk.spans(spans[index]), wanted, header):
            lo = int(np.searchsorted(wanted, first.frame))
            hi = int(np.searchsorted(wanted, last.frame + last.records))
            chunk = exact_range(captures[index], index, first.start - header, last.end,
                                rewalk.shape, local)
            yield EvidenceJob(chunk, first.frame - 1, last.frame + last.records - first.frame,
                              wanted[lo:hi], tuple(columns))


def _runs(spans: Sequence[Span], wanted: npt.NDArray[np.uint32], header: int
          ) -> Iterator[tuple[Span, Span]]:
    """The first and last span of each run a job reads: from a span holding `wanted` frames to
    the last such span after it, across spans holding none for up to `GAP_BYTES`, while the
    spans follow each other in the file, up to `EVIDENCE_BYTES` in all."""
    first = last = previous = None
    for span in spans:
        if first is not None and last is not None and previous is not None and (
                span.frame != previous.frame + previous.records
                or span.start - header != previous.end
                or span.end - first.start > EVIDENCE_BYTES
                or span.start - last.end > GAP_BYTES):
            yield first, last
            first = last = None
        if span.holds(wanted):
            first = first or span
            last = span
        previous = span
    if first is not None and last is not None:
        yield first, last

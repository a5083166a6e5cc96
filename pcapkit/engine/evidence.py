"""The evidence frames of the findings, decoded again by the workers.

A streamed analysis never holds the packet table, so the rows of the frames its findings cite
are decoded again from the captures (`pcapkit.wireshark.evidence`), from the runs of records
(`Span`s) that hold them. This process walking them cost a DNS-heavy capture of 5M packets
~1 s at the end of its run, alone: the findings cite frames all over the file, the walk touches
every page of it, and this process walks without compiled code until it has walked 16 MB
(`pcapkit.read.walk`), then loads numba. The workers walk compiled already, and share the
work. What they cannot read (a pcapng file, whose spans do not say where a block begins; a
compressed one sent to workers elsewhere; bytes gone unreadable) is left to this process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.engine.chunks import Spool, exact_range
from pcapkit.engine.tasks import EvidenceJob
from pcapkit.read.pcap import Span, layout
from pcapkit.read.records import Capture
from pcapkit.wireshark.evidence import evidence_keys

#: bytes of capture an evidence job reads at most: a job per worker and run of evidence, about
EVIDENCE_BYTES = 32 << 20
#: bytes of records citing no evidence that a job walks through rather than end (~1 ms)
GAP_BYTES = 1 << 20


def evidence_jobs(captures: Sequence[Capture], spans: Sequence[Sequence[Span]],
                  findings: Sequence[pl.DataFrame], columns: Sequence[str], local: bool
                  ) -> Iterator[EvidenceJob]:
    """The jobs decoding the evidence frames of `findings` (frames of findings) again, from the
    captures' `spans` (per capture, in file order) that hold them, the `columns` of each (none:
    no job); `local`: the workers run on this machine (and open a compressed capture's
    spool)."""
    if not columns or not findings:
        return
    keys = pl.concat([evidence_keys(f) for f in findings])
    for index, frames in keys.group_by("capture").agg("frame").sort("capture").rows():
        capture = captures[index]
        if not _readable(capture, local):
            continue
        wanted = np.unique(np.asarray(frames, np.uint32))
        header = layout(capture).header_len
        for first, last in _runs(spans[index], wanted, header):
            lo = int(np.searchsorted(wanted, first.frame))
            hi = int(np.searchsorted(wanted, last.frame + last.records))
            yield EvidenceJob(exact_range(capture, index, first.start - header, last.end, local),
                              first.frame - 1, wanted[lo:hi], tuple(columns))


def _readable(capture: Capture, local: bool) -> bool:
    """Whether the workers can walk the records of `capture` from a span's first: a pcap file
    (a span says where its first record's data begins, and so its header), read from its path
    or its spool."""
    return capture.format == "pcap" and (
        not capture.compressed or (local and Spool.of(capture) is not None))


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

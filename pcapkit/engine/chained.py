"""The decoded chunks of each capture held together: ranges walked where the one walk of the file
from its start would have, and every record numbered as in the file.

A range's worker guessed where its first record begins (`pcapkit.read.ranges`). Its guess holds
when it is where the range before it ended (the first record past that range); else its rows are
dropped and the range is decoded again from there, with every other range whose guess did not
hold: this process walks their record headers to learn where each begins. A walk that ends
before the file does (a record cut short, a length past the limit) ends the capture there, as
reading it whole would: the ranges after it are dropped, and the capture says why with a
warning. A pcapng range's walk that stops at a block its worker leaves to the walk of the whole
file (a new section, a packet comment, damage: `pcapkit.read.pcapng_ranges`) ends the capture's
ranges there too: the rest of the file is walked by this process, as it walks a capture read
whole, and decoded in chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pcapkit.engine.chunks import load
from pcapkit.engine.tasks import Decoded, DecodeJob, Walk
from pcapkit.read.pcap import Span, damage
from pcapkit.read.ranges import Layout
from pcapkit.read.records import Capture
from pcapkit.read.walk import WalkEnd


@dataclass
class Seen:
    """A capture's records, counted as their chunks are decoded."""

    records: int = 0
    first_ts_ns: int | None = None
    last_ts_ns: int | None = None
    #: where each run of `chunks.SPAN_RECORDS` records lies in the file: a finding's evidence
    #: frames are read again from their runs only, not from a walk of the whole file
    spans: list[Span] = field(default_factory=list)

    def add(self, walk: Walk, before: int) -> None:
        """Counts a chunk's records, its spans' frames numbered on from frame `before`."""
        if walk.first_ts_ns is not None and walk.last_ts_ns is not None:
            self.first_ts_ns = walk.first_ts_ns if self.first_ts_ns is None else min(
                self.first_ts_ns, walk.first_ts_ns)
            self.last_ts_ns = walk.last_ts_ns if self.last_ts_ns is None else max(
                self.last_ts_ns, walk.last_ts_ns)
        self.spans += [replace(s, frame=s.frame + before) for s in walk.spans]
        self.records += walk.records


@dataclass
class Chained:
    """The chunks kept, and what they say of their captures."""

    kept: list[Decoded]
    seen: list[Seen]  #: per capture
    warnings: list[list[str]]  #: per capture: records that could not be decoded
    #: per range kept: the records of its capture before it (`spill.number_frames`)
    before: dict[str, int]


def hold(captures: list[Capture], decoded: list[Decoded], ranges: dict[str, DecodeJob],
         redo: Callable[[list[DecodeJob]], list[Decoded]], drop: Callable[[str], None],
         rest: Callable[[int, int, int], list[Decoded]]) -> Chained:
    """The chunks of `decoded` (in job order) to keep; `ranges`: the jobs of the chunks that are
    ranges, by name; `redo` decodes jobs again (in order); `drop` removes a chunk's spilled
    rows; `rest` decodes what follows a byte of a capture (its number, the byte, the records
    before it) as the walk of the whole file reads it. The captures' warnings gain where a walk
    ended before its file did."""
    out = Chained([], [Seen() for _ in captures], [[] for _ in captures], {})
    decoded = _held(decoded, ranges, redo, drop)
    expected: dict[int, int] = {}  # where the next range's first record begins: the first's
    ended = [False] * len(captures)
    for d in decoded:
        i, job = d.capture, ranges.get(d.name)
        if job is not None:
            expected.setdefault(i, job.chunk.start)
        if ended[i] or (job is not None and expected[i] >= job.chunk.end):
            drop(d.name)  # past the end of its capture's walk; or no record begins in it
            continue
        seen = out.seen[i]
        if d.walk is None:  # a range whose bytes could not be read
            assert job is not None
            captures[i].warnings.append(
                f"bytes {expected[i]}-{job.chunk.reach} could not be read ({d.error}); read "
                f"the {seen.records} records before them")
            ended[i] = True
            continue
        base = seen.records if job is not None else 0
        _keep(out, d, base)
        ends = d.walk.ends
        if job is None or ends is None or job.chunk.walk is None:
            continue
        out.before[d.name] = base
        expected[i] = ends.reached
        ended[i] = ends.why != WalkEnd.REACHED
        if ends.why == WalkEnd.BLOCK:
            for tail in rest(i, ends.reached, seen.records):
                _keep(out, tail, 0)
        elif isinstance(job.chunk.walk, Layout):
            captures[i].warnings += damage(ends.why, ends.reached, seen.records, job.chunk.walk)
    return out


def _keep(out: Chained, d: Decoded, base: int) -> None:
    """Keeps `d`, its records numbered on from frame `base` of its capture."""
    assert d.walk is not None
    out.kept.append(d)
    out.warnings[d.capture] += [f.failed.warning(base) for f in d.facts if f.failed]
    out.seen[d.capture].add(d.walk, base)


def _held(decoded: list[Decoded], ranges: dict[str, DecodeJob],
          redo: Callable[[list[DecodeJob]], list[Decoded]], drop: Callable[[str], None]
          ) -> list[Decoded]:
    """`decoded`, each range whose walk did not begin where the range before it ended decoded
    again from there, all at once: where each such range's walk ends is found here, by walking
    its record headers (a few ms a range), not by waiting for its decoding (one range after
    another, each on one core)."""
    expected: dict[int, int] = {}
    ended: set[int] = set()
    again: dict[str, DecodeJob] = {}
    for d in decoded:
        job = ranges.get(d.name)
        if job is None or d.capture in ended:
            continue
        start = expected.setdefault(d.capture, job.chunk.start)
        if start >= job.chunk.end:
            continue
        ends = d.walk.ends if d.walk is not None else None
        if ends is None or ends.first != start:
            job = replace(job, chunk=replace(job.chunk, start=start, exact=True))
            again[d.name] = job
            try:
                walked = load(job.chunk)[1]
            except Exception:  # its decoding will say why; the capture's walk ends there
                ended.add(d.capture)
                continue
            assert walked is not None
            ends = walked.ends
        expected[d.capture] = ends.reached
        if ends.why != WalkEnd.REACHED:
            ended.add(d.capture)
    if not again:
        return decoded
    for name in again:
        drop(name)
    redone = dict(zip(again, redo(list(again.values())), strict=True))
    return [redone.get(d.name, d) for d in decoded]

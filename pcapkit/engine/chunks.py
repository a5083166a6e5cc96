"""Chunks: a capture's records cut into runs that a worker decodes on its own.

A chunk names the byte range of its records in the capture file, so that a worker (a local
process, or a Dask worker on another machine that mounts the same path) reads just those bytes.
A gzip-compressed capture cannot be read from the middle. It is decompressed once, into a
temporary file (`pcapkit.read.source.Source.spool`), which workers on this machine map as they
would the capture; workers elsewhere are sent their chunks' bytes.
"""

from __future__ import annotations

import dataclasses
import mmap
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from pcapkit.decode.schema import Tunnel
from pcapkit.decode.tunnels import UDP_TUNNELS, register
from pcapkit.errors import CaptureError
from pcapkit.read.pcap import Span, layout
from pcapkit.read.pcapng import Windows
from pcapkit.read.pcapng_ranges import BlockLayout, sampled_blocks, walk_blocks
from pcapkit.read.ranges import FILE_HEADER_LEN, Layout, Walked, records_of, walk_range
from pcapkit.read.records import Capture, Interface, Records
from pcapkit.read.source import is_url, open_file, release, shared_path
from pcapkit.read.walk import find_records

#: bytes of capture per chunk, at most (about): what a worker reads and decodes at once. Each
#: chunk costs a worker ~18 ms whatever its size (its polars queries, the spill's files of each
#: shard): on bulk TCP (~1 KB a packet) 64 MB chunks of 65k packets spent 29 % of their decoding
#: on it; 128 MB ones ~17 % (5M packets on both cores: wall 9.8 -> 8.8 s, median of three;
#: peak RSS +90 MB). 256 MB ones (and windows) raised the peak to 1.7 GB.
CHUNK_BYTES = 128 << 20
#: bytes of capture per chunk, at most, when the chunk carries its bytes (a gzip-compressed
#: capture's, to a worker elsewhere): a few chunks wait for each worker in this process, and
#: again pickled on their way (1.3M packets of bulk TCP, gzip: 128 MB chunks peaked at
#: 1,759 MB, 32 MB ones at 966 MB)
CARRIED_CHUNK_BYTES = 32 << 20
#: records per `Span`: what reading one evidence frame again walks at most (a few MB), against
#: a span per 4096 records held through the run (1 MB per 20M packets)
SPAN_RECORDS = 4096
#: bytes of a pcap file walked here to learn how large its records are (its ranges' size)
SAMPLE_BYTES = 1 << 20


#: how a range's worker reads its records: a pcap file's record headers, or a pcapng's blocks
RangeLayout = Layout | BlockLayout


@dataclass(frozen=True)
class Spool:
    """A capture's decompressed copy (`pcapkit.read.source.Source.spool`) as another process of
    this machine opens it: a path, and the file (device, inode) it must find there."""

    path: str
    device: int
    inode: int

    @staticmethod
    def of(capture: Capture) -> Spool | None:
        """The capture's spool, when it has one that other processes can open."""
        path = shared_path(capture.spool)
        if capture.spool is None or path is None:
            return None
        st = os.fstat(capture.spool.fileno())
        return Spool(path, st.st_dev, st.st_ino)


@dataclass(frozen=True)
class Chunk:
    """Records `records` of capture number `capture`, the `seq`-th run of its file."""

    capture: int
    seq: int
    path: str
    format: str
    interfaces: tuple[Interface, ...]
    big_endian: bool
    records: Records  #: offsets relative to `start`; none in a range (`walk`)
    start: int  #: first byte of the run in the (decompressed) file
    end: int  #: one past its last byte
    #: one past the last byte the worker reads: `end`, or, for a range, as far as its last
    #: record can go on past it (or the end of the file)
    reach: int
    #: a range of a pcap or pcapng file whose records the worker finds itself
    #: (`pcapkit.read.ranges`, `pcapkit.read.pcapng_ranges`): those that begin in
    #: [start, end). Else the chunk holds its `records`.
    walk: RangeLayout | None
    exact: bool  #: a range's first record begins at `start` (else the worker looks for it)
    data: bytes | None  #: the run's bytes, when a worker cannot read them from `path`
    spool: Spool | None  #: where a worker of this machine reads them instead of `path`
    #: UDP ports decoded as tunnels in the process that planned the chunk (`--vxlan-port`)
    udp_tunnels: tuple[tuple[int, Tunnel], ...]

    @property
    def bytes(self) -> int:
        return self.end - self.start


def plan(capture: Capture, index: int, windows: Iterable[Records], chunk_records: int,
         chunk_bytes: int = CHUNK_BYTES, local: bool = False, first_seq: int = 0
         ) -> Iterator[Chunk]:
    """The chunks of `capture` (number `index` among those analysed) holding the records of
    `windows`, in file order, numbered from `first_seq`: each a `runs` run. `local`: the
    workers run on this machine, and read a spooled capture from its spool (`Spool`). Carried
    through this process instead, 1.3M packets of bulk TCP in gzip (1.35 GB decompressed) cost
    it ~2.7 s of CPU more, copying and pickling each chunk, while the workers waited on it."""
    tunnels = tuple(sorted(UDP_TUNNELS.items()))
    spool = Spool.of(capture) if local else None
    carried = capture.compressed and spool is None
    if carried:
        chunk_bytes = min(chunk_bytes, CARRIED_CHUNK_BYTES)
    for seq, run in enumerate(runs(windows, chunk_records, chunk_bytes), first_seq):
        start = int(run.offset.min())
        end = int((run.offset + run.caplen).max())
        data = None
        if carried:
            data = bytes(capture.buffer[start:end])
            # mapped again by the copy, behind the walk that let them go (`scan_pcap`)
            release(capture.buffer, end, start)
        yield Chunk(
            capture=index, seq=seq, path=capture.path, format=capture.format,
            interfaces=tuple(capture.interfaces), big_endian=capture.big_endian,
            records=dataclasses.replace(run, offset=run.offset - start), start=start, end=end,
            reach=end, walk=None, exact=True, data=data, spool=spool, udp_tunnels=tunnels,
        )


@dataclass(frozen=True)
class Sampled:
    """How large a capture's packets are: the bytes its first records take (those of its
    first `SAMPLE_BYTES` at least; more, when its first record is longer), and how many they
    are. For a capture whose workers find its records themselves (`plan_ranges`), how they
    read them and where the first begins."""

    span: int
    records: int
    shape: RangeLayout | None = None
    first: int = 0

    @staticmethod
    def of(records: Records) -> Sampled:
        if not len(records):
            return Sampled(0, 0)
        return Sampled(int(records.offset[-1] + records.caplen[-1] - records.offset[0]) + 1,
                       len(records))


def sample(capture: Capture, windows: Iterator[Records], local: bool) -> Sampled | None:
    """`Sampled` of a capture the workers can walk from its middle: a pcap file; a pcapng's
    first section, from its first Enhanced Packet Block (`pcapkit.read.pcapng.Windows.head`).
    Their bytes are read from a file or a URL (not a compressed capture's, sent to workers
    elsewhere). None for any other capture: this process walks it (`plan`). Walked here
    without compiled code: numba is 0.3 s of this process's start-up, a MB a few ms."""
    if capture.compressed and not (local and Spool.of(capture) is not None):
        return None
    if capture.format == "pcap":
        return _sampled_records(capture)
    if isinstance(windows, Windows) and (head := windows.head()) is not None:
        shape = BlockLayout(head[0])
        span, count = sampled_blocks(capture.buffer, head[1], SAMPLE_BYTES, shape)
        return Sampled(span, count, shape, head[1])
    return None


def _sampled_records(capture: Capture) -> Sampled:
    shape = layout(capture)
    buf = np.frombuffer(capture.buffer, np.uint8)
    size = SAMPLE_BYTES
    while True:
        offsets, words, _, _ = find_records(buf[:FILE_HEADER_LEN + size], FILE_HEADER_LEN,
                                            shape.big_endian, shape.header_len, 8,
                                            shape.max_caplen)
        if len(offsets) or FILE_HEADER_LEN + size >= buf.shape[0]:
            break
        size *= 4
    if not len(offsets):
        return Sampled(0, 0, shape, FILE_HEADER_LEN)
    records = records_of(offsets, words, 0, shape)
    shape = dataclasses.replace(shape, near_sec=int(np.median(records.ts_ns // 1_000_000_000)))
    return dataclasses.replace(Sampled.of(records), shape=shape, first=FILE_HEADER_LEN)


def walk_of(shape: RangeLayout) -> Callable[..., Walked]:
    """The walk of a range of records that read as `shape` says."""
    return walk_blocks if isinstance(shape, BlockLayout) else walk_range


def plan_ranges(capture: Capture, index: int, chunk_records: int, sampled: Sampled,
                chunk_bytes: int = CHUNK_BYTES, local: bool = False) -> Iterator[Chunk]:
    """The ranges of `capture` (`sample`d), number `index` among those analysed, in file
    order, numbered from 0: each of `chunk_bytes`, or of the bytes `chunk_records` records take
    on average in the sample, if fewer. Only the first is `exact`."""
    shape = sampled.shape
    assert shape is not None
    size = len(capture.buffer)
    step = chunk_bytes
    if sampled.records:
        step = max(1, min(chunk_bytes, sampled.span * chunk_records // sampled.records))
    spool = Spool.of(capture) if local else None
    tunnels = tuple(sorted(UDP_TUNNELS.items()))
    for seq, start in enumerate(range(sampled.first, max(size, sampled.first + 1), step)):
        end = min(size, start + step)
        yield Chunk(
            capture=index, seq=seq, path=capture.path, format=capture.format,
            interfaces=tuple(capture.interfaces), big_endian=capture.big_endian,
            records=Records.empty(), start=start, end=end, reach=min(size, end + shape.longest),
            walk=shape, exact=seq == 0, data=None, spool=spool, udp_tunnels=tunnels,
        )


def exact_range(capture: Capture, index: int, start: int, end: int, shape: RangeLayout,
                local: bool) -> Chunk:
    """The records of `capture` (number `index` among those analysed) that begin in
    [start, end), the first at `start`: records read before (their `Span`s), walked again as
    `shape` says by the worker that reads them (`exact`)."""
    return Chunk(
        capture=index, seq=0, path=capture.path, format=capture.format,
        interfaces=tuple(capture.interfaces), big_endian=capture.big_endian,
        records=Records.empty(), start=start, end=end,
        reach=min(len(capture.buffer), end + shape.longest), walk=shape, exact=True, data=None,
        spool=Spool.of(capture) if local else None, udp_tunnels=tuple(sorted(UDP_TUNNELS.items())),
    )


def runs(windows: Iterable[Records], chunk_records: int, chunk_bytes: int = CHUNK_BYTES
         ) -> Iterator[Records]:
    """The records of `windows` (a walk's, a window of the file at a time), in runs of a chunk
    each: `chunk_records` records, or fewer where they would span more than `chunk_bytes` of the
    file (full-size frames are ~10x a DNS packet). A run goes on across the windows' ends: cut
    where a window ends, a chunk could be a few records (the walk's windows are 64 MB, a
    DNS-heavy chunk 250k records, ~31 MB). Only the last run may be short."""
    left = Records.empty()
    for window in windows:
        left = Records.concat([left, window])
        cuts = _cut(left, chunk_records, chunk_bytes)
        for first, last in cuts[:-1]:
            yield left.take(slice(first, last))
        if cuts:  # the last run may go on in the next window
            left = left.take(slice(cuts[-1][0], None))
    for first, last in _cut(left, chunk_records, chunk_bytes):
        yield left.take(slice(first, last))


def _cut(records: Records, chunk_records: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """Where `records` are cut into chunks: (first, one past the last) of each, in order."""
    ends = records.offset + records.caplen  # increasing: records are in file order
    bounds: list[tuple[int, int]] = []
    first = 0
    while first < len(records):
        fits = int(np.searchsorted(ends, records.offset[first] + chunk_bytes, side="right"))
        last = max(first + 1, min(first + chunk_records, fits))
        bounds.append((first, last))
        first = last
    return bounds


def name(chunk: Chunk) -> str:
    """The name of the chunk's spilled rows: in file order when sorted (`pcapkit.engine.spill`)."""
    return f"{chunk.capture:05d}-{chunk.seq:07d}"


def load(chunk: Chunk) -> tuple[Capture, Walked | None]:
    """The chunk as a capture of its own (its records only), in the worker's process; and,
    for a range, its walk (`pcapkit.read.ranges.walk_range`)."""
    for port, tunnel in chunk.udp_tunnels:
        register(port, tunnel)
    data = _read(chunk) if chunk.data is None else chunk.data
    walked = None
    records = chunk.records
    if chunk.walk is not None:
        walked = walk_of(chunk.walk)(np.frombuffer(data, np.uint8), chunk.start, chunk.bytes,
                                     chunk.exact, chunk.walk)
        records = walked.records
    return Capture(
        path=chunk.path, format=chunk.format,
        compressed=chunk.data is not None or chunk.spool is not None, buffer=data,
        interfaces=list(chunk.interfaces), records=records, big_endian=chunk.big_endian,
    ), walked


def spans_of(rec: Records, start: int) -> list[Span]:
    """Where each run of `SPAN_RECORDS` records of a chunk (`rec`, whose first byte is byte
    `start` of the file) lies in its file."""
    firsts = np.arange(0, len(rec), SPAN_RECORDS)
    lasts = np.minimum(firsts + SPAN_RECORDS, len(rec)) - 1
    starts = rec.offset[firsts] + start
    ends = rec.offset[lasts] + rec.caplen[lasts] + start
    return [Span(int(rec.frame[f]), int(n), int(a), int(b)) for f, n, a, b
            in zip(firsts, lasts - firsts + 1, starts, ends, strict=True)]


def _read(chunk: Chunk) -> memoryview:
    """The chunk's bytes: mapped from a local file (its pages come from the page cache as they
    are read, and go with the chunk: reading them into a fresh buffer cost more than the
    decoding, the kernel zeroing and unmapping 64 MB of new pages per chunk); read from a URL."""
    length = chunk.reach - chunk.start
    if not length:  # records of no bytes (mmap would map a length of 0 as the whole file)
        return memoryview(b"")
    if is_url(chunk.path) and chunk.spool is None:
        with open_file(chunk.path) as f:
            f.seek(chunk.start)
            data = f.read(length)
        _check(chunk, chunk.start + len(data))
        return memoryview(data)
    with _open(chunk) as f:
        # Mapped bytes past the end of the file would kill the process when read (SIGBUS).
        _check(chunk, os.fstat(f.fileno()).st_size)
        base = chunk.start - chunk.start % mmap.ALLOCATIONGRANULARITY
        mapped = mmap.mmap(f.fileno(), chunk.reach - base, access=mmap.ACCESS_READ, offset=base)
    return memoryview(mapped)[chunk.start - base:]


def _open(chunk: Chunk) -> BinaryIO:
    """The file holding the chunk's bytes: its capture's, or the spool of it, checked to be the
    spool's file (a path under /proc names whatever file that descriptor holds now)."""
    if chunk.spool is None:
        return open(chunk.path, "rb")
    try:
        f = open(chunk.spool.path, "rb")  # noqa: SIM115 (the caller's `with` closes it)
    except OSError as e:
        raise CaptureError(chunk.path, f"its decompressed copy is out of reach ({e})") from None
    st = os.fstat(f.fileno())
    if (st.st_dev, st.st_ino) != (chunk.spool.device, chunk.spool.inode):
        f.close()
        raise CaptureError(chunk.path, "its decompressed copy is gone (the analysis ended?)")
    return f


def _check(chunk: Chunk, end: int) -> None:
    """The decoders trust the records' offsets: never hand them a shorter buffer."""
    if end < chunk.reach:
        raise CaptureError(chunk.path, f"bytes {max(end, chunk.start)}-{chunk.reach} are gone: "
                                       "the file changed during the analysis")

"""The Python API: `analyze()` runs the whole pipeline on captures of one incident."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pcapkit import engine
from pcapkit.codes import LinkType
from pcapkit.decode import decode
from pcapkit.decode.reassembly import dns_messages
from pcapkit.decode.schema import empty_packets
from pcapkit.detect import run_detectors
from pcapkit.detect.config import DEFAULT, Config, for_snapshot
from pcapkit.engine.executor import executor
from pcapkit.engine.tasks import warm_up
from pcapkit.errors import UsageError
from pcapkit.flows import Tables, build_tables
from pcapkit.flows.clocks import Clocks, links, merge_sightings, sightings, with_clock
from pcapkit.flows.dns import NO_MESSAGES, message_rows
from pcapkit.flows.tally import tally
from pcapkit.kube import Snapshot, load_snapshot
from pcapkit.kube.enrich import enrich_findings
from pcapkit.kube.path import locate
from pcapkit.kube.unaccounted import address_warnings
from pcapkit.kube.vantage import AddressCounts, vantage_from
from pcapkit.progress import NO_PROGRESS, Progress, Stage
from pcapkit.read import Capture, read_capture, scan_capture
from pcapkit.read.source import content_size
from pcapkit.report.summary import PacketCounts
from pcapkit.streaming import STREAM_FROM_BYTES, disk_size
from pcapkit.wireshark.display_filter import PACKET_COLUMNS, with_filters
from pcapkit.wireshark.evidence import evidence_packets, frames_of
from pcapkit.wireshark.extract import extract_frames


@dataclass(frozen=True)
class CaptureInfo:
    """What one capture file is: the `captures` entries of the JSON report."""

    index: int
    path: str
    format: str
    compressed: bool
    link_types: list[str]
    interfaces: list[str]
    packets: int
    first_ts: float | None
    last_ts: float | None
    vantage: str | None
    vantage_kind: str
    #: this capture's clock minus the first capture's, from packets both saw (`flows/clocks.py`)
    clock_offset_s: float | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Analysis:
    """Everything pcapkit found in one incident's captures; frames for Jupyter, a report for
    people. `symptoms` has one row per symptom (schema: `pcapkit.detect.findings`, then the
    `k8s_*` names and `wireshark_filter`, `wireshark_decode_as`), as the JSON's `symptoms`."""

    captures: list[CaptureInfo]
    tables: Tables
    symptoms: pl.DataFrame
    snapshot: Snapshot | None
    counts: PacketCounts  #: the summary's packet, flow, protocol and tunnel counts
    #: the packet table, when the analysis held it whole (see `packets`)
    decoded: pl.DataFrame | None = field(default=None, repr=False)
    #: the thresholds the detectors ran with, as the caller gave them (before the snapshot's
    #: ClusterIPs were added): reports name those changed from the defaults
    config: Config = DEFAULT
    #: the command line that produced it, for reports to say how they were made (None: the API)
    command: str | None = None
    #: per capture, what its timestamps in the flow tables are less than in its packets: the
    #: clock it was put on (`pcapkit.flows.clocks`); none: every capture keeps its own
    clock_shift_ns: list[int] = field(default_factory=list)
    #: how `packets` reads the packet table again when the analysis did not hold it (a store
    #: read a part at a time: `pcapkit.load`); None: it decodes the captures again
    reread: Callable[[], pl.DataFrame] | None = field(default=None, repr=False)

    @property
    def findings(self) -> pl.DataFrame:
        """Deprecated alias of `symptoms` (the JSON's name), kept through 0.1.x, gone in 0.2."""
        warnings.warn("Analysis.findings is deprecated: use Analysis.symptoms (the JSON's name)",
                      DeprecationWarning, stacklevel=2)
        return self.symptoms

    @property
    def packets(self) -> pl.DataFrame:
        """One row per packet of every capture (schema: `pcapkit.decode.schema`). A streamed
        analysis never held them whole: they are decoded again (or read from its store) on first
        use."""
        if self.decoded is None and self.reread is not None:
            self.decoded = self.reread()
        if self.decoded is None:
            frames = [decode(read_capture(c.path), c.index) for c in self.captures]
            self.decoded = pl.concat(frames) if frames else empty_packets()
        return self.decoded

    @property
    def connections(self) -> pl.DataFrame:
        return self.tables.connections

    @property
    def dns(self) -> pl.DataFrame:
        return self.tables.dns

    def symptom(self, number: int) -> dict[str, Any]:
        """Symptom `number`, 1-based as the reports number them, as a row of `symptoms`."""
        if not 1 <= number <= self.symptoms.height:
            raise UsageError(f"symptom {number}: there are {self.symptoms.height} "
                             f"(numbered from 1 in the reports)")
        return self.symptoms.row(number - 1, named=True)

    def extract(self, symptom: int | dict[str, Any], path: str | Path) -> int:
        """Write the evidence packets of `symptom` (its number, or a row of `symptoms`) from
        every capture to the pcapng file `path`, with their original bytes, link types and
        interface names and a comment naming the symptom; returns the packets written."""
        row = self.symptom(symptom) if isinstance(symptom, int) else symptom
        return extract_frames([c.path for c in self.captures], frames_of(row), path,
                              symptom_label(row, symptom if isinstance(symptom, int) else None))

    def cross_check(self) -> pl.DataFrame:
        """Ask Wireshark for a second opinion: tshark's expert analysis (through pyshark) on
        each symptom's packets. Adds `wireshark_agrees` (null where Wireshark has no
        counterpart) and `wireshark_opinion` (why, or why not) to `symptoms`, and returns it.
        Needs tshark (`UsageError` without it)."""
        from pcapkit.wireshark.cross_check import cross_check
        from pcapkit.wireshark.tshark import tshark_path

        tshark_path()
        self.symptoms = cross_check(self.symptoms, [c.path for c in self.captures])
        return self.symptoms

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of the outside contract."""
        from pcapkit.report.document import document

        return document(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from pcapkit.report.markdown import render_markdown
        from pcapkit.report.text import render_text

        # text/html too: a frontend shows the richest type of a bundle, and IPython asks
        # `_repr_html_` only for types the bundle lacks
        return {"text/plain": render_text(self),
                "text/markdown": render_markdown(self),
                "text/html": self._repr_html_()}

    def _repr_html_(self) -> str:
        """The verdict, the symptoms by layer and by Service, and their timeline (the top of
        the HTML report)."""
        from pcapkit.report.html import fragment

        return fragment(self)


def symptom_label(row: dict[str, Any], number: int | None) -> str:
    """`pcapkit symptom 3: unanswered_syn 10.244.1.10:40001 → 10.96.0.50:80`."""
    from pcapkit.report.document import endpoint_text

    ends = " → ".join(e for e in (endpoint_text(row["client_ip"], row["client_port"]),
                                  endpoint_text(row["server_ip"], row["server_port"])) if e)
    return " ".join(filter(None, ("pcapkit symptom", f"{number}:" if number else None,
                                  row["kind"], ends)))


def analyze(
    captures: Sequence[str | Path],
    snapshots: Sequence[str | Path] = (),
    config: Config = DEFAULT,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_records: int | None = None,
    shards: int | None = None,
    spill_dir: str | None = None,
    progress: bool | Progress = False,
    stream: bool | None = None,
    packets_to: str | Path | None = None,
) -> Analysis:
    """Read, decode, follow flows and detect symptoms in the captures of one incident.

    Captures of `STREAM_FROM_BYTES` or more in all (decompressed) are streamed
    (`pcapkit.engine`): decoded chunk by chunk on `workers` local processes (default: every
    core; 1: this process only) or on the Dask cluster `scheduler` names (`tcp://HOST:PORT`, or
    `local:N` to start one), with
    rows spilled to a temporary directory under `spill_dir` (default: the system's; it must be
    shared with a remote cluster's workers). Giving `scheduler`, `chunk_records` or `shards`
    streams smaller captures too; `stream` True or False decides it outright. The result is the
    same either way, but for `packets`, which a streamed analysis decodes again on first use,
    and `tables.packets`, which it leaves empty.

    `progress=True` draws a progress bar on stderr when the analysis takes more than a second
    (on a terminal or in a notebook); a callable is called instead (`pcapkit.progress`).

    `packets_to`: a folder to write the flow stage's packet table to, as Parquet partitioned by
    capture (`capture=N/part-K.parquet`, a part per decoded batch), as the analysis streams:
    what `pcapkit convert` stores, never held whole. An analysis held in memory writes none
    (its `tables.packets` is the table).
    """
    total = disk_size(captures)
    if stream is None:
        tuned = (scheduler, chunk_records, shards)
        stream = any(t is not None for t in tuned) or _large(captures)
    with _reporter(progress) as report:
        if not stream:
            return _in_memory(captures, snapshots, config, report)
        return _streamed(captures, snapshots, config, report, total, workers=workers,
                         scheduler=scheduler, chunk_records=chunk_records, shards=shards,
                         spill_dir=spill_dir,
                         packets_to=None if packets_to is None else str(packets_to))


def _streamed(captures: Sequence[str | Path], snapshots: Sequence[str | Path], config: Config,
              report: Progress, total: int, *, workers: int | None, scheduler: str | None,
              chunk_records: int | None, shards: int | None,
              spill_dir: str | None, packets_to: str | None) -> Analysis:
    pool = executor(workers, scheduler)
    try:
        pool.start(warm_up)  # the workers start up while this process reads the captures
        snap = _snapshot(snapshots, report, total)
        report(Stage.READ, 0, total, 0)
        scans = [scan_capture(path) for path in captures]
        streamed = engine.run(scans, for_snapshot(config, snap), pool,
                              chunk_records=chunk_records, shards=shards,
                              tuples=snap is not None, spill_dir=spill_dir,
                              progress=report, total_bytes=total, evidence=PACKET_COLUMNS,
                              packets_to=packets_to)
    finally:
        pool.close()
    findings = streamed.findings
    if snap is not None and streamed.tuples is not None:
        findings = enrich_findings(findings, streamed.tuples, snap, streamed.tables.connections)
    infos = [_info(i, cap, (seen.records, seen.first_ts_ns, seen.last_ts_ns), counts, snap,
                   warnings, streamed.clocks)
             for i, ((cap, _), seen, counts, warnings)
             in enumerate(zip(scans, streamed.seen, streamed.addresses, streamed.warnings,
                              strict=True))]
    findings = locate(findings, streamed.tables, list(infos), snap)
    # The packets were never held whole: the evidence frames alone are decoded again.
    findings = with_filters(findings, evidence_packets(
        [cap for cap, _ in scans], findings, [seen.spans for seen in streamed.seen],
        PACKET_COLUMNS, streamed.evidence))
    return Analysis(infos, streamed.tables, findings, snap, streamed.counts, config=config,
                    clock_shift_ns=streamed.clocks.shift)


def _in_memory(captures: Sequence[str | Path], snapshots: Sequence[str | Path], config: Config,
               report: Progress) -> Analysis:
    sizes = [disk_size([p]) for p in captures]
    total, done, n_packets = sum(sizes), 0, 0
    snap = _snapshot(snapshots, report, total)
    read: list[Capture] = []
    frames: list[pl.DataFrame] = []
    messages: list[pl.DataFrame] = []
    for i, path in enumerate(captures):
        report(Stage.READ, done, total, n_packets)
        read.append(read_capture(path))
        report(Stage.DECODE, done, total, n_packets)
        frames.append(decode(read[-1], i))
        messages.append(dns_messages(read[-1], frames[-1]))
        done, n_packets = done + sizes[i], n_packets + frames[-1].height
    report(Stage.FLOWS, done, total, n_packets)
    packets = pl.concat(frames) if frames else empty_packets()
    # One capture has one clock: nothing to match.
    sights = sightings(packets) if len(read) > 1 else merge_sightings([])
    reassembled = pl.concat(messages) if messages else NO_MESSAGES
    clocks = Clocks.of(sights, len(read))
    if clocks.apart():
        # by the DNS messages the flows read, as the engine does (`shard_links`)
        links_of = links(message_rows(packets, reassembled), clocks.groups)
        clocks = Clocks.of(sights, len(read), links_of)
    infos = [_info(i, cap, _span(cap), AddressCounts.of(frame), snap, [], clocks)
             for i, (cap, frame) in enumerate(zip(read, frames, strict=True))]
    tables = build_tables(with_clock(packets, clocks.shift, "ts_ns"),
                          messages=with_clock(reassembled, clocks.shift, "ts_ns"))
    report(Stage.DETECT, done, total, n_packets)
    findings = run_detectors(tables, for_snapshot(config, snap))
    if snap is not None:
        findings = enrich_findings(findings, packets, snap, tables.connections)
    findings = with_filters(locate(findings, tables, list(infos), snap), packets)
    return Analysis(infos, tables, findings, snap, PacketCounts.of(tally(packets)), packets,
                    config=config, clock_shift_ns=clocks.shift)


def _snapshot(snapshots: Sequence[str | Path], report: Progress, total: int) -> Snapshot | None:
    if not snapshots:
        return None
    report(Stage.KUBE, 0, total, 0)
    return load_snapshot(snapshots)


def _reporter(progress: bool | Progress) -> AbstractContextManager[Progress]:
    if progress is True:
        from pcapkit.cli.progress import progress_display  # rich, only when asked for

        return progress_display(True)
    return nullcontext(NO_PROGRESS if isinstance(progress, bool) else progress)


def _large(paths: Sequence[str | Path]) -> bool:
    """Whether the captures hold `STREAM_FROM_BYTES` or more in all, as read: a gzip-compressed
    capture decompressed (a capture compresses 3-30x: counted on disk, 1.3M packets of bulk TCP
    in 41 MB of gzip were held whole, 2.7 GB), one at a URL too."""
    left = STREAM_FROM_BYTES
    for p in paths:
        left -= content_size(p, left)
        if left <= 0:
            return True
    return False


def read_packets(path: str | Path) -> pl.DataFrame:
    """One capture's packet table (schema: `pcapkit.decode.schema`)."""
    return decode(read_capture(path))


def _span(cap: Capture) -> tuple[int, int | None, int | None]:
    """A capture's records, first and last timestamp (ns)."""
    ts = cap.records.ts_ns
    return len(ts), (int(ts.min()) if len(ts) else None), (int(ts.max()) if len(ts) else None)


def _info(index: int, cap: Capture, span: tuple[int, int | None, int | None],
          addresses: AddressCounts, snap: Snapshot | None, warnings: list[str],
          clocks: Clocks) -> CaptureInfo:
    records, first, last = span
    offset = clocks.offsets[index]
    v = vantage_from(addresses, cap.link_types, snap)
    return CaptureInfo(
        index=index, path=cap.path, format=cap.format, compressed=cap.compressed,
        link_types=[LinkType.name_of(lt) for lt in cap.link_types],
        interfaces=[i.name or f"#{i.index}" for i in cap.interfaces],
        packets=records,
        first_ts=first / 1e9 if first is not None else None,
        last_ts=last / 1e9 if last is not None else None,
        vantage=v.name, vantage_kind=v.kind,
        clock_offset_s=offset / 1e9 if offset is not None else None,
        warnings=[*cap.warnings, *warnings, *address_warnings(addresses, v, cap.path, snap)],
    )

"""The Python API: `analyze()` runs the whole pipeline on captures of one incident."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pcapkit.codes import LinkType
from pcapkit.decode import decode
from pcapkit.decode.schema import empty_packets
from pcapkit.detect import run_detectors
from pcapkit.detect.config import DEFAULT, Config
from pcapkit.flows import Tables, build_tables
from pcapkit.kube import Snapshot, load_snapshot, vantage_of
from pcapkit.kube.enrich import enrich_findings
from pcapkit.progress import NO_PROGRESS, Progress, Stage
from pcapkit.read import Capture, read_capture


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
    warnings: list[str] = field(default_factory=list)


@dataclass
class Analysis:
    """Everything pcapkit found in one incident's captures; frames for Jupyter, a report for
    people. `findings` has one row per symptom (schema: `pcapkit.detect.findings`)."""

    captures: list[CaptureInfo]
    packets: pl.DataFrame
    tables: Tables
    findings: pl.DataFrame
    snapshot: Snapshot | None

    @property
    def connections(self) -> pl.DataFrame:
        return self.tables.connections

    @property
    def dns(self) -> pl.DataFrame:
        return self.tables.dns

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of the outside contract."""
        from pcapkit.report.document import document

        return document(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        from pcapkit.report.markdown import render_markdown
        from pcapkit.report.text import render_text

        return {"text/plain": render_text(self),
                "text/markdown": render_markdown(self)}


def analyze(
    captures: Sequence[str | Path],
    snapshots: Sequence[str | Path] = (),
    config: Config = DEFAULT,
    progress: bool | Progress = False,
) -> Analysis:
    """Read, decode, follow flows and detect symptoms in the captures of one incident.

    `progress=True` draws a progress bar on stderr when the analysis takes more than a second
    (on a terminal or in a notebook); a callable is called instead (`pcapkit.progress`).
    """
    with _reporter(progress) as report:
        return _analyze(captures, snapshots, config, report)


def _analyze(captures: Sequence[str | Path], snapshots: Sequence[str | Path], config: Config,
             report: Progress) -> Analysis:
    sizes = [_size(p) for p in captures]
    total, done, n_packets = sum(sizes), 0, 0
    if snapshots:
        report(Stage.KUBE, 0, total, 0)
    snap = load_snapshot(snapshots) if snapshots else None
    read: list[Capture] = []
    frames: list[pl.DataFrame] = []
    for i, path in enumerate(captures):
        report(Stage.READ, done, total, n_packets)
        read.append(read_capture(path))
        report(Stage.DECODE, done, total, n_packets)
        frames.append(decode(read[-1], i))
        done, n_packets = done + sizes[i], n_packets + frames[-1].height
    report(Stage.FLOWS, done, total, n_packets)
    packets = pl.concat(frames) if frames else empty_packets()
    infos = [_info(i, cap, frame, snap)
             for i, (cap, frame) in enumerate(zip(read, frames, strict=True))]
    tables = build_tables(packets)
    report(Stage.DETECT, done, total, n_packets)
    findings = run_detectors(tables, config)
    if snap is not None:
        findings = enrich_findings(findings, packets, snap)
    return Analysis(infos, packets, tables, findings, snap)


def read_packets(path: str | Path) -> pl.DataFrame:
    """One capture's packet table (schema: `pcapkit.decode.schema`)."""
    return decode(read_capture(path))


def _reporter(progress: bool | Progress) -> AbstractContextManager[Progress]:
    if progress is True:
        from pcapkit.cli.progress import progress_display  # rich, only when asked for

        return progress_display(True)
    return nullcontext(NO_PROGRESS if isinstance(progress, bool) else progress)


def _size(path: str | Path) -> int:
    """Bytes on disk, for progress only: 0 when unreadable (reading it will say why)."""
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def _info(index: int, cap: Capture, packets: pl.DataFrame, snap: Snapshot | None) -> CaptureInfo:
    ts = cap.records.ts_ns
    v = vantage_of(packets, cap.link_types, snap)
    return CaptureInfo(
        index=index, path=cap.path, format=cap.format, compressed=cap.compressed,
        link_types=[LinkType.name_of(lt) for lt in cap.link_types],
        interfaces=[i.name or f"#{i.index}" for i in cap.interfaces],
        packets=len(cap.records),
        first_ts=float(ts.min()) / 1e9 if len(ts) else None,
        last_ts=float(ts.max()) / 1e9 if len(ts) else None,
        vantage=v.name, vantage_kind=v.kind, warnings=list(cap.warnings),
    )

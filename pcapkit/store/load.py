"""Reading a store back into an `Analysis`, without the capture files.

`load(DIR)` returns what `analyze` computed when the store was written. Given a snapshot or
thresholds other than the stored ones, it runs the detectors again on the stored flow tables
and names findings and vantages with the snapshot, as `analyze` would with them. Packets are
not decoded again and flows are not rebuilt: both depend on the captures alone. A large store
whose findings are kept is read as a streamed `analyze` leaves its result: the packet table a
part at a time, never whole (`load`'s `stream`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

import polars as pl

from pcapkit.api import Analysis, CaptureInfo
from pcapkit.codes import LinkType
from pcapkit.decode.schema import PACKET_SCHEMA
from pcapkit.detect import run_detectors
from pcapkit.detect.config import Config, for_snapshot
from pcapkit.engine.stored import PARTITION_KEY
from pcapkit.errors import StoreError, UsageError
from pcapkit.flows import TABLE_ORDER, Tables, capture_spans
from pcapkit.flows.clocks import with_clock
from pcapkit.flows.probes import probe_rows, probes
from pcapkit.flows.schema import PACKET_EXTRA, SPANS
from pcapkit.flows.tally import tally
from pcapkit.flows.views import source_counts, sources_table
from pcapkit.kube import Snapshot, load_snapshot, vantage_of
from pcapkit.kube.enrich import enrich_findings
from pcapkit.kube.path import locate
from pcapkit.kube.snapshot import ENDPOINTS, NODES, PODS, SERVICES
from pcapkit.report.summary import PacketCounts
from pcapkit.store.layout import (
    MANIFEST,
    SNAPSHOT_KINDS,
    Manifest,
    by_capture,
    partition_file,
    partition_parts,
    snapshot_file,
    whole_file,
)
from pcapkit.streaming import STREAM_FROM_PACKETS
from pcapkit.wireshark.display_filter import with_filters


def is_store(path: str | Path) -> bool:
    """Whether `path` is a directory holding a pcapkit store (it has a manifest)."""
    return (Path(path) / MANIFEST).is_file()


def load(directory: str | Path, snapshots: Sequence[str | Path] = (),
         config: Config | None = None, *, stream: bool | None = None) -> Analysis:
    """The `Analysis` stored in `directory` by `pcapkit convert` or `pcapkit.save`.

    `snapshots`: cluster snapshot files to use instead of the stored snapshot (if any).
    `config`: thresholds to detect with; None (or the stored ones) keeps the stored findings.
    `stream`: read the packet table a part at a time, for the counts, spans, sources and probes
    it adds up to, rather than hold it whole: then `tables.packets` is empty and `packets` reads
    the table on first use, as a streamed `analyze` leaves them. None: when it has
    `STREAM_FROM_PACKETS` rows or more and the stored findings are kept (the detectors read the
    packet table whole: a store is detected again in memory).
    """
    root = Path(directory)
    manifest = Manifest.read(root)
    run_config = manifest.config if config is None else config
    detect = bool(snapshots) or run_config != manifest.config
    if stream is None:
        stream = not detect and manifest.tables["packets"]["rows"] >= STREAM_FROM_PACKETS
    if stream and detect:
        raise UsageError(f"{root}: detecting again (another snapshot or other thresholds) "
                         "reads the stored packet table whole: it cannot stream")
    if stream:
        return _streamed(root, manifest)
    n = len(manifest.captures)
    stored = _read_partitioned(root, "packets", n, manifest)
    packets = stored.select(PACKET_SCHEMA.names())
    flow_packets = with_clock(stored, manifest.clock_shift_ns, "ts_ns")
    kinds = tally(packets)  # the clock moves no column a tally reads
    tables = _tables(root, manifest, flow_packets, capture_spans(flow_packets),
                     [source_counts(kinds)], probe_rows(flow_packets))
    captures = manifest.captures
    snap = _stored_snapshot(root, manifest)
    if snapshots:
        snap = load_snapshot(snapshots)
        captures = [_with_vantage(c, part, snap)
                    for c, (_, part) in zip(captures, by_capture(packets, n), strict=True)]
    if detect:
        findings = run_detectors(tables, for_snapshot(run_config, snap))
        if snap is not None:
            findings = enrich_findings(findings, packets, snap, tables.connections)
        findings = with_filters(locate(findings, tables, list(captures), snap), packets)
    else:
        findings = _read(whole_file(root, "findings"))
    return Analysis(captures, tables, findings, snap, PacketCounts.of(kinds), packets,
                    config=run_config, clock_shift_ns=manifest.clock_shift_ns)


def _streamed(root: Path, manifest: Manifest) -> Analysis:
    """The stored analysis, its packet table read a part (a decoded batch) at a time: what the
    tables and the summary add up from it, not the table."""
    counts, sources, spans, probed = [], [], [], []
    for part in _parts(root, "packets", len(manifest.captures), manifest):
        kinds = tally(part)
        counts.append(PacketCounts.of(kinds))
        sources.append(source_counts(kinds))
        flow_part = with_clock(part, manifest.clock_shift_ns, "ts_ns")
        spans.append(capture_spans(flow_part))
        probed.append(probe_rows(flow_part))
    packets = pl.DataFrame(schema=PACKET_SCHEMA | PACKET_EXTRA)
    tables = _tables(root, manifest, packets, _merged_spans(spans), sources, pl.concat(probed))
    return Analysis(manifest.captures, tables, _read(whole_file(root, "findings")),
                    _stored_snapshot(root, manifest), PacketCounts.merge(counts),
                    config=manifest.config, clock_shift_ns=manifest.clock_shift_ns,
                    reread=partial(_stored_packets, root, manifest))


def _tables(root: Path, manifest: Manifest, packets: pl.DataFrame, spans: pl.DataFrame,
            sources: list[pl.DataFrame], probed: pl.DataFrame) -> Tables:
    """The stored tables, and those made from the packet table (`packets`, flow stage's, on
    one clock): its `spans`, `source_counts` of its parts, and its `probe_rows`."""
    views = _read(whole_file(root, "views"))
    return Tables(
        packets=packets,
        connections=_read_partitioned(root, "connections", len(manifest.captures), manifest
                                      ).sort(TABLE_ORDER),
        dns=_read(whole_file(root, "dns")),
        icmp_errors=_read(whole_file(root, "icmp_errors")),
        views=views,
        spans=spans,
        sources=sources_table(sources, views),
        # read from DNS messages reassembled from the capture bytes: stored as they were
        dns_views=_read(whole_file(root, "dns_views")),
        probes=probes(probed),
    )


def _merged_spans(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The SPANS table of `capture_spans` of parts of the packet table (a store has one part a
    capture at least: `save` refuses none)."""
    return (pl.concat(parts).group_by("capture")
            .agg(pl.col("first_ts_ns").min(), pl.col("last_ts_ns").max(), pl.col("packets").sum())
            .sort("capture").cast(SPANS))


def _stored_packets(root: Path, manifest: Manifest) -> pl.DataFrame:
    """The stored packet table's decoded columns, whole: `Analysis.packets` of a streamed
    load."""
    return (_read_partitioned(root, "packets", len(manifest.captures), manifest)
            .select(PACKET_SCHEMA.names()))


def store_argument(paths: Sequence[Path], vxlan_ports: Sequence[int] | None = None
                   ) -> Path | None:
    """The store named by `pcapkit analyze`'s arguments, or None when they are captures.

    A directory must be a store, given alone; `--vxlan-port` does not apply to a store (its
    packets were decoded when it was written).
    """
    dirs = [p for p in paths if p.is_dir()]
    if not dirs:
        return None
    Manifest.read(dirs[0])  # a directory that is not a store: StoreError naming it
    if len(paths) > 1:
        raise UsageError(f"{dirs[0]}: a pcapkit store is analysed alone, without other "
                         "captures or stores")
    if vxlan_ports:
        raise UsageError(f"--vxlan-port: {dirs[0]} holds packets decoded when it was written "
                         "(pcapkit convert --vxlan-port decodes them with another port)")
    return dirs[0]


def _read(path: Path, partition: int | None = None,
          columns: list[str] | None = None) -> pl.DataFrame:
    """One Parquet file; a partition's with its `capture` column put back, in `columns` order."""
    try:
        frame = pl.read_parquet(path)
    except FileNotFoundError:
        raise StoreError(path, "missing: the store is incomplete") from None
    except (OSError, pl.exceptions.PolarsError) as e:
        raise StoreError(path, f"unreadable Parquet file: {e}") from None
    if partition is None or columns is None:
        return frame
    frame = frame.with_columns(pl.lit(partition, pl.UInt16).alias(PARTITION_KEY))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise StoreError(path, f"lacks the column {missing[0]!r} the manifest lists")
    return frame.select(columns)


def _read_partitioned(root: Path, table: str, captures: int, manifest: Manifest
                      ) -> pl.DataFrame:
    """Every capture's partition, in capture order, with the partition column put back."""
    return pl.concat(_parts(root, table, captures, manifest), rechunk=False)


def _parts(root: Path, table: str, captures: int, manifest: Manifest
           ) -> Iterator[pl.DataFrame]:
    """Each part of every capture's partition, in order, with the partition column put back."""
    columns = manifest.tables[table]["columns"]
    for capture in range(captures):
        paths = partition_parts(root, table, capture)
        if not paths:
            raise StoreError(partition_file(root, table, capture).parent,
                             "missing: the store is incomplete")
        for path in paths:
            yield _read(path, capture, columns)


SNAPSHOT_SCHEMAS = {"pods": PODS, "services": SERVICES, "endpoints": ENDPOINTS, "nodes": NODES}


def _stored_snapshot(root: Path, manifest: Manifest) -> Snapshot | None:
    if manifest.snapshot_sources is None:
        return None
    frames = {kind: _read(snapshot_file(root, kind)) for kind in SNAPSHOT_KINDS}
    # A store written before a column was added to the snapshot's frames (a Service's
    # externalTrafficPolicy, its LoadBalancer IPs) reads it as unknown.
    frames = {kind: frame.with_columns(pl.lit(None, dtype).alias(name)
                                       for name, dtype in SNAPSHOT_SCHEMAS[kind].items()
                                       if name not in frame.columns)
              for kind, frame in frames.items()}
    return Snapshot(**frames, sources=manifest.snapshot_sources)


def _with_vantage(info: CaptureInfo, packets: pl.DataFrame, snap: Snapshot) -> CaptureInfo:
    """`info` with its vantage named by `snap` (as `analyze` names it)."""
    v = vantage_of(packets, [_link_type(name) for name in info.link_types], snap)
    return replace(info, vantage=v.name, vantage_kind=v.kind)


def _link_type(name: str) -> int:
    """The link type code of a name `LinkType.name_of` gave (RAW's three codes read as 101)."""
    if name.startswith("LINKTYPE_"):
        return int(name.removeprefix("LINKTYPE_"))
    return int(LinkType[name])

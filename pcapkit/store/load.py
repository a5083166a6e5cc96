"""Reading a store back into an `Analysis`, without the capture files.

`load(DIR)` returns what `analyze` computed when the store was written. Given a snapshot or
thresholds other than the stored ones, it runs the detectors again on the stored flow tables
and names findings and vantages with the snapshot, as `analyze` would with them. Packets are
not decoded again and flows are not rebuilt: both depend on the captures alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
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
from pcapkit.wireshark.display_filter import with_filters


def is_store(path: str | Path) -> bool:
    """Whether `path` is a directory holding a pcapkit store (it has a manifest)."""
    return (Path(path) / MANIFEST).is_file()


def load(directory: str | Path, snapshots: Sequence[str | Path] = (),
         config: Config | None = None) -> Analysis:
    """The `Analysis` stored in `directory` by `pcapkit convert` or `pcapkit.save`.

    `snapshots`: cluster snapshot files to use instead of the stored snapshot (if any).
    `config`: thresholds to detect with; None (or the stored ones) keeps the stored findings.
    """
    root = Path(directory)
    manifest = Manifest.read(root)
    n = len(manifest.captures)
    stored = _read_partitioned(root, "packets", n, manifest)
    packets = stored.select(PACKET_SCHEMA.names())
    flow_packets = with_clock(stored, manifest.clock_shift_ns, "ts_ns")
    kinds = tally(packets)  # the clock moves no column a tally reads
    tables = Tables(
        packets=flow_packets,
        connections=_read_partitioned(root, "connections", n, manifest).sort(TABLE_ORDER),
        dns=_read(whole_file(root, "dns")),
        icmp_errors=_read(whole_file(root, "icmp_errors")),
        views=(views := _read(whole_file(root, "views"))),
        spans=capture_spans(flow_packets),
        sources=sources_table([source_counts(kinds)], views),
        # read from DNS messages reassembled from the capture bytes: stored as they were
        dns_views=_read(whole_file(root, "dns_views")),
        probes=probes(probe_rows(flow_packets)),
    )
    captures = manifest.captures
    snap = _stored_snapshot(root, manifest)
    if snapshots:
        snap = load_snapshot(snapshots)
        captures = [_with_vantage(c, part, snap)
                    for c, (_, part) in zip(captures, by_capture(packets, n), strict=True)]
    run_config = manifest.config if config is None else config
    if snapshots or run_config != manifest.config:
        findings = run_detectors(tables, for_snapshot(run_config, snap))
        if snap is not None:
            findings = enrich_findings(findings, packets, snap, tables.connections)
        findings = with_filters(locate(findings, tables, list(captures), snap), packets)
    else:
        findings = _read(whole_file(root, "findings"))
        if "wireshark_filter" not in findings.columns:  # a store from before pcapkit had them
            findings = with_filters(findings, packets)
    return Analysis(captures, tables, findings, snap, PacketCounts.of(kinds), packets,
                    config=run_config, clock_shift_ns=manifest.clock_shift_ns)


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
    columns = manifest.tables[table]["columns"]
    parts = []
    for capture in range(captures):
        paths = partition_parts(root, table, capture)
        if not paths:
            raise StoreError(partition_file(root, table, capture).parent,
                             "missing: the store is incomplete")
        parts += [_read(path, capture, columns) for path in paths]
    return pl.concat(parts, rechunk=False)


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

"""Writing an `Analysis` into a store directory (layout: `pcapkit/store/__init__.py`).

The packet table is written one capture at a time from zero-copy slices, so writing needs no
second copy of it in memory. The stored packets are the flow stage's (`tables.packets`: the
decoded columns plus `view`, `conn`, `from_client`, `tcp_analysis`); `Analysis.packets` is read
back as its first columns.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from pcapkit.api import Analysis, analyze
from pcapkit.decode.tunnels import UDP_TUNNELS
from pcapkit.detect.config import DEFAULT, Config
from pcapkit.errors import StoreError, UsageError
from pcapkit.store.layout import (
    ENTRIES,
    MANIFEST,
    PARTITION_KEY,
    SNAPSHOT_KINDS,
    Manifest,
    by_capture,
    partition_file,
    snapshot_file,
    whole_file,
)
from pcapkit.version import __version__


def convert(captures: Sequence[str | Path], directory: str | Path,
            snapshots: Sequence[str | Path] = (), *, overwrite: bool = False) -> Analysis:
    """Analyse `captures` (with the default thresholds) and save the result in `directory`,
    which is checked first, before any decoding."""
    check_target(directory, overwrite)
    # The store holds the flow stage's packet table, which only the in-memory pipeline has.
    result = analyze(captures, snapshots, stream=False)
    save(result, directory, overwrite=overwrite)
    return result


def save(analysis: Analysis, directory: str | Path, *, config: Config = DEFAULT,
         overwrite: bool = False) -> Path:
    """Write `analysis` as a store in `directory` (created if needed) and return its path.

    `config`: the thresholds `analysis.symptoms` were found with (recorded, so that `load`
    knows when it must detect again). The directory must be empty or missing; an existing
    store (or the remains of an unfinished one) is replaced only with `overwrite`. A directory
    holding anything else is never written into.
    """
    root = Path(directory)
    tables = analysis.tables
    n = len(analysis.captures)
    if n == 0:
        raise UsageError("no captures to store")
    if tables.packets.height != analysis.packets.height:
        raise UsageError("analysis.packets and analysis.tables.packets differ in rows: "
                         "not an Analysis that pcapkit.analyze made")
    _prepare(root, overwrite)
    try:
        counts = {
            # The packets as captured: the flow tables' timestamps are on the first capture's
            # clock (`pcapkit/flows/clocks.py`), by the shift the manifest keeps.
            "packets": _write_partitioned(
                tables.packets.with_columns(ts_ns=analysis.packets["ts_ns"]), root, "packets", n),
            "connections": _write_partitioned(tables.connections, root, "connections", n),
        }
        for name, frame in (("views", tables.views), ("dns", tables.dns),
                            ("icmp_errors", tables.icmp_errors), ("findings", analysis.symptoms),
                            ("dns_views", tables.dns_views)):
            frame.write_parquet(whole_file(root, name))
            counts[name] = frame.height
        snap = analysis.snapshot
        if snap is not None:
            (root / "snapshot").mkdir()
            for kind in SNAPSHOT_KINDS:
                frame = getattr(snap, kind)
                frame.write_parquet(snapshot_file(root, kind))
    except (OSError, pl.exceptions.PolarsError) as e:
        raise StoreError(root, f"cannot write the store: {getattr(e, 'strerror', None) or e}"
                         ) from None
    columns = {"packets": tables.packets.columns, "connections": tables.connections.columns,
               "views": tables.views.columns, "dns": tables.dns.columns,
               "icmp_errors": tables.icmp_errors.columns, "findings": analysis.symptoms.columns,
               "dns_views": tables.dns_views.columns}
    Manifest(
        pcapkit_version=__version__,
        captures=list(analysis.captures),
        config=config,
        snapshot_sources=None if snap is None else snap.sources,
        udp_tunnels={port: str(t.value) for port, t in UDP_TUNNELS.items()},
        tables={name: {"rows": counts[name], "columns": columns[name]} for name in counts},
        clock_shift_ns=_shifts(analysis, n),
    ).write(root)
    return root


def _shifts(analysis: Analysis, captures: int) -> list[int]:
    """Per capture, its packets' timestamps minus the flow tables': the clock shift that
    `analyze` found, kept because `load` could not find it again (clocks may be linked by DNS
    messages reassembled from TCP segments and IP fragments, which the store does not hold)."""
    shift = [0] * captures
    shifted = analysis.tables.packets.select(
        "capture", shift=analysis.packets["ts_ns"] - pl.col("ts_ns"))
    for capture, value in shifted.group_by("capture").first().iter_rows():
        shift[capture] = value
    return shift


def check_target(directory: str | Path, overwrite: bool = False) -> set[str]:
    """Whether a store may be written to `directory`: `StoreError` saying why not, else the
    names of the previous store's entries that writing will replace."""
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise StoreError(root, "exists and is not a directory")
    try:
        entries = {p.name for p in root.iterdir()} if root.is_dir() else set()
    except OSError as e:
        raise StoreError(root, f"cannot read the directory: {e.strerror or e}") from None
    foreign = entries - ENTRIES - {f".{MANIFEST}.tmp"}
    if foreign:
        shown = ", ".join(sorted(foreign)[:3]) + (", …" if len(foreign) > 3 else "")
        raise StoreError(root, f"directory is not empty and not a pcapkit store (holds {shown}); "
                               "give a new or empty directory")
    if entries and not overwrite:
        what = "a pcapkit store" if MANIFEST in entries else "an unfinished pcapkit store"
        raise StoreError(root, f"already holds {what}; --overwrite replaces it")
    return entries


def _prepare(root: Path, overwrite: bool) -> None:
    """An empty directory at `root`, or `StoreError` saying why not."""
    entries = check_target(root, overwrite)
    try:
        # The manifest goes first: a store half deleted is no store.
        for name in sorted(entries, key=lambda e: e != MANIFEST):
            path = root / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(root, f"cannot prepare the directory: {e.strerror or e}") from None


def _write_partitioned(frame: pl.DataFrame, root: Path, table: str, captures: int) -> int:
    """One file per capture (empty ones too, so every partition has the schema)."""
    for capture, part in by_capture(frame, captures):
        path = partition_file(root, table, capture)
        path.parent.mkdir(parents=True)
        part.drop(PARTITION_KEY).write_parquet(path)
    return frame.height


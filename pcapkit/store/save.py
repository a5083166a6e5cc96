"""Writing an `Analysis` into a store directory (layout: `pcapkit/store/__init__.py`).

The stored packets are the flow stage's (`tables.packets`: the decoded columns plus `view`,
`conn`, `from_client`, `tcp_analysis`); `Analysis.packets` is read back as its first columns.
`convert` streams, and the engine writes them a chunk at a time (`pcapkit.engine.stored`);
`save` of an analysis held in memory writes them one capture at a time from zero-copy slices,
so writing needs no second copy of them in memory.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import polars as pl

from pcapkit.api import Analysis, analyze
from pcapkit.decode.tunnels import UDP_TUNNELS
from pcapkit.detect.config import DEFAULT, Config
from pcapkit.engine.stored import PARTITION_KEY, STORED
from pcapkit.errors import StoreError, UsageError
from pcapkit.progress import Progress
from pcapkit.store.layout import (
    ENTRIES,
    MANIFEST,
    SNAPSHOT_KINDS,
    Manifest,
    by_capture,
    partition_file,
    snapshot_file,
    staging_folder,
    whole_file,
)
from pcapkit.version import __version__

T = TypeVar("T")


def convert(captures: Sequence[str | Path], directory: str | Path,
            snapshots: Sequence[str | Path] = (), *, overwrite: bool = False,
            workers: int | None = None, scheduler: str | None = None,
            spill_dir: str | None = None, progress: bool | Progress = False,
            stream: bool | None = None) -> Analysis:
    """Analyse `captures` (with the default thresholds) and save the result in `directory`,
    which is checked first, before any decoding. Captures `pcapkit.analyze` streams (large
    ones; `stream` decides it outright) have their packet table written as the analysis
    streams (`pcapkit.engine.stored`): converting holds no more than analysing does. It is
    written beside `directory` (`staging_folder`) and moved in once the analysis is done: a
    store it replaces is kept should the captures not read. `workers`, `scheduler`,
    `spill_dir` and `progress`: as `pcapkit.analyze` takes them (a remote cluster's workers
    write the packet table: `directory`'s folder must be one they share)."""
    root = Path(directory)
    check_target(root, overwrite)
    staging = staging_folder(root)

    def stage() -> None:
        shutil.rmtree(staging, ignore_errors=True)  # a convert's that was cut short
        staging.mkdir(parents=True)

    _written(root, stage)
    try:
        result = analyze(captures, snapshots, workers=workers, scheduler=scheduler,
                         packets_to=staging, spill_dir=spill_dir, progress=progress,
                         stream=stream)
        _prepare(root, overwrite)
        if result.decoded is None:  # streamed: its packets are in `staging`
            packets = result.counts.packets
            _written(root, lambda: staging.rename(root / "packets"))
        else:
            packets = _write_packets(result, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _write_tables(result, root, DEFAULT, packets)
    return result


def save(analysis: Analysis, directory: str | Path, *, config: Config = DEFAULT,
         overwrite: bool = False) -> Path:
    """Write `analysis` as a store in `directory` (created if needed) and return its path.

    `config`: the thresholds `analysis.symptoms` were found with (recorded, so that `load`
    knows when it must detect again). The directory must be empty or missing; an existing
    store (or the remains of an unfinished one) is replaced only with `overwrite`. A directory
    holding anything else is never written into. A streamed analysis never held its packet
    table: `pcapkit.store.convert` writes it as it streams.
    """
    root = Path(directory)
    tables = analysis.tables
    if not analysis.captures:
        raise UsageError("no captures to store")
    if analysis.decoded is None or tables.packets.height != analysis.decoded.height:
        raise UsageError("analysis holds no packet table (a streamed analysis: "
                         "pcapkit.store.convert stores the captures as it streams them)")
    _prepare(root, overwrite)
    _write_tables(analysis, root, config, _write_packets(analysis, root))
    return root


def _write_packets(analysis: Analysis, root: Path) -> int:
    """Write the packet table `analysis` holds into the store at `root`; its rows."""
    return _written(root, lambda: _write_partitioned(
        # The packets as captured: the flow tables' timestamps are on the first capture's
        # clock (`pcapkit/flows/clocks.py`), by the shift the manifest keeps.
        analysis.tables.packets.with_columns(ts_ns=analysis.packets["ts_ns"]), root, "packets",
        len(analysis.captures)))


def _write_tables(analysis: Analysis, root: Path, config: Config, packets: int) -> None:
    """Write every table of `analysis` but the packets (`packets` rows of them written
    already) into the store at `root`, then the manifest."""
    tables = analysis.tables
    n = len(analysis.captures)

    def write() -> dict[str, int]:
        counts = {"packets": packets,
                  "connections": _write_partitioned(tables.connections, root, "connections", n)}
        for name, frame in (("views", tables.views), ("dns", tables.dns),
                            ("icmp_errors", tables.icmp_errors), ("findings", analysis.symptoms),
                            ("dns_views", tables.dns_views)):
            frame.write_parquet(whole_file(root, name))
            counts[name] = frame.height
        if snap is not None:
            (root / "snapshot").mkdir()
            for kind in SNAPSHOT_KINDS:
                getattr(snap, kind).write_parquet(snapshot_file(root, kind))
        return counts

    snap = analysis.snapshot
    counts = _written(root, write)
    columns = {"packets": STORED.names(), "connections": tables.connections.columns,
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
        clock_shift_ns=analysis.clock_shift_ns or [0] * n,
    ).write(root)


def _written(root: Path, write: Callable[[], T]) -> T:
    """What `write` returns, or `StoreError` saying why it could not write the store."""
    try:
        return write()
    except (OSError, pl.exceptions.PolarsError) as e:
        raise StoreError(root, f"cannot write the store: {getattr(e, 'strerror', None) or e}"
                         ) from None


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


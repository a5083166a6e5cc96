"""Where each table lives in a store directory, and the manifest that says what the store holds.

The manifest (`pcapkit-store.json`) is written last, so a directory without one is not a store
(or the remains of a `convert` that did not finish). It holds:

- `format` (`"pcapkit-store"`) and `format_version`: bumped when the layout changes, so an
  older pcapkit refuses a newer store instead of misreading it;
- `pcapkit_version` that wrote it;
- `captures`: the `CaptureInfo` of each capture, as the JSON report's `captures` (plus `index`);
- `config`: the detector thresholds the stored findings were found with;
- `snapshot`: `{"sources": [...]}` when a cluster snapshot was stored, else null;
- `udp_tunnels`: the UDP ports decoded as tunnels when the captures were decoded;
- `tables`: per table, its rows and its columns in table order (partition columns included).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import polars as pl

from pcapkit.api import CaptureInfo
from pcapkit.detect.config import Config
from pcapkit.engine.stored import PARTITION_KEY, part_file
from pcapkit.errors import StoreError

MANIFEST = "pcapkit-store.json"
FORMAT = "pcapkit-store"
#: 2: the packet table gained the ARP, echo and neighbour columns; 3: the manifest keeps each
#: capture's clock shift and the DNS views are stored (both are read from DNS messages
#: reassembled from the capture bytes, which a store does not keep); 4: a partition may be in
#: several parts (`part-K.parquet`, a streamed `convert`'s one per decoded batch), which
#: pcapkit before it would not read
FORMAT_VERSION = 4
#: the formats this pcapkit reads: a format-3 store is a format-4 store of one part a partition
READS = (3, FORMAT_VERSION)

#: tables partitioned hive style by `capture`: `NAME/capture=N/part-K.parquet`, read in the
#: order of the parts' names (a streamed `convert` writes the packets a part per decoded batch)
PARTITIONED = ("packets", "connections")
#: tables kept whole, one file each (`NAME.parquet`): their rows span captures, or are few
WHOLE = ("views", "dns", "icmp_errors", "findings", "dns_views")
SNAPSHOT_DIR = "snapshot"
SNAPSHOT_KINDS = ("pods", "services", "endpoints", "nodes")
#: every name a store puts in its directory
ENTRIES = frozenset({MANIFEST, SNAPSHOT_DIR, *PARTITIONED, *(f"{t}.parquet" for t in WHOLE)})


def partition_file(root: Path, table: str, capture: int) -> Path:
    """The one file of a capture's partition, when a table is written in memory."""
    return part_file(root / table, capture, "0")


def staging_folder(root: Path) -> Path:
    """Where `convert` writes a store's packet table as it streams, beside the store: moved
    into it once the analysis is done."""
    return root.parent / f".{root.name}.packets-staging"


def partition_parts(root: Path, table: str, capture: int) -> list[Path]:
    """The files of a capture's partition, in order."""
    return sorted(partition_file(root, table, capture).parent.glob("part-*.parquet"))


def whole_file(root: Path, table: str) -> Path:
    return root / f"{table}.parquet"


def snapshot_file(root: Path, kind: str) -> Path:
    return root / SNAPSHOT_DIR / f"{kind}.parquet"


def by_capture(frame: pl.DataFrame, captures: int) -> Iterator[tuple[int, pl.DataFrame]]:
    """The rows of each capture: zero-copy slices when the frame is in capture order (the
    packet table always is), else a filter per capture."""
    key = frame[PARTITION_KEY]
    if key.is_sorted():
        for capture in range(captures):
            start = int(key.search_sorted(capture, side="left"))
            end = int(key.search_sorted(capture, side="right"))
            yield capture, frame.slice(start, end - start)
    else:
        for capture in range(captures):
            yield capture, frame.filter(pl.col(PARTITION_KEY) == capture)


@dataclass(frozen=True)
class Manifest:
    pcapkit_version: str
    captures: list[CaptureInfo]
    config: Config
    snapshot_sources: tuple[str, ...] | None
    udp_tunnels: dict[int, str]
    tables: dict[str, dict[str, Any]]  #: name -> {"rows": n, "columns": [...]}
    #: per capture, what was subtracted from its timestamps for the flow tables (`Clocks.shift`)
    clock_shift_ns: list[int]

    def write(self, root: Path) -> None:
        """Write the manifest atomically (a temporary file renamed over it)."""
        doc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "pcapkit_version": self.pcapkit_version,
            "captures": [asdict(c) for c in self.captures],
            "config": asdict(self.config),
            "snapshot": (None if self.snapshot_sources is None
                         else {"sources": list(self.snapshot_sources)}),
            "udp_tunnels": {str(port): t for port, t in sorted(self.udp_tunnels.items())},
            "tables": self.tables,
            "clock_shift_ns": self.clock_shift_ns,
        }
        tmp = root / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, root / MANIFEST)

    @classmethod
    def read(cls, root: Path) -> Manifest:
        """The manifest of the store at `root`; `StoreError` when there is none or it is not
        one this pcapkit reads."""
        path = root / MANIFEST
        if not root.is_dir():
            raise StoreError(root, "no such directory" if not root.exists() else
                             "not a directory")
        if not path.is_file():
            raise StoreError(root, f"a directory, but not a pcapkit store (no {MANIFEST}): give "
                                   "capture files, or a directory written by `pcapkit convert`")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise StoreError(path, f"unreadable store manifest: {e}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise StoreError(path, f"not a pcapkit store manifest (no \"format\": \"{FORMAT}\")")
        version = doc.get("format_version")
        if version not in READS:
            raise StoreError(root, f"store format {version} (written by pcapkit "
                                   f"{doc.get('pcapkit_version')}); this pcapkit reads formats "
                                   f"{READS[0]}-{READS[-1]}: convert the captures again")
        try:
            snapshot = doc["snapshot"]
            return cls(
                pcapkit_version=str(doc["pcapkit_version"]),
                captures=[_capture_info(c) for c in doc["captures"]],
                config=_config(doc["config"]),
                snapshot_sources=None if snapshot is None else tuple(snapshot["sources"]),
                udp_tunnels={int(p): str(t) for p, t in doc["udp_tunnels"].items()},
                tables=_tables(doc["tables"]),
                clock_shift_ns=[int(s) for s in doc["clock_shift_ns"]],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise StoreError(path, f"store manifest is damaged ({type(e).__name__}: {e})") from None


def _tables(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each table's `rows` and `columns`, checked (the partitioned tables need their columns)."""
    tables = {str(name): {"rows": int(t["rows"]), "columns": [str(c) for c in t["columns"]]}
              for name, t in doc.items()}
    for name in (*PARTITIONED, *WHOLE):
        if name not in tables:
            raise KeyError(name)
    return tables


def _capture_info(doc: dict[str, Any]) -> CaptureInfo:
    known = {f.name for f in fields(CaptureInfo)}
    return CaptureInfo(**{k: v for k, v in doc.items() if k in known})


def _config(doc: dict[str, Any]) -> Config:
    """The stored thresholds (JSON lists back to tuples); fields this version lacks are left
    out, fields the store lacks keep their defaults."""
    values: dict[str, Any] = {f.name: tuple(doc[f.name]) if isinstance(doc[f.name], list)
                              else doc[f.name] for f in fields(Config) if f.name in doc}
    return Config(**values)

"""The one shape every detector returns: a findings frame, one row per symptom.

Reports read only findings. Kind-specific facts (an RST's `phase`, a storm's `names`…) travel in
`extra`, a JSON object whose keys the JSON report copies into the symptom as they are.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import numpy as np
import polars as pl


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


EVIDENCE = pl.Struct({"capture": pl.UInt16, "frame": pl.UInt32})

#: the evidence frames a finding cites in each capture, at most: the earliest. Its `count` and
#: kind-specific counts say how many there were; its Wireshark filter shows them all. Every
#: frame was cited before, and one busy client's NXDOMAIN storm (5M packets, all of them one
#: pod's search-path lookups) cited 3.75M: as many Python objects in its detector, 4.1 GB in
#: its worker, 9 s decoding them again for the filter; at 1M packets, 15 MB of JSON.
EVIDENCE_FRAMES = 1000

#: (column, dtype, meaning), in table order
FINDINGS_COLUMNS: list[tuple[str, pl.DataType, str]] = [
    ("kind", pl.String(), "snake_case symptom name, the detector's key in DETECTORS"),
    ("severity", pl.Enum([s.value for s in Severity]), "info, warning or error"),
    ("protocol", pl.String(), "tcp, udp, icmp, dns"),
    ("client_ip", pl.String(), "the client's address as it saw itself (before any SNAT)"),
    ("client_port", pl.UInt16(), "the client's port (null for per-address symptoms)"),
    ("server_ip", pl.String(), "what the client dialled: the ClusterIP, before DNAT"),
    ("server_port", pl.UInt16(), "the port the client dialled"),
    ("count", pl.UInt32(), "occurrences (SYNs, RSTs, segments, queries…), counted once over views"),
    ("first_ts_ns", pl.Int64(), "first occurrence, ns since the epoch"),
    ("last_ts_ns", pl.Int64(), "last occurrence"),
    ("evidence", pl.List(EVIDENCE), "the frames that show it, in every capture"),
    ("explanation", pl.String(), "one plain sentence"),
    ("extra", pl.String(), "JSON object of kind-specific keys (phase, names, mtu…)"),
    ("conns", pl.List(pl.UInt32()), "the TCP connections it is about (`conn` of the connection "
     "table, what `pcapkit show --conn` takes), sorted; null when it is about none"),
]
FINDINGS_SCHEMA = pl.Schema([(name, dtype) for name, dtype, _ in FINDINGS_COLUMNS])


def empty_findings() -> pl.DataFrame:
    return pl.DataFrame(schema=FINDINGS_SCHEMA)


def extra_json(**fields: Any) -> str:
    """The `extra` column's text for one finding; None values are left out."""
    return json.dumps({k: v for k, v in fields.items() if v is not None}, sort_keys=True)


def frames_evidence(rows: pl.DataFrame, *columns: str) -> list[dict[str, int]]:
    """The distinct (capture, frame) pairs of list-of-`EVIDENCE` columns as evidence (`cited`)."""
    return as_evidence(first_cited(frames_keys(rows, *columns)))


def cited(frames: pl.DataFrame) -> list[dict[str, int]]:
    """The distinct (`capture`, `frame`) rows of `frames`, sorted, the first `EVIDENCE_FRAMES` of
    each capture: a finding's evidence."""
    return as_evidence(first_cited(_keys(frames)))


def frames_keys(rows: pl.DataFrame, *columns: str) -> pl.Series:
    """The (capture, frame) pairs of list-of-`EVIDENCE` columns, each as one key (`_keys`)."""
    frames = pl.concat([rows.select(pl.col(c).explode().alias("cited")) for c in columns])
    return _keys(frames.drop_nulls().unnest("cited"))


def _keys(frames: pl.DataFrame) -> pl.Series:
    """Each (`capture`, `frame`) row as one 64-bit key, which sorts as the pair does: made
    distinct and sorted as one column, polars' `unique` over the two columns took 0.56 s and
    355 MB for the 3.75M frames of a busy pod's storm, this 0.14 s and none."""
    return frames.select(pl.col("capture").cast(pl.UInt64) * _FRAMES_OF_A_CAPTURE
                         + pl.col("frame")).to_series()


def first_cited(keys: pl.Series) -> pl.Series:
    """The distinct `keys` (`_keys`), sorted, the first `EVIDENCE_FRAMES` of each capture: of
    several sets of keys, those of their union are those of the union of theirs."""
    distinct = keys.unique().sort().to_numpy()
    captures = distinct // _FRAMES_OF_A_CAPTURE
    starts = np.flatnonzero(np.r_[True, captures[1:] != captures[:-1]]).tolist()
    kept = [distinct[a:min(b, a + EVIDENCE_FRAMES)]
            for a, b in zip(starts, [*starts[1:], len(distinct)], strict=True)]
    return pl.Series(np.concatenate(kept) if kept else distinct, dtype=pl.UInt64)


def as_evidence(keys: pl.Series) -> list[dict[str, int]]:
    """`first_cited`'s keys as a finding's evidence."""
    return [{"capture": key // _FRAMES_OF_A_CAPTURE, "frame": key % _FRAMES_OF_A_CAPTURE}
            for key in keys.to_list()]


#: the frame numbers a capture may hold (`EVIDENCE`'s frame is 32-bit)
_FRAMES_OF_A_CAPTURE = 1 << 32

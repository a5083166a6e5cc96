"""The one shape every detector returns: a findings frame, one row per symptom.

Reports read only findings. Kind-specific facts (an RST's `phase`, a storm's `names`…) travel in
`extra`, a JSON object whose keys the JSON report copies into the symptom as they are.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import polars as pl


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


EVIDENCE = pl.Struct({"capture": pl.UInt16, "frame": pl.UInt32})

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
    """The distinct (capture, frame) pairs of list-of-`EVIDENCE` columns, sorted, as evidence."""
    pairs = {
        (f["capture"], f["frame"]) for col in columns for frames in rows[col].to_list()
        for f in frames or ()
    }
    return [{"capture": c, "frame": f} for c, f in sorted(pairs)]

"""The packet table from the columns the vectorised layers built, with the deferred rows'
values taken from the reference decoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from pcapkit.decode.fast.addresses import address_text
from pcapkit.decode.fast.columns import (
    ADDRESSES,
    NO_LAYER,
    OBJECTS,
    Columns,
    Ints,
    masked,
    nulls,
)
from pcapkit.decode.schema import PACKET_SCHEMA, Layer, Status, Tunnel
from pcapkit.read.records import Records

ENUMS = {"status": Status, "status_layer": Layer, "tunnel": Tunnel}


def _enum(name: str, codes: np.ndarray, valid: np.ndarray) -> pl.Series:
    dtype = PACKET_SCHEMA[name]
    values = pl.Series(name, [v.value for v in ENUMS[name]], dtype)
    return values.gather(masked(name, codes.astype(np.uint32), valid))


def _objects(cols: Columns, name: str) -> pl.Series:
    found = cols.objects[name]
    dtype = PACKET_SCHEMA[name]
    if not found:
        return nulls(name, cols.n, dtype)
    codes = np.zeros(cols.n, np.uint32)
    valid = np.zeros(cols.n, np.bool_)
    rows = np.fromiter(found, np.int64, len(found))
    codes[rows] = np.arange(len(rows))
    valid[rows] = True
    return pl.Series(name, list(found.values()), dtype).gather(masked(name, codes, valid))


def to_frame(cols: Columns, records: Records, link_type: Ints, capture_index: int) -> pl.DataFrame:
    """The table of a chunk (deferred rows still as the vectorised layers left them)."""
    n = cols.n
    given: dict[str, np.ndarray[Any, Any]] = {
        "capture": np.full(n, capture_index, np.uint16), "frame": records.frame,
        "ts_ns": records.ts_ns, "iface": records.iface, "link_type": link_type,
        "caplen": records.caplen, "origlen": records.origlen,
    }
    series: list[pl.Series] = []
    for name, dtype in PACKET_SCHEMA.items():
        if name in given:
            s = pl.Series(name, given[name])
        elif name == "status":
            s = _enum(name, cols.status, np.ones(n, np.bool_))
        elif name == "status_layer":
            s = _enum(name, cols.layer, cols.layer != NO_LAYER)
        elif name in ADDRESSES:
            s = address_text(cols, name)
        elif name in OBJECTS:
            s = _objects(cols, name)
        elif (column := cols.column(name)) is None:
            s = nulls(name, n, dtype)
        elif name in ENUMS:
            s = _enum(name, *column)
        else:
            s = masked(name, *column)
        series.append(s.cast(dtype))
    return pl.DataFrame(series)


def merge(table: pl.DataFrame, deferred: Ints, decoded: pl.DataFrame) -> pl.DataFrame:
    """`table` with its rows at positions `deferred` replaced by the rows of `decoded`."""
    if not len(deferred):
        return table
    order = np.arange(table.height, dtype=np.int64)
    order[deferred] = table.height + np.arange(len(deferred))
    return pl.concat([table, decoded]).select(pl.all().gather(order))

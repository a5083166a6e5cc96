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


def _objects(name: str, values: list[object], index: np.ndarray, valid: np.ndarray) -> pl.Series:
    distinct = pl.Series(name, values, PACKET_SCHEMA[name])
    return distinct.gather(masked(name, index.astype(np.uint32), valid))


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
        elif (column := cols.column(name)) is None:
            s = nulls(name, n, dtype)
        elif name in OBJECTS:
            s = _objects(name, cols.objects[name], *column)
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

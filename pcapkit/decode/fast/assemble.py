"""The packet table from the columns a decoder built, with the deferred rows' values taken
from the reference decoder.

Both fast engines hand over the same shape (`Built`): numeric columns as numpy values with a
validity mask, and coded columns (addresses, names, enums, DNS answer lists) as indices into a
series of their distinct values. The masks become nulls in one polars `select`, and each coded
column is one gather of its few distinct values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from pcapkit.decode.fast.addresses import address_codes
from pcapkit.decode.fast.columns import ADDRESSES, NO_LAYER, OBJECTS, Columns, Ints, Mask
from pcapkit.decode.schema import PACKET_SCHEMA, Layer, Status, Tunnel
from pcapkit.read.records import Records

ENUMS = {"status": Status, "status_layer": Layer, "tunnel": Tunnel}


def enum_values(name: str) -> pl.Series:
    """The values of enum column `name`, in the order of their codes (the enum's order)."""
    return pl.Series(name, [v.value for v in ENUMS[name]], PACKET_SCHEMA[name])


@dataclass
class Built:
    """The decoded columns of a chunk of `n` rows; a column in neither dict is all null."""

    n: int
    numeric: dict[str, tuple[np.ndarray[Any, Any], Mask]] = field(default_factory=dict)
    #: column → (index into the distinct values, validity, distinct values)
    coded: dict[str, tuple[np.ndarray[Any, Any], Mask, pl.Series]] = field(default_factory=dict)
    #: columns built whole
    series: dict[str, pl.Series] = field(default_factory=dict)


def from_columns(cols: Columns) -> Built:
    """What the vectorised layers built, in the shape `to_frame` takes."""
    built = Built(cols.n)
    built.coded["status"] = (cols.status, np.ones(cols.n, np.bool_), enum_values("status"))
    built.coded["status_layer"] = (cols.layer, cols.layer != NO_LAYER,
                                   enum_values("status_layer"))
    for name in ADDRESSES:
        built.coded[name] = address_codes(cols, name)
    for name, values in cols.values.items():
        valid = cols.valid[name]
        if name in OBJECTS:
            distinct = pl.Series(name, cols.objects[name], PACKET_SCHEMA[name])
            built.coded[name] = (values, valid, distinct)
        elif name in ENUMS:
            built.coded[name] = (values, valid, enum_values(name))
        elif name not in ADDRESSES:
            built.numeric[name] = (values, valid)
    return built


#: above this many runs of deferred rows, `merge` gathers rather than slices (slicing costs
#: ~20 us a run; a gather ~0.2 s per 500k rows)
MERGE_SLICED_RUNS = 1000


def to_frame(built: Built, records: Records, link_type: Ints,
             capture_index: int) -> pl.DataFrame:
    """The table of a chunk (deferred rows still as the decoder left them).

    One frame of the arrays and one `select` of it: a polars call costs ~0.1 ms whatever its
    size, and casting or gathering column by column made a one-packet chunk cost 8 ms."""
    n = built.n
    data: dict[str, np.ndarray[Any, Any] | pl.Series] = {
        "capture": np.full(n, capture_index, np.uint16), "frame": records.frame,
        "ts_ns": records.ts_ns, "iface": records.iface, "link_type": link_type,
        "caplen": records.caplen, "origlen": records.origlen,
    }
    exprs = {name: pl.col(name) for name in data}
    columns = {**built.numeric, **{k: v[:2] for k, v in built.coded.items()}}
    # a column with no value at all is left out: all null below, without a gather
    columns = {name: column for name, column in columns.items() if column[1].any()}
    for name, (values, valid) in columns.items():
        data[name] = values
        value = pl.col(name)
        if not valid.all():
            data["\0" + name] = valid
            value = pl.when(pl.col("\0" + name)).then(value)
        if name in built.coded:  # an index into the column's distinct values
            value = pl.lit(built.coded[name][2]).gather(value.cast(pl.UInt32))
        exprs[name] = value
    for name, whole in built.series.items():
        data[name] = whole
        exprs[name] = pl.col(name)
    return pl.DataFrame(data).select(
        exprs.get(name, pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in PACKET_SCHEMA.items())


def merge(table: pl.DataFrame, deferred: Ints, decoded: pl.DataFrame) -> pl.DataFrame:
    """`table` with its rows at positions `deferred` (ascending) replaced by the rows of
    `decoded`."""
    if not len(deferred):
        return table
    # Runs of consecutive deferred rows: a few runs are slices put together, a copy of the
    # table; gathering every row of every column instead cost 0.2-0.5 s per 500k-row chunk
    # (text and list columns), for the 8 rows a DNS-heavy chunk may defer.
    breaks = np.flatnonzero(np.diff(deferred) != 1) + 1
    firsts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(deferred)]])
    if len(firsts) > MERGE_SLICED_RUNS:
        order = np.arange(table.height, dtype=np.int64)
        order[deferred] = table.height + np.arange(len(deferred))
        return pl.concat([table, decoded]).select(pl.all().gather(order))
    parts, kept = [], 0
    for first, end in zip(firsts.tolist(), ends.tolist(), strict=True):
        at = int(deferred[first])
        parts += [table.slice(kept, at - kept), decoded.slice(first, end - first)]
        kept = at + end - first
    parts.append(table.slice(kept))
    return pl.concat(parts, rechunk=True)

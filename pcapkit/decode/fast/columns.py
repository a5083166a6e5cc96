"""The packet table being built: one numpy array and one validity mask per column.

Layers write values for a set of rows (`put`); a row whose decoding stops gets its status
(`stop`); a row the vectorised layers leave to the reference decoder is marked (`defer`).
Addresses are kept as numbers (IPv4 as uint32, IPv6 as 16 bytes) until the table is assembled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.decode.schema import PACKET_SCHEMA, Layer, Status

Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

STATUS_CODE = {s: i for i, s in enumerate(Status)}
LAYER_CODE = {v: i for i, v in enumerate(Layer)}
NO_LAYER = 255

NUMPY_TYPES: dict[type[pl.DataType], type[np.generic]] = {
    pl.UInt8: np.uint8, pl.UInt16: np.uint16, pl.UInt32: np.uint32, pl.Int32: np.int32,
    pl.Int64: np.int64, pl.Boolean: np.bool_,
}
ADDRESSES = ("outer_src", "outer_dst", "src", "dst", "icmp_q_src", "icmp_q_dst",
             "icmp_nd_target", "arp_sender", "arp_target")
#: enum columns, kept as the index of the value in the enum
CODES: dict[str, type[np.generic]] = {"tunnel": np.uint8}
#: columns of Python objects (the DNS question name and answers): each distinct value is kept
#: once in `Columns.objects`, the column holds its index there
OBJECTS = ("dns_qname", "dns_answers")


class Columns:
    """Column values under construction for the `n` rows of a chunk."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.values: dict[str, np.ndarray[Any, Any]] = {}
        self.valid: dict[str, Mask] = {}
        self.v6: dict[str, npt.NDArray[np.uint8]] = {}
        self.valid6: dict[str, Mask] = {}
        self.objects: dict[str, list[Any]] = {name: [] for name in OBJECTS}
        self.status = np.zeros(n, np.uint8)
        self.layer = np.full(n, NO_LAYER, np.uint8)
        self.deferred = np.zeros(n, np.bool_)

    def _column(self, name: str) -> np.ndarray[Any, Any]:
        if name not in self.values:
            dtype = np.uint32 if name in ADDRESSES else np.int64 if name in OBJECTS else CODES.get(
                name) or NUMPY_TYPES[type(PACKET_SCHEMA[name])]
            self.values[name] = np.zeros(self.n, dtype)
            self.valid[name] = np.zeros(self.n, np.bool_)
        return self.values[name]

    def put(self, name: str, rows: Ints, values: Any) -> None:
        """Set column `name` of `rows` (addresses: IPv4 as uint32)."""
        self._column(name)[rows] = values
        self.valid[name][rows] = True

    def put_v6(self, name: str, rows: Ints, values: npt.NDArray[np.uint8]) -> None:
        """Set address column `name` of `rows` to IPv6 addresses (a rows × 16 matrix)."""
        if name not in self.v6:
            self.v6[name] = np.zeros((self.n, 16), np.uint8)
            self.valid6[name] = np.zeros(self.n, np.bool_)
        self.v6[name][rows] = values
        self.valid6[name][rows] = True

    def copy(self, source: str, target: str, rows: Ints) -> None:
        """Column `target` of `rows` takes the values of column `source` (IPv4 or IPv6)."""
        if source in self.values:
            have = rows[self.valid[source][rows]]
            self.put(target, have, self.values[source][have])
        if source in self.v6:
            have = rows[self.valid6[source][rows]]
            self.put_v6(target, have, self.v6[source][have])

    def put_objects(self, name: str, rows: Ints, index: Ints, values: list[Any]) -> None:
        """Set object column `name` of `rows` to `values[index]` (the values given once)."""
        self.put(name, rows, index + len(self.objects[name]))
        self.objects[name] += values

    def clear(self, names: Iterable[str], rows: Ints) -> None:
        """Make columns `names` null on `rows`."""
        for name in names:
            if name in self.valid:
                self.valid[name][rows] = False
            if name in self.valid6:
                self.valid6[name][rows] = False

    def stop(self, rows: Ints, status: Status, layer: Layer) -> None:
        self.status[rows] = STATUS_CODE[status]
        self.layer[rows] = LAYER_CODE[layer]

    def defer(self, rows: Ints) -> None:
        self.deferred[rows] = True

    def column(self, name: str) -> tuple[np.ndarray[Any, Any], Mask] | None:
        """Values and validity of a column, or None when no row has one."""
        if name not in self.values:
            return None
        return self.values[name], self.valid[name]


def require(
    cols: Columns, k: int, rows: Ints, start: Ints, end: Ints, need: Ints | int, layer: Layer
) -> Mask:
    """Which `rows` have `need` bytes from `start` before `end`; the others stop `truncated` at
    `layer`, except rows whose bytes exist but lie past the gathered `k` columns: deferred."""
    short = end - start < need
    beyond = ~short & (start + need > k)
    if short.any():
        cols.stop(rows[short], Status.TRUNCATED, layer)
    if beyond.any():
        cols.defer(rows[beyond])
    return ~(short | beyond)

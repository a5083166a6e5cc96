"""Address columns as codes into their distinct texts: each distinct address is formatted once
by `inet_ntop`.

A chunk holds few distinct addresses (a cluster's pods and nodes), so formatting the unique
values and gathering the text by index replaces one Python call per row with one per address.
"""

from __future__ import annotations

import socket

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.decode.fast.columns import Columns, Mask


def address_codes(cols: Columns, name: str) -> tuple[npt.NDArray[np.int64], Mask, pl.Series]:
    """Column `name` (IPv4 as uint32 and/or IPv6 as 16 bytes) as (index into the distinct
    texts, validity, the distinct texts as inet_ntop writes them)."""
    codes = np.full(cols.n, -1, np.int64)
    texts: list[str] = []
    if name in cols.values:
        valid = cols.valid[name]
        unique, inverse = np.unique(cols.values[name][valid], return_inverse=True)
        codes[valid] = inverse
        texts += [socket.inet_ntop(socket.AF_INET, v.to_bytes(4, "big")) for v in unique.tolist()]
    if name in cols.v6:
        valid = cols.valid6[name]
        raw: npt.NDArray[np.void] = np.ascontiguousarray(cols.v6[name][valid]).view("V16")
        unique6, inverse = np.unique(raw.ravel(), return_inverse=True)
        codes[valid] = inverse + len(texts)
        texts += [socket.inet_ntop(socket.AF_INET6, bytes(v)) for v in unique6]
    return codes, codes >= 0, pl.Series(name, texts, pl.String)

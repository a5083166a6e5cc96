"""Stage 2, decode: the records of a capture into the packet table (`PACKET_SCHEMA`).

Two decoders follow the same rules (docs/packet-table.md) to the byte: `fast`, vectorised over
the records with numpy, and `reference`, one packet at a time; the fast one hands the rows it
does not cover to the reference one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Literal

import polars as pl

from pcapkit.decode.fast import decode_fast
from pcapkit.decode.reference import decode_reference
from pcapkit.decode.schema import PACKET_SCHEMA, Layer, Status, Tunnel
from pcapkit.read.records import Capture

__all__ = ["PACKET_SCHEMA", "Layer", "Status", "Tunnel", "decode", "decode_chunks"]

#: records per chunk when streaming: ~128 MB of gathered header bytes
CHUNK_RECORDS = 500_000


def decode(
    capture: Capture, capture_index: int = 0, *, engine: Literal["fast", "reference"] = "fast"
) -> pl.DataFrame:
    """The packet table of `capture`: one row per record, in file order."""
    if engine == "reference":
        return decode_reference(capture, capture_index)
    return decode_fast(capture, capture_index)


def decode_chunks(
    capture: Capture, capture_index: int = 0, chunk_records: int = CHUNK_RECORDS
) -> Iterator[pl.DataFrame]:
    """The packet table of `capture` in frames of at most `chunk_records` rows, in order."""
    records = capture.records
    for start in range(0, len(records), chunk_records):
        part = records.take(slice(start, start + chunk_records))
        yield decode_fast(dataclasses.replace(capture, records=part), capture_index)

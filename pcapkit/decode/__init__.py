"""Stage 2, decode: the records of a capture into the packet table (`PACKET_SCHEMA`).

Three decoders follow the same rules (docs/packet-table.md) to the byte:

- `compiled`: one numba-compiled loop over the records (`pcapkit.decode.compiled`), the
  fastest once loaded, but importing numba and loading the kernel takes ~1 s;
- `fast`: vectorised over the records with numpy (`pcapkit.decode.fast`), no start-up cost;
- `reference`: one packet at a time, in plain Python; the other two hand it the rows they do
  not cover (uncommon encapsulations), and the tests hold them identical to it.

`auto` (the default) takes `reference` below `REFERENCE_BELOW` records, `compiled` from
`COMPILED_FROM` records on or whenever the kernel has already run in the process (its start-up
paid), and `fast` otherwise.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import polars as pl

from pcapkit.decode.fast import decode_fast
from pcapkit.decode.reference import decode_reference
from pcapkit.decode.schema import PACKET_SCHEMA, Layer, Status, Tunnel
from pcapkit.read import scan_capture
from pcapkit.read.records import Capture
from pcapkit.read.source import release

__all__ = ["PACKET_SCHEMA", "Layer", "Status", "Tunnel", "decode", "decode_chunks", "decode_file"]

Engine = Literal["auto", "compiled", "fast", "reference"]
Decoder = Callable[[Capture, int], pl.DataFrame]

#: records per chunk when streaming: ~128 MB of gathered header bytes
CHUNK_RECORDS = 500_000
#: records from which `auto` takes the compiled decoder in a process that has not loaded it:
#: its start-up (~0.7 s: import numba, load and link the cached kernel) is repaid at ~1.3 µs
#: saved per record (bench/README.md)
COMPILED_FROM = 500_000
#: capture bytes from which a file's chunks are decoded by the compiled kernel whatever their
#: size: its start-up (~0.5 s per process) is repaid from ~500k packets
COMPILED_FROM_BYTES = 64 << 20
COMPILED_MODULE = "pcapkit.decode.compiled"


#: records below which `auto` takes the reference decoder: the others cost a few ms a call
#: whatever its size (the numpy one's few dozen array operations per layer, ~6-10 ms; the
#: compiled one's ~4 ms), plain Python ~30 µs a packet (a one-packet chunk: 1.4 ms)
REFERENCE_BELOW = 128


def decoder(engine: Engine, records: int) -> Decoder:
    """The decoder `engine` names (`auto`: chosen by the number of `records`)."""
    if engine == "auto":
        engine = ("reference" if records < REFERENCE_BELOW
                  else "compiled" if _linked() or records >= COMPILED_FROM else "fast")
    if engine == "compiled":
        from pcapkit.decode.compiled import decode_compiled  # imports numba: ~1 s

        return decode_compiled
    return decode_reference if engine == "reference" else decode_fast


def _linked() -> bool:
    """Whether the compiled kernel has run in this process already. Its package merely imported
    (as a worker's `warm_up` or a test module does) does not count: loading the kernel is the
    larger part of its start-up."""
    compiled = sys.modules.get(COMPILED_MODULE)
    return compiled is not None and bool(compiled.linked())


def decode(capture: Capture, capture_index: int = 0, *, engine: Engine = "auto") -> pl.DataFrame:
    """The packet table of `capture`: one row per record, in file order."""
    return decoder(engine, len(capture.records))(capture, capture_index)


def decode_chunks(
    capture: Capture, capture_index: int = 0, chunk_records: int = CHUNK_RECORDS, *,
    engine: Engine = "auto",
) -> Iterator[pl.DataFrame]:
    """The packet table of `capture` in frames of at most `chunk_records` rows, in order. The
    pages of a memory-mapped capture are let go as each chunk is decoded (they stay in the page
    cache): a file of many GB decoded this way is never all resident."""
    records = capture.records
    run = decoder(engine, len(records))
    for start in range(0, len(records), chunk_records):
        part = records.take(slice(start, start + chunk_records))
        frame = run(dataclasses.replace(capture, records=part), capture_index)
        release(capture.buffer, int((part.offset + part.caplen).max()), int(part.offset.min()))
        yield frame


def decode_file(
    path: str | Path, capture_index: int = 0, chunk_records: int = CHUNK_RECORDS, *,
    engine: Engine = "auto",
) -> tuple[Capture, Iterator[pl.DataFrame]]:
    """The capture file at `path` (its `records` empty; its `warnings` complete once the frames
    are) and its packet table as `decode_chunks` cuts it, the records found a window of the
    file at a time (`pcapkit.read.scan_capture`): neither the file nor its index of records is
    ever held whole. `auto` takes the compiled decoder for files of `COMPILED_FROM_BYTES` or
    more. Raises `CaptureError` when `path` is not a capture."""
    capture, windows = scan_capture(path)
    if engine == "auto" and len(capture.buffer) >= COMPILED_FROM_BYTES:
        engine = "compiled"
    return capture, (frame for records in windows for frame in decode_chunks(
        dataclasses.replace(capture, records=records), capture_index, chunk_records,
        engine=engine))

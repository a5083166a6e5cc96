"""The compiled decoder: the packet table of a chunk of records by one numba-compiled loop.

`packet.decode_rows` walks each record's bytes in the capture buffer once, header by header
(docs/packet-table.md), writing into preallocated arrays (`layout.Out`); addresses and DNS
names are interned as they are met (`texts`), DNS answers appended to one flat list
(`answers`). The table is then assembled as the vectorised decoder's is
(`pcapkit.decode.fast.assemble`), and the rows the kernel does not cover (encapsulations other
than VXLAN, absurdly long DNS names) are decoded by the reference decoder and merged back.

Importing this package imports numba, and the first call loads the kernel from numba's cache
(~0.4-0.8 s together; the very first run after an install compiles it, ~1 min on the 2-core
bench machine), which is why `pcapkit.decode` takes it only for large captures.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import numpy as np
import polars as pl

from pcapkit.decode.compiled.answers import answer_lists
from pcapkit.decode.compiled.layout import NUMERIC, TEXT, Out
from pcapkit.decode.compiled.packet import decode_rows, udp_tunnel_ports
from pcapkit.decode.compiled.texts import ANSWERS, Texts
from pcapkit.decode.fast import FastStats
from pcapkit.decode.fast.assemble import Built, enum_values, merge, to_frame
from pcapkit.decode.fast.columns import NO_LAYER
from pcapkit.decode.reference import decode_reference
from pcapkit.read.records import Capture, Records

__all__ = ["decode_compiled", "decode_compiled_stats", "link", "linked"]


def link() -> None:
    """Loads the kernel now, as a first decoding would (from numba's cache; compiled into it the
    very first time): by decoding no records."""
    decode_compiled(Capture(path="", format="pcap", compressed=False, buffer=b"",
                            interfaces=[], records=Records.empty()))


def linked() -> bool:
    """Whether this process has loaded the kernel (at its first call): importing this package
    pays for numba, not for the kernel, whose loading is most of the start-up."""
    return bool(cast(Any, decode_rows).overloads)  # a numba dispatcher: its compiled versions


def decode_compiled(capture: Capture, capture_index: int = 0) -> pl.DataFrame:
    """The packet table of `capture` (any slice of its records), as `PACKET_SCHEMA`."""
    return decode_compiled_stats(capture, capture_index)[0]


def _run(capture: Capture, link_type: np.ndarray) -> tuple[Out, Texts]:
    records = capture.records
    o, t = Out.allocate(len(records)), Texts.allocate()
    buf = np.frombuffer(capture.buffer, np.uint8)
    ports = udp_tunnel_ports()
    row = 0
    while True:
        reached, answers = decode_rows(buf, records.offset, records.caplen, link_type,
                                       records.direction, capture.big_endian, ports, row, o, t)
        row = int(reached)
        if row == len(records):
            return o, t
        o.reset(row)
        t.meta[ANSWERS] = answers
        t = t.grow()


def _built(o: Out, t: Texts) -> Built:
    n = len(o.status)
    built = Built(n)
    for slot, name in enumerate(NUMERIC):
        values, valid = o.values(slot), o.valid[slot]
        if name == "tunnel":
            built.coded[name] = (values, valid, enum_values(name))
        else:
            built.numeric[name] = (values, valid)
    texts = t.series()
    for slot, name in enumerate(TEXT):
        codes = o.text[slot]
        built.coded[name] = (codes, codes >= 0, texts)
    built.coded["status"] = (o.status, np.ones(n, np.bool_), enum_values("status"))
    built.coded["status_layer"] = (o.layer, o.layer != NO_LAYER, enum_values("status_layer"))
    if o.answered.any():  # else left all null, without building a list per row (bulk TCP)
        built.series["dns_answers"] = answer_lists(o, t, texts)
    return built


def decode_compiled_stats(capture: Capture,
                          capture_index: int = 0) -> tuple[pl.DataFrame, FastStats]:
    """`decode_compiled`, with how many rows the kernel decoded itself."""
    records = capture.records
    n = len(records)
    links = np.array([i.link_type for i in capture.interfaces] or [0], np.int64)
    link_type = links[records.iface] if n else np.zeros(0, np.int64)
    o, t = _run(capture, link_type)
    table = to_frame(_built(o, t), records, link_type, capture_index)
    deferred = np.flatnonzero(o.deferred)
    if len(deferred):
        rest = dataclasses.replace(capture, records=records.take(deferred))
        table = merge(table, deferred, decode_reference(rest, capture_index))
    return table, FastStats(n, len(deferred))

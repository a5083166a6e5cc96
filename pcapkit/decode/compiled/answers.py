"""The `dns_answers` column from the kernel's flat answer list.

The kernel appends every answer of every row to one list, in row order, and gives each row
the range of its answers. Here the flat answers become one struct series (their texts gathered
from the distinct texts) with one null placeholder for each row without answers, so that a
group-by on the (sorted) row number, which polars does as slices, yields one list per row.
Gathering distinct lists by row instead (as the vectorised decoder does) measured ~6x slower:
polars gathers nested strings row by row.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pcapkit.decode.compiled.layout import Out
from pcapkit.decode.compiled.texts import ANS_DATA, ANS_NAME, ANS_TTL, ANS_TYPE, ANSWERS, Texts
from pcapkit.decode.schema import PACKET_SCHEMA

DTYPE = PACKET_SCHEMA["dns_answers"]


def answer_lists(o: Out, t: Texts, texts: pl.Series) -> pl.Series:
    """`dns_answers`: null where the questions were not read, else the row's answers."""
    flat = t.answers[:, : t.meta[ANSWERS]]
    n = len(o.answered)
    counts = np.where(o.answered, o.ans_end - o.ans_start, 0)
    places = np.maximum(counts, 1)
    row = np.repeat(np.arange(n), places)
    real = np.repeat(counts > 0, places)
    index = np.zeros(len(row), np.int64)
    index[real] = np.arange(int(real.sum()))
    data = flat[ANS_DATA]
    answers = pl.DataFrame({
        "name": texts.gather(flat[ANS_NAME]),
        "type": flat[ANS_TYPE].astype(np.uint16),
        "ttl": flat[ANS_TTL].astype(np.uint32),
        "data": texts.gather(np.maximum(data, 0)),
        "known": data >= 0,
    }).select(pl.struct("name", "type", "ttl",
                        pl.when("known").then("data").alias("data")).alias("a"))["a"]
    padded = pl.DataFrame({"row": pl.Series(row).set_sorted(), "real": real,
                           "a": answers.gather(index) if len(answers) else
                           pl.Series([None] * len(row), dtype=answers.dtype)})
    lists = (padded.group_by("row", maintain_order=True)
             .agg(pl.col("a").filter(pl.col("real")))["a"])
    return pl.select(pl.when(pl.Series(o.answered)).then(lists).alias("dns_answers")
                     ).to_series().cast(DTYPE)

"""The local worker pool: each worker's polars thread pool shares the cores with the others."""

from __future__ import annotations

import os

import polars as pl
import pytest

from pcapkit.engine.executor import Pool, cores


def _threads(_: int) -> tuple[int, int]:
    return os.getpid(), pl.thread_pool_size()


@pytest.mark.skipif("POLARS_MAX_THREADS" in os.environ, reason="the user's own pool size is kept")
def test_workers_share_the_cores() -> None:
    pool = Pool(2)
    try:
        seen = dict(pool.map(_threads, range(8)))
    finally:
        pool.close()
    assert os.getpid() not in seen
    assert set(seen.values()) == {max(1, cores() // 2)}
    assert "POLARS_MAX_THREADS" not in os.environ  # set for the pool's lifetime only

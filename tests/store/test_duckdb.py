"""The store is plain hive-partitioned Parquet: DuckDB reads it and counts what polars counts."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

import pcapkit
from pcapkit.api import Analysis
from tests.store.scenarios import SCENARIOS, captures, needs_scenarios, snapshot


@pytest.fixture(scope="module", params=SCENARIOS)
def stored(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Analysis]:
    scenario = str(request.param)
    store = tmp_path_factory.mktemp(scenario) / "store"
    result = pcapkit.store.convert(captures(scenario), store, [snapshot(scenario)])
    return store, result


def sql(query: str) -> list[tuple[object, ...]]:
    return duckdb.connect().sql(query).fetchall()


def rows(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    return [tuple(r) for r in frame.iter_rows()]


@needs_scenarios
def test_packets_per_capture(stored: tuple[Path, Analysis]) -> None:
    store, result = stored
    got = sql(f"""SELECT capture, count(*), min(frame), max(frame), sum(caplen)
                  FROM read_parquet('{store}/packets/*/*.parquet', hive_partitioning=true)
                  GROUP BY capture ORDER BY capture""")
    want = result.packets.group_by("capture").agg(
        pl.len(), pl.min("frame").alias("first"), pl.max("frame").alias("last"),
        pl.sum("caplen")).sort("capture")
    assert got == rows(want)
    assert [n for _, n, *_ in got] == [c.packets for c in result.captures if c.packets]


@needs_scenarios
def test_connections_per_capture(stored: tuple[Path, Analysis]) -> None:
    store, result = stored
    got = sql(f"""SELECT capture, count(*), count(DISTINCT conn), sum(packets_c2s)
                  FROM read_parquet('{store}/connections/*/*.parquet', hive_partitioning=true)
                  GROUP BY capture ORDER BY capture""")
    want = result.connections.group_by("capture").agg(
        pl.len(), pl.n_unique("conn"), pl.sum("packets_c2s")).sort("capture")
    assert got == rows(want)


@needs_scenarios
def test_dns_transactions(stored: tuple[Path, Analysis]) -> None:
    store, result = stored
    (got,) = sql(f"""SELECT count(*), count(*) FILTER (WHERE answered), count(DISTINCT qname)
                     FROM '{store}/dns.parquet'""")
    dns = result.dns
    assert got == (dns.height, dns["answered"].sum(), dns["qname"].n_unique())
    # Transactions per capture that saw a copy of the query: through the list of frames.
    got_per = sql(f"""SELECT f.capture, count(DISTINCT txn)
                      FROM (SELECT txn, unnest(query_frames) AS f FROM '{store}/dns.parquet')
                      GROUP BY f.capture ORDER BY f.capture""")
    want_per = (dns.select("txn", "query_frames").explode("query_frames").drop_nulls()
                .select("txn", pl.col("query_frames").struct.field("capture"))
                .group_by("capture").agg(pl.n_unique("txn")).sort("capture"))
    assert got_per == rows(want_per)


@needs_scenarios
def test_findings_per_kind(stored: tuple[Path, Analysis]) -> None:
    store, result = stored
    got = sql(f"""SELECT kind, count(*), sum(len(evidence)) FROM '{store}/findings.parquet'
                  GROUP BY kind ORDER BY kind""")
    want = result.symptoms.group_by("kind").agg(
        pl.len(), pl.col("evidence").list.len().sum()).sort("kind")
    assert got == rows(want)
    (icmp,) = sql(f"SELECT count(*) FROM '{store}/icmp_errors.parquet'")
    assert icmp == (result.tables.icmp_errors.height,)

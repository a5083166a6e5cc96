"""`locate` picks a finding's conversations by a hash of their keys, then joins the picked rows
on the keys themselves (`pcapkit.kube.path._rows_with`): the rows are exactly those a join of
the whole table on the keys gives, whatever the hash picks. Checked on the conversations of a
node's recorded `-i any` capture (its connections seen at several places, DNAT legs, DNS)."""

from __future__ import annotations

import polars as pl
import pytest

from pcapkit.api import analyze
from pcapkit.kube.path import KEYS, SOCKET, _hashed, _rows_with, conversations
from tests.conftest import SAMPLES

NODE_CAPTURE = SAMPLES / "stale_endpoint" / "node-worker-1-any.pcap"


@pytest.fixture(scope="module")
def convs() -> pl.DataFrame:
    tables = analyze([NODE_CAPTURE]).tables
    out = conversations(tables.connections, tables.dns_views)
    assert out["protocol"].n_unique() == 2  # TCP connections and DNS over UDP
    return out


def _wanted(convs: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Every third row's keys, and the same with client and server swapped (the keys of no
    conversation, whose column hashes are the same values in other columns)."""
    some = convs.select(keys).gather_every(3)
    if "server_ip" not in keys:
        return some
    swapped = some.select(
        *[k for k in keys if k not in ("client_ip", "client_port", "server_ip", "server_port")],
        pl.col("server_ip").alias("client_ip"), pl.col("server_port").alias("client_port"),
        pl.col("client_ip").alias("server_ip"), pl.col("client_port").alias("server_port"))
    return pl.concat([some, swapped.select(keys)])


def _exact(convs: pl.DataFrame, wanted: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return convs.select("conv", *keys).join(wanted.unique(), on=keys, how="semi").unique()


@pytest.mark.parametrize("keys", [KEYS, SOCKET], ids=["4-tuple", "client socket"])
def test_the_rows_are_those_of_a_join_on_the_keys(convs: pl.DataFrame, keys: list[str]) -> None:
    wanted = _wanted(convs, keys)
    got = _rows_with(convs, _hashed(convs, keys), wanted, keys)
    assert not got.is_empty()
    assert got.sort(pl.all()).equals(_exact(convs, wanted, keys).sort(pl.all()))


def test_rows_the_hash_picks_wrongly_are_left_out(convs: pl.DataFrame) -> None:
    """Every row's hash taken to be one finding's: only the rows with its keys are kept."""
    wanted = convs.select(KEYS).head(1)
    alike = pl.Series([int(_hashed(wanted, KEYS)[0])] * convs.height, dtype=pl.UInt64)
    got = _rows_with(convs, alike, wanted, KEYS)
    assert got.height < convs.height
    assert got.sort(pl.all()).equals(_exact(convs, wanted, KEYS).sort(pl.all()))

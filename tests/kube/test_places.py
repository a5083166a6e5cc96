"""What each view is, read from its traffic, against the names dumpcap wrote: the lab's pcapng
holds a node's `eth0` and `cni0` by name and its `-i any` (LINUX_SLL2, interfaces by index only)
in one file. The `any` view carrying the same packets as a named interface must be found to be
what the name says, from its packets alone. dumpcap's own `-i any` is cooked v1 (no index): its
views are `any`, and the underlay for its encapsulated packets."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import pcapkit
from pcapkit.codes import LinkType
from pcapkit.kube.places import NAMED_KINDS, places
from tests.conftest import SAMPLES

MULTI = sorted(SAMPLES.glob("*/*.pcapng"))
SAME_PACKET = ["src", "dst", "sport", "dport", "ip_id", "tcp_seq", "payload_len"]


def _named_kind(name: str) -> str:
    """The kind a CNI's interface name says: the places' own naming rule, or for the underlay
    NIC (named like any NIC), the underlay."""
    return next((kind for pattern, kind in NAMED_KINDS if pattern.match(name)), "underlay")


@pytest.mark.parametrize("path", MULTI, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_any_views_are_what_the_named_interfaces_say(path: Path) -> None:
    folder = path.parent
    result = pcapkit.analyze([path], [folder / "snapshot.json"])
    where = places(result.tables.views, result.tables.sources, list(result.captures),
                   result.snapshot)
    packets = result.tables.packets.filter(pl.col("src").is_not_null())
    keys = {view: set(part.select(SAME_PACKET).rows())
            for (view,), part in packets.partition_by("view", as_dict=True).items()}
    named = where.filter(pl.col("interface").is_not_null())
    unnamed = where.filter(pl.col("ifindex").is_not_null())
    assert named.height >= 2
    if not unnamed.height:
        # dumpcap's `-i any` is cooked v1: no interface index, every interface in one view,
        # whose encapsulated packets are the underlay's
        v1 = result.tables.views.filter(pl.col("link_type") == LinkType.LINUX_SLL).join(
            where, on="view")
        assert v1.height
        for row in v1.iter_rows(named=True):
            assert row["kind"] == ("any" if row["tunnel"] is None else "underlay"), row
        return
    for row in named.iter_rows(named=True):
        twin = max(unnamed["view"].to_list(), key=lambda v: len(keys[v] & keys[row["view"]]))
        assert len(keys[twin] & keys[row["view"]]) * 2 > len(keys[row["view"]])
        found = unnamed.filter(pl.col("view") == twin)["kind"][0]
        assert found == _named_kind(row["interface"]), (row["interface"], twin)

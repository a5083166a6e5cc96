"""Views: one per interface of each capture (its encapsulated packets apart), counted against
tshark."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import SAMPLES, needs_tshark
from tests.flows.tcp_oracles import table
from tests.lab.captures import tshark

ANY = sorted(SAMPLES.glob("*/node-*-any.pcap"))[:2]


@needs_tshark()
@pytest.mark.parametrize("path", ANY, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_any_capture_has_one_view_per_interface(path: Path) -> None:
    views = table([path]).views
    rows = tshark(path, "frame", "sll.ifindex", "vxlan.vni")
    per_view = Counter((int(ifindex), bool(vni)) for ifindex, vni in rows)
    ours = views.select("sll_ifindex", pl.col("tunnel").is_not_null(), "packets").rows()
    assert {(ifindex, tunneled): n for ifindex, tunneled, n in ours} == per_view
    assert views["view"].to_list() == list(range(views.height))


def test_captures_analysed_together_keep_their_views_apart() -> None:
    pods = sorted(SAMPLES.glob("healthy/pod-*.pcap")) + sorted(SAMPLES.glob("healthy/*.pcapng"))
    if len(pods) < 2:
        pytest.skip("healthy sample not recorded")
    tables = table(pods)
    assert tables.packets["view"].null_count() == 0
    pod_views = tables.views.filter(tables.views["capture"] == 0)
    assert pod_views.height == 1  # a pod's eth0 capture is one view
    assert set(tables.views["capture"]) == {0, 1}
    assert tables.views["packets"].sum() == tables.packets.height

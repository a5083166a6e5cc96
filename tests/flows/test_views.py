"""Views: one per interface of each capture (its encapsulated packets apart), counted against
tshark."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from pcapkit.decode.reference import decode_reference
from pcapkit.flows import view_connections
from pcapkit.flows.tcp import shared_ids, tcp_segments
from pcapkit.flows.views import VIEW_KEY, add_views, alone_in_view, tcp_copies, with_views
from pcapkit.read import read_capture
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


def test_each_packet_finds_its_view_by_its_key() -> None:
    """`with_views` looks keys up by their hash: every packet gets the view whose key is its
    own, nulls included, whatever order the views come in."""
    pods = sorted(SAMPLES.glob("healthy/pod-*.pcap")) + sorted(SAMPLES.glob("*/node-*-any.pcap"))
    if not pods:
        pytest.skip("samples not recorded")
    tables = table(pods[:3])
    shuffled = tables.views.sample(fraction=1.0, shuffle=True, seed=7)
    found = with_views(tables.packets.drop("view"), shuffled)
    keyed = found.join(tables.views.select(*VIEW_KEY, expected="view"), on=VIEW_KEY,
                       how="left", nulls_equal=True, maintain_order="left")
    assert keyed["view"].to_list() == keyed["expected"].to_list()
    assert tables.views["sll_ifindex"].null_count() or tables.views["tunnel"].null_count()


def test_views_sharing_a_key_are_refused_not_looped_on() -> None:
    pods = sorted(SAMPLES.glob("healthy/pod-*.pcap"))
    if not pods:
        pytest.skip("healthy sample not recorded")
    tables = table(pods[:1])
    twice = pl.concat([tables.views, tables.views.with_columns(pl.col("view") + 1)])
    with pytest.raises(ValueError, match="two views have one key"):
        with_views(tables.packets.drop("view"), twice)


def test_a_connection_alone_in_its_view_has_rule_5s_copies() -> None:
    """`tcp_copies` compares again only the packets of connections seen under two 5-tuples in
    one view: for the others it takes rule 5's copies. On every sample, the copies are those of
    comparing every packet. Not vacuous: the hairpin pod and the v1 node captures hold a
    connection twice in one view, and copies of it across its two 5-tuples."""
    captures = sorted(SAMPLES.glob("*/*.pcap")) + sorted(SAMPLES.glob("*/*.pcapng"))
    if not captures:
        pytest.skip("samples not recorded")
    across = 0
    for path in captures:
        packets, _, _ = add_views(decode_reference(read_capture(path), 0))
        segs, rows = view_connections(tcp_segments(packets))
        conn_of_lconn = shared_ids(rows)
        lconn = segs["lconn"].to_numpy()
        segs = segs.with_columns(conn=pl.Series(conn_of_lconn[lconn]))
        alone = alone_in_view(rows, conn_of_lconn)[lconn]
        taken = tcp_copies(segs.with_columns(alone=pl.Series(alone)))
        compared = tcp_copies(segs.with_columns(alone=pl.lit(False)))
        assert taken.to_list() == compared.to_list(), path
        across += int((compared & ~segs["copy"]).sum())
    assert across > 0

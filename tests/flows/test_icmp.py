"""ICMP errors tied to their flows, on the lab's captures: one error per REJECT however many
views saw it, its quoted flow the refused connection (truth), its TCP connection found."""

from __future__ import annotations

import polars as pl

from pcapkit.codes import IcmpType, IcmpUnreachCode
from pcapkit.flows.icmp import code_name, type_name
from samples.lab.cluster import UNDERLAY_MTU, VXLAN_OVERHEAD
from tests.detect.samples import needs_sample, tables, truth


@needs_sample("no_endpoints")
def test_one_error_per_reject_across_views_quoting_the_refused_connection() -> None:
    refused = sorted(t["client"] for t in truth("no_endpoints")
                     if t["kind"] == "attempt" and t["outcome"] == "refused")
    t = tables("no_endpoints")
    errors = t.icmp_errors.sort("ts_ns")
    assert [f"{e['q_src']}:{e['q_sport']}" for e in errors.iter_rows(named=True)] == refused
    assert (errors["views"] >= 2).all()  # the pod's capture and the node's `-i any`
    # each tied to the TCP connection of its SYN
    syns = t.packets.filter(pl.col("conn").is_in(errors["conn"].implode()))
    assert set(syns["sport"]) == {int(c.split(":")[1]) for c in refused}
    # the copies are the same packet: every frame is an ICMP port unreachable
    frames = errors["frames"].explode().struct.unnest()
    seen = t.packets.join(frames, on=["capture", "frame"])
    assert seen.height == frames.height
    assert set(zip(seen["icmp_type"], seen["icmp_code"], strict=True)) == {
        (IcmpType.DEST_UNREACH, IcmpUnreachCode.PORT)}


@needs_sample("mtu_blackhole")
def test_frag_needed_carries_the_mtu_and_the_flow_tunnel() -> None:
    errors = tables("mtu_blackhole").icmp_errors
    frag = errors.filter(pl.col("code_name") == "FRAG_NEEDED")
    assert frag.height > 0
    assert set(frag["mtu"]) == {UNDERLAY_MTU - VXLAN_OVERHEAD}
    assert set(frag["flow_tunnel"]) == {"vxlan"}


def test_names() -> None:
    assert (type_name(4, 3), code_name(4, 3, 4)) == ("DEST_UNREACH", "FRAG_NEEDED")
    assert (type_name(6, 2), code_name(6, 2, 0)) == ("PACKET_TOO_BIG", "CODE_0")
    assert (type_name(6, 1), code_name(6, 1, 4)) == ("DEST_UNREACH", "PORT")
    assert (type_name(4, 11), code_name(4, 11, 1)) == ("TIME_EXCEEDED", "REASSEMBLY")
    assert (type_name(4, 99), code_name(4, 3, 99)) == ("TYPE_99", "CODE_99")

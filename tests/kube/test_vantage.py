"""Each lab capture's vantage, read from its packets, against where the lab took it (the file
name the lab gave it: `pod-NAME`, `node-NAME-any`, `node-NAME-any-v1`, `node-NAME-eth0`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcapkit.decode import decode
from pcapkit.kube import load_snapshot, vantage_of
from pcapkit.read import read_capture
from tests.conftest import SAMPLES

CAPTURES = sorted(p for p in SAMPLES.glob("*/*.pcap") if (p.parent / "snapshot.json").exists())


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_vantage_matches_where_the_lab_captured(path: Path) -> None:
    cap = read_capture(path)
    snap = load_snapshot([path.parent / "snapshot.json"])
    v = vantage_of(decode(cap), cap.link_types, snap)
    stem = path.stem
    packets = decode(cap)
    if packets.filter(packets["src"].str.starts_with("10.") | packets["src"].str.starts_with("172.")
                      ).is_empty():
        # Only IPv6 link-local chatter (a node the scenario's traffic never crossed): nothing in
        # the packets names a node, and pcapkit must not pretend it does.
        assert v.name is None
        return
    if stem.startswith("pod-"):
        pod = stem.removeprefix("pod-")
        ns = snap.pods.filter(snap.pods["name"] == pod)["namespace"][0]
        assert (v.kind, v.name) == ("pod", f"pod {ns}/{pod}")
    elif stem.endswith(("-any", "-any-v1")):
        node = stem.removeprefix("node-").removesuffix("-v1").removesuffix("-any")
        assert (v.kind, v.name) == ("node-any", f"node {node}")
    elif stem.endswith("-eth0"):
        node = stem.removeprefix("node-").removesuffix("-eth0")
        assert v.kind == "node-underlay"
        # Two nodes on one underlay appear in every packet alike: both may be named.
        assert v.name is not None and f"node {node}" in v.name.split(" or ")
    else:
        pytest.fail(f"unexpected sample name {path.name}")

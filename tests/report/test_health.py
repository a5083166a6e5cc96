"""The Services layer's figures (`report.health`) against the lab's truth: every TCP attempt
the lab made to a Service is a connection to it, whether its ClusterIP or node port leg is in
a capture or only its endpoint's (a headless Service, or a node's own connection DNATed in its
OUTPUT chain before any interface)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pcapkit.detect.config import DEFAULT
from pcapkit.kube import load_snapshot
from pcapkit.report.health import checked
from tests.detect.tcp_samples import SCENARIOS, attempts, scenario, tables

# NodeLocal DNSCache's node opens its TCP connections to kube-dns itself: the lab logs the
# pod's lookups, not them (test_nodelocal_cache_reaches_kube_dns checks those)
CACHED = {"nodelocal_dns"}


def _services(name: str) -> dict[str, int]:
    snapshot = load_snapshot([scenario(name) / "snapshot.json"])
    return checked(tables(name), snapshot, DEFAULT)["Services"]


@pytest.mark.parametrize("name", [s for s in SCENARIOS if s not in CACHED])
def test_every_attempt_at_a_service_is_counted(name: str) -> None:
    tried = [a for a in attempts(name) if a.get("service")]
    figures = _services(name)
    assert figures["service_connections"] + figures["endpoint_connections"] == len(tried)
    assert figures["services_reached"] == len({a["service"] for a in tried})
    assert figures["services_dialled"] <= figures["services_reached"]


def test_nodelocal_cache_reaches_kube_dns() -> None:
    """Each of the cache's TCP connections to kube-dns shows only its CoreDNS endpoint."""
    conns = tables("nodelocal_dns").connections
    assert conns["server_port"].unique().to_list() == [53]
    figures = _services("nodelocal_dns")
    assert figures["service_connections"] == 0
    assert figures["endpoint_connections"] == conns["conn"].n_unique() > 0
    assert figures["services_reached"] == 1
    snapshot = load_snapshot([scenario("nodelocal_dns") / "snapshot.json"])
    coredns = snapshot.endpoints.filter(pl.col("service") == "kube-dns")["ip"].unique()
    assert set(conns["server_ip"].unique()) <= set(coredns)


def test_an_endpoint_reaches_a_service_over_the_protocol_its_slice_lists(tmp_path: Path) -> None:
    """The same cluster, kube-dns's slice listing port 53 for UDP only: the cache's TCP
    connections to the CoreDNS pods' port 53 reach no Service."""
    dump = json.loads((scenario("nodelocal_dns") / "snapshot.json").read_text())
    for item in dump["items"]:
        if item["kind"] == "EndpointSlice" and item["metadata"]["name"].startswith("kube-dns"):
            item["ports"] = [p for p in item["ports"] if p["protocol"] == "UDP"]
    (tmp_path / "snapshot.json").write_text(json.dumps(dump))
    snapshot = load_snapshot([tmp_path / "snapshot.json"])
    figures = checked(tables("nodelocal_dns"), snapshot, DEFAULT)["Services"]
    assert figures["endpoint_connections"] == figures["services_reached"] == 0

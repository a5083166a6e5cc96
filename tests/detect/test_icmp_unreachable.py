"""icmp_unreachable on the lab: kube-proxy's REJECT for a Service without endpoints (truth: the
refused attempts) and the frag-needed of an MTU mismatch over VXLAN (the lab's own MTU
arithmetic); nothing on the healthy sample."""

from __future__ import annotations

import pytest

from pcapkit.detect import icmp_unreachable
from pcapkit.detect.config import DEFAULT
from samples.lab.cluster import UNDERLAY_MTU, VXLAN_OVERHEAD
from tests.detect.samples import extras, needs_sample, tables, truth


def _attempts(name: str) -> list[dict]:
    return [t for t in truth(name) if t["kind"] == "attempt"]


@needs_sample("no_endpoints")
def test_reject_for_a_service_without_endpoints_on_exactly_the_refused_connections() -> None:
    refused = {(t["client"], t["resolved"]) for t in _attempts("no_endpoints")
               if t["outcome"] == "refused"}
    assert refused
    findings = icmp_unreachable.detect(tables("no_endpoints"), DEFAULT)
    found = {(f"{r['client_ip']}:{r['client_port']}", f"{r['server_ip']}:{r['server_port']}")
             for r in findings.iter_rows(named=True)}
    assert found == refused
    assert findings["count"].to_list() == [1] * len(refused)  # one REJECT per connection
    kinds = {(e["type_name"], e["code_name"]) for e in extras(findings)}
    assert kinds == {("DEST_UNREACH", "PORT")}
    # the node answered for the ClusterIP: not the destination itself
    assert all(e["reporter"] != r for e, r in zip(extras(findings), findings["server_ip"],
                                                   strict=True))
    assert all("kube-proxy" in x for x in findings["explanation"])
    assert (findings["protocol"] == "tcp").all()


@needs_sample("mtu_blackhole")
def test_frag_needed_with_the_overlay_mtu_and_the_vxlan_arithmetic() -> None:
    findings = icmp_unreachable.detect(tables("mtu_blackhole"), DEFAULT)
    frag = [(r, e) for r, e in zip(findings.iter_rows(named=True), extras(findings), strict=True)
            if e["code_name"] == "FRAG_NEEDED"]
    assert frag
    overlay_mtu = UNDERLAY_MTU - VXLAN_OVERHEAD
    clients = {t["client"] for t in _attempts("mtu_blackhole")}
    for row, extra in frag:
        assert extra["mtu"] == overlay_mtu
        assert f"{row['client_ip']}:{row['client_port']}" in clients
        assert extra["overlay"] == "vxlan"
        assert f"adds {VXLAN_OVERHEAD} bytes" in row["explanation"]
        assert f"needs {overlay_mtu}" in row["explanation"]


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=needs_sample(n)) for n in ("healthy", "nxdomain_storm")]
)
def test_no_icmp_error_where_none_was_sent(name: str) -> None:
    assert icmp_unreachable.detect(tables(name), DEFAULT).is_empty()

"""What the snapshot says against a Service, on the lab's samples with their snapshots edited
as plain data: a targetPort the pod does not declare (and no verdict when the pod declares no
port, or when targetPort names a declared port), and a Service whose endpoints are all not
ready (not when one of them is); and the DNS-only Services (headless, ExternalName) that DNS
findings are about."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pcapkit.api import analyze
from pcapkit.kube import load_snapshot
from pcapkit.kube.services import dns_service
from tests.conftest import SAMPLES


def _symptoms(name: str, snapshot: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    (tmp_path / "snapshot.json").write_text(json.dumps(snapshot))
    captures = sorted((SAMPLES / name).glob("*.pcap"))
    return list(analyze(captures, [tmp_path / "snapshot.json"]).to_dict()["symptoms"])


def _snapshot(name: str) -> dict[str, Any]:
    path = SAMPLES / name / "snapshot.json"
    if not path.exists():
        pytest.skip(f"lab sample {name} not recorded")
    return dict(json.loads(path.read_text()))


def _item(doc: dict[str, Any], kind: str, prefix: str) -> dict[str, Any]:
    return next(i for i in doc["items"]
                if i["kind"] == kind and i["metadata"]["name"].startswith(prefix))


def test_target_port_not_declared(tmp_path: Path) -> None:
    doc = _snapshot("target_port_mismatch")
    found = _symptoms("target_port_mismatch", doc, tmp_path)
    pod = _item(doc, "Pod", "api-")
    (declared,) = pod["spec"]["containers"][0]["ports"]
    target = _item(doc, "Service", "api")["spec"]["ports"][0]["targetPort"]
    assert found and all(s["kind"] == "rst" for s in found)
    for s in found:
        said = s["k8s"]["port_mismatch"]
        owner = f"pod default/{pod['metadata']['name']}"
        assert said.startswith(f"targetPort {target} is not a port {owner}")
        assert f"{declared['containerPort']}/TCP" in said and said in s["explanation"]


def test_no_verdict_on_a_pod_that_declares_no_port(tmp_path: Path) -> None:
    doc = _snapshot("target_port_mismatch")
    del _item(doc, "Pod", "api-")["spec"]["containers"][0]["ports"]
    found = _symptoms("target_port_mismatch", doc, tmp_path)
    assert found and not any("port_mismatch" in s["k8s"] for s in found)


def test_a_declared_but_unserved_port_is_no_mismatch() -> None:
    # not_listening: targetPort http=8080 is declared; the server listens elsewhere
    doc = _snapshot("not_listening")
    found = list(analyze(sorted((SAMPLES / "not_listening").glob("*.pcap")),
                         [SAMPLES / "not_listening" / "snapshot.json"]).to_dict()["symptoms"])
    assert doc and found and not any("port_mismatch" in s.get("k8s", {}) for s in found)


def test_endpoints_all_not_ready(tmp_path: Path) -> None:
    doc = _snapshot("endpoints_not_ready")
    found = _symptoms("endpoints_not_ready", doc, tmp_path)
    slice_ = _item(doc, "EndpointSlice", "ledger")
    listed = sorted(f"pod default/{e['targetRef']['name']}" for e in slice_["endpoints"])
    for s in found:
        entries = s["k8s"]["endpoints_not_ready"]
        assert sorted(e.split(" (")[0] for e in entries) == listed
        assert "endpoint_candidates" not in s["k8s"] and "has no ready endpoint" in s["explanation"]
    # one of them ready: the Service has an endpoint, whatever the captures show
    slice_["endpoints"][0]["conditions"] = {"ready": True, "serving": True, "terminating": False}
    found = _symptoms("endpoints_not_ready", doc, tmp_path)
    assert found and not any("endpoints_not_ready" in s["k8s"] for s in found)


def test_not_ready_endpoints_a_service_publishes_are_no_verdict(tmp_path: Path) -> None:
    # the same Service with publishNotReadyAddresses: its not-ready pods are its intent, so
    # "no ready endpoint" is not said of it (the captures still show kube-proxy rejecting)
    doc = _snapshot("endpoints_not_ready")
    _item(doc, "Service", "ledger")["spec"]["publishNotReadyAddresses"] = True
    found = _symptoms("endpoints_not_ready", doc, tmp_path)
    assert found and not any("endpoints_not_ready" in s["k8s"] for s in found)
    assert not any("has no ready endpoint" in s["explanation"] for s in found)


def test_dns_findings_name_the_dns_only_service() -> None:
    # a DNS symptom of any kind (a timeout, a SERVFAIL) whose names hold an ExternalName's name
    # or its target, or a headless Service's name, is about that Service; a ClusterIP
    # Service's name is not (the DNS server's Service stays)
    _snapshot("external_name")
    _snapshot("headless")
    snap = load_snapshot([SAMPLES / "external_name" / "snapshot.json",
                          SAMPLES / "headless" / "snapshot.json"])
    rows = [("dns", {"names": ["PAYMENTS.default.svc.cluster.local."]}, "default/payments"),
            ("dns", {"names": ["other.example", "payments.example.net"]}, "default/payments"),
            ("dns", {"steps": ["cache.default.svc.cluster.local"]}, "default/cache"),
            ("dns", {"name": "db.default.svc"}, "default/db"),
            ("dns", {"names": ["web.default.svc.cluster.local"]}, None),
            ("tcp", {"names": ["payments.default.svc.cluster.local"]}, None)]
    frame = pl.DataFrame({"protocol": [p for p, _, _ in rows],
                          "extra": [json.dumps(e) for _, e, _ in rows]})
    got = frame.select(dns_service(snap).alias("service"))["service"].to_list()
    assert got == [want for _, _, want in rows]

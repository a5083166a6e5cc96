"""The JSON document on every lab scenario: valid against docs/report.schema.json, and
consistent with the captures it came from."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import pcapkit
from pcapkit.report import render_json
from pcapkit.report.jsontext import indented
from tests.conftest import REPO, SAMPLES

SCHEMA = json.loads((REPO / "docs" / "report.schema.json").read_text())
SCENARIOS = sorted(p.parent for p in SAMPLES.glob("*/snapshot.json"))


@pytest.fixture(scope="module", params=SCENARIOS, ids=lambda p: p.name)
def scenario_doc(request: pytest.FixtureRequest) -> tuple[Path, dict[str, object]]:
    folder: Path = request.param
    captures = sorted(folder.glob("*.pcap")) + sorted(folder.glob("*.pcapng"))
    result = pcapkit.analyze(captures, snapshots=[folder / "snapshot.json"])
    return folder, result.to_dict()


def test_valid_against_schema(scenario_doc: tuple[Path, dict[str, object]]) -> None:
    _, doc = scenario_doc
    jsonschema.validate(doc, SCHEMA)
    json.dumps(doc)  # plain JSON types only


def test_evidence_frames_exist_in_their_captures(
        scenario_doc: tuple[Path, dict[str, object]]) -> None:
    _, doc = scenario_doc
    packets = {c["path"]: c["packets"] for c in doc["captures"]}  # type: ignore[attr-defined]
    for s in doc["symptoms"]:  # type: ignore[attr-defined]
        assert s["evidence"], s
        for ev in s["evidence"]:
            assert all(1 <= f <= packets[ev["capture"]] for f in ev["frames"]), s


def test_summary_counts_match_symptoms(scenario_doc: tuple[Path, dict[str, object]]) -> None:
    _, doc = scenario_doc
    counts: dict[str, int] = {}
    for s in doc["symptoms"]:  # type: ignore[attr-defined]
        counts[s["kind"]] = counts.get(s["kind"], 0) + 1
    assert doc["summary"]["symptoms"] == counts  # type: ignore[index]
    assert doc["summary"]["packets"] == sum(  # type: ignore[index]
        c["packets"] for c in doc["captures"])  # type: ignore[attr-defined]


def test_client_is_pre_dnat_and_k8s_names_resolve(
        scenario_doc: tuple[Path, dict[str, object]]) -> None:
    """`server` is what the client dialled: for a Service, the ClusterIP (or, from outside
    the cluster, a node's address or a LoadBalancer's), never the endpoint."""
    folder, doc = scenario_doc
    snap = json.loads((folder / "snapshot.json").read_text())["items"]
    cluster_ips = {i["spec"].get("clusterIP") for i in snap if i["kind"] == "Service"}
    cluster_ips |= {a["address"] for i in snap if i["kind"] == "Node"
                    for a in i["status"]["addresses"] if a["type"] == "InternalIP"}
    cluster_ips |= {g["ip"] for i in snap if i["kind"] == "Service"
                    for g in i["status"]["loadBalancer"].get("ingress", [])}
    for s in doc["symptoms"]:  # type: ignore[attr-defined]
        k8s = s.get("k8s", {})
        if "endpoint" in k8s:  # the DNAT leg was found: the client dialled the ClusterIP
            assert s["server"].rsplit(":", 1)[0].strip("[]") in cluster_ips, s
            assert k8s["endpoint"] != s["server"] and "service" in k8s


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: p.name)
def test_written_symptom_by_symptom_is_the_whole_dumps(folder: Path) -> None:
    """`--format json` writes the symptoms one at a time, made again from the outline that
    impacts and causes are computed on: byte for byte the whole document's text written at
    once, which reads back as the document."""
    captures = sorted(folder.glob("*.pcap")) + sorted(folder.glob("*.pcapng"))
    result = pcapkit.analyze(captures, snapshots=[folder / "snapshot.json"])
    text = render_json(result)
    assert text == indented(result.to_dict()) + "\n"
    assert json.loads(text) == result.to_dict()

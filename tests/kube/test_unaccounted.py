"""Capture warnings for addresses the snapshot does not account for, on a real lab recording
with its snapshot edited as plain data: the client pod's IP changed after the capture, or the
pod gone from the snapshot. The recording's own snapshot gives no warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pcapkit
from tests.conftest import SAMPLES
from tests.detect.samples import needs_sample

FOLDER = SAMPLES / "healthy"


def _captures() -> list[Path]:
    return sorted(FOLDER.glob("*.pcap"))


def _client(doc: dict[str, Any]) -> dict[str, Any]:
    return next(i for i in doc["items"]
                if i["kind"] == "Pod" and i["metadata"]["name"].startswith("client-"))


def _warnings(tmp_path: Path, doc: dict[str, Any]) -> dict[str, list[str]]:
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps(doc))
    analysis = pcapkit.analyze(_captures(), [snapshot])
    return {Path(c.path).name: c.warnings for c in analysis.captures}


@needs_sample("healthy")
def test_none_with_the_recordings_own_snapshot() -> None:
    analysis = pcapkit.analyze(_captures(), [FOLDER / "snapshot.json"])
    assert all(not c.warnings for c in analysis.captures)


@needs_sample("healthy")
def test_a_pod_whose_ip_changed(tmp_path: Path) -> None:
    doc = json.loads((FOLDER / "snapshot.json").read_text())
    pod = _client(doc)
    old, new = pod["status"]["podIP"], "10.244.1.99"
    pod["status"]["podIP"], pod["status"]["podIPs"] = new, [{"ip": new}]
    warnings = _warnings(tmp_path, doc)
    name = pod["metadata"]["name"]
    (own,) = warnings[f"pod-{name}.pcap"]
    assert f"own address {old}" in own
    assert f"names pod default/{name}, whose IP in the snapshot is {new}" in own
    # the node that carried the pod's traffic sees an address no pod holds
    (stray,) = warnings["node-worker-1-any.pcap"]
    assert f"no pod in the snapshot holds: {old} (" in stray


@needs_sample("healthy")
def test_a_pod_missing_from_the_snapshot(tmp_path: Path) -> None:
    doc = json.loads((FOLDER / "snapshot.json").read_text())
    pod = _client(doc)
    doc["items"].remove(pod)
    warnings = _warnings(tmp_path, doc)
    (own,) = warnings[f"pod-{pod['metadata']['name']}.pcap"]
    assert f"own address {pod['status']['podIP']}" in own and "file name" not in own

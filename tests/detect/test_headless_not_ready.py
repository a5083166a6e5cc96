"""headless_not_ready on the lab's headless Services (truth: the lookups; tshark: the answers
the DNS gave; the snapshot: which pods are ready), the settings that change its verdict, and
silence without a snapshot or where no Service is headless."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from pcapkit.detect import headless_not_ready, nxdomain_name, nxdomain_storm
from pcapkit.detect.config import DEFAULT, Config, for_snapshot
from pcapkit.kube import load_snapshot
from tests.conftest import SAMPLES
from tests.detect.samples import extras, needs_sample, tables, truth
from tests.lab.captures import tshark

NAME = "headless"


def _config(name: str) -> Config:
    return for_snapshot(DEFAULT, load_snapshot([SAMPLES / name / "snapshot.json"]))


def _pods() -> dict[str, tuple[str, bool]]:
    """pod IP → (`pod NS/NAME`, ready), from the snapshot's Ready condition."""
    doc = json.loads((SAMPLES / NAME / "snapshot.json").read_text())
    return {p["status"]["podIP"]: (f"pod {p['metadata']['namespace']}/{p['metadata']['name']}",
                                   any(c["type"] == "Ready" and c["status"] == "True"
                                       for c in p["status"]["conditions"]))
            for p in doc["items"] if p["kind"] == "Pod"}


@needs_sample(NAME)
def test_no_ready_pod_is_an_error_and_a_partial_answer_a_warning() -> None:
    findings = headless_not_ready.detect(tables(NAME), _config(NAME))
    by_name = {e["name"]: (row, e) for row, e in zip(findings.iter_rows(named=True),
                                                       extras(findings), strict=True)}
    assert by_name.keys() == {"cache.default.svc.cluster.local", "db.default.svc.cluster.local"}
    failed = [t for t in truth(NAME) if t["kind"] == "lookup" and t["name"] == "cache"]
    row, extra = by_name["cache.default.svc.cluster.local"]
    assert (row["severity"], row["count"], extra["empty_lookups"]) == ("error", len(failed),
                                                                      len(failed))
    assert extra["answers"] == [] and "NXDOMAIN" in row["explanation"]
    # the answers, as tshark reads them, each named by the pod the snapshot gives that address
    pods = _pods()
    answered = {a for (a,) in tshark(
        SAMPLES / NAME / "pod-client-7c9f8b6d5-h2m4k.pcap",
        'dns.qry.name=="db.default.svc.cluster.local" && dns.a', "dns.a")}
    row, extra = by_name["db.default.svc.cluster.local"]
    assert row["severity"] == "warning" and extra["empty_lookups"] == 0
    assert extra["answers"] == [f"{ip} ({pods[ip][0]})" for ip in sorted(answered)]
    assert all(pods[ip][1] for ip in answered)
    left_out = [pod for pod, ready in pods.values() if pod.startswith("pod default/db-")
                and not ready]
    assert [e.split(" (")[0] for e in extra["not_ready"]] == left_out


@needs_sample(NAME)
def test_its_nxdomains_are_nobody_elses() -> None:
    assert nxdomain_name.detect(tables(NAME), _config(NAME)).is_empty()
    assert nxdomain_storm.detect(tables(NAME), _config(NAME)).is_empty()


@needs_sample(NAME)
def test_answers_that_leave_no_one_out_are_no_symptom() -> None:
    # the same Services with every endpoint ready: db's answer is then complete
    config = _config(NAME)
    ready = tuple(e.replace("|not-ready|", "|ready|") if e.startswith("default/db|") else e
                  for e in config.kube_headless)
    findings = headless_not_ready.detect(tables(NAME), replace(config, kube_headless=ready))
    assert [e["name"] for e in extras(findings)] == ["cache.default.svc.cluster.local"]


@pytest.mark.parametrize("name", [NAME, "short_name_other_namespace", "healthy"])
def test_silent_without_a_snapshot_or_a_headless_service(name: str) -> None:
    if not (SAMPLES / name / "truth.jsonl").exists():
        pytest.skip(f"lab sample {name} not recorded")
    assert headless_not_ready.detect(tables(name), DEFAULT).is_empty()
    if name != NAME:
        assert headless_not_ready.detect(tables(name), _config(name)).is_empty()


def _published(service: str, tmp: Path) -> Config:
    """The headless sample's snapshot with `service` publishing not-ready addresses, written
    as the API holds it then: `spec.publishNotReadyAddresses`, and its EndpointSlice's
    endpoints `ready` (forced by the controller) with `serving` the pod's readiness."""
    doc = json.loads((SAMPLES / NAME / "snapshot.json").read_text())
    for item in doc["items"]:
        meta = item["metadata"]
        if item["kind"] == "Service" and meta["name"] == service:
            item["spec"]["publishNotReadyAddresses"] = True
        if (item["kind"] == "EndpointSlice"
                and meta["labels"]["kubernetes.io/service-name"] == service):
            for endpoint in item["endpoints"] or ():
                endpoint["conditions"]["ready"] = True
    path = tmp / "snapshot.json"
    path.write_text(json.dumps(doc))
    return for_snapshot(DEFAULT, load_snapshot([path]))


@needs_sample(NAME)
def test_a_service_publishing_not_ready_addresses_is_not_held_to_readiness(tmp_path: Path) -> None:
    """db publishes its not-ready pod on purpose: the answers leaving it out are no readiness
    symptom. cache publishes its only pod, yet its lookups got NXDOMAIN: an error still, but
    the DNS server's, not the pods' readiness."""
    findings = headless_not_ready.detect(tables(NAME), _published("db", tmp_path))
    assert [e["name"] for e in extras(findings)] == ["cache.default.svc.cluster.local"]
    findings = headless_not_ready.detect(tables(NAME), _published("cache", tmp_path))
    cache = findings.filter(pl.col("explanation").str.contains("cache.default.svc"))
    assert cache["severity"].to_list() == ["error"]
    assert "should answer" in cache["explanation"][0]
    assert "readiness probes" not in cache["explanation"][0]

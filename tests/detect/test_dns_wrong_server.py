"""dns_wrong_server on the lab: the client pod pointed at a dnsmasq pod instead of kube-dns
(the snapshot's dnsConfig says which), and nothing on samples whose pods ask kube-dns, nor
without a snapshot."""

from __future__ import annotations

import json

import pytest

from pcapkit.detect import dns_wrong_server
from pcapkit.detect.config import DEFAULT, Config, for_snapshot
from pcapkit.kube import load_snapshot
from tests.conftest import SAMPLES
from tests.detect.samples import extras, needs_sample, tables, truth


def _config(name: str) -> Config:
    return for_snapshot(DEFAULT, load_snapshot([SAMPLES / name / "snapshot.json"]))


@needs_sample("wrong_nameserver")
def test_the_pod_asking_a_server_that_is_not_the_clusters() -> None:
    name = "wrong_nameserver"
    doc = json.loads((SAMPLES / name / "snapshot.json").read_text())
    (pod,) = [i for i in doc["items"] if i["kind"] == "Pod" and "dnsConfig" in i["spec"]]
    (nameserver,) = pod["spec"]["dnsConfig"]["nameservers"]
    lookups = [t for t in truth(name) if t["kind"] == "lookup"]
    findings = dns_wrong_server.detect(tables(name), _config(name))
    assert findings.height == 1
    row, extra = findings.row(0, named=True), extras(findings)[0]
    assert (row["client_ip"], row["server_ip"]) == (pod["status"]["podIP"], nameserver)
    assert row["client_ip"] == lookups[0]["client"]
    assert row["severity"] == "warning" and extra["answered"] == row["count"]
    assert "10.96.0.10" in extra["expected"] and "169.254.20.10" in extra["expected"]
    assert row["count"] == tables(name).dns.height  # every query went there


@pytest.mark.parametrize("name", ["healthy", "nxdomain_storm", "dns_timeout"])
def test_none_when_pods_ask_kube_dns(name: str) -> None:
    if not (SAMPLES / name / "truth.jsonl").exists():
        pytest.skip(f"lab sample {name} not recorded")
    assert dns_wrong_server.detect(tables(name), _config(name)).is_empty()


@needs_sample("wrong_nameserver")
def test_not_without_the_clusters_dns_servers() -> None:
    assert dns_wrong_server.detect(tables("wrong_nameserver"), DEFAULT).is_empty()

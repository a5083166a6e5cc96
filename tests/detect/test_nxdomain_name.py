"""nxdomain_name on the lab: a Service in another namespace reached by its short name, and a
Service that exists nowhere (truth: the failed lookups and their search-path names; the
snapshot: where Services live), with and without the snapshot; and its split with
nxdomain_storm, which keeps the NXDOMAINs of names that are not Services."""

from __future__ import annotations

import json

import polars as pl

from pcapkit.detect import nxdomain_name, nxdomain_storm
from pcapkit.detect.config import DEFAULT, Config, for_snapshot
from pcapkit.kube import load_snapshot
from tests.conftest import SAMPLES
from tests.detect.samples import extras, needs_sample, tables, truth


def _config(name: str) -> Config:
    return for_snapshot(DEFAULT, load_snapshot([SAMPLES / name / "snapshot.json"]))


def _failed(name: str) -> list[dict]:
    return [t for t in truth(name) if t["kind"] == "lookup" and t["outcome"] == "nxdomain"]


def _snapshot_services(name: str) -> dict[str, set[str]]:
    doc = json.loads((SAMPLES / name / "snapshot.json").read_text())
    found: dict[str, set[str]] = {}
    for item in doc["items"]:
        if item["kind"] == "Service":
            meta = item["metadata"]
            found.setdefault(meta["name"], set()).add(meta["namespace"])
    return found


@needs_sample("short_name_other_namespace")
def test_a_short_name_for_a_service_of_another_namespace() -> None:
    name = "short_name_other_namespace"
    lookups = _failed(name)
    (asked,) = {t["name"] for t in lookups}
    elsewhere = _snapshot_services(name)[asked]
    findings = nxdomain_name.detect(tables(name), _config(name))
    assert findings.height == 1
    row, extra = findings.row(0, named=True), extras(findings)[0]
    assert (row["client_ip"], row["count"]) == (lookups[0]["client"], len(lookups))
    assert extra["steps"] == lookups[0]["search_expansion"]
    assert extra["did_you_mean"] == sorted(f"{asked}.{ns}" for ns in elsewhere)
    assert f"did you mean {asked}." in row["explanation"]
    assert nxdomain_storm.detect(tables(name), _config(name)).is_empty()


@needs_sample("no_such_service")
def test_a_service_that_exists_nowhere_names_the_namespaces_searched() -> None:
    name = "no_such_service"
    lookups = _failed(name)
    findings = nxdomain_name.detect(tables(name), _config(name))
    assert findings.height == 1
    extra = extras(findings)[0]
    assert extra["name"] not in _snapshot_services(name)
    assert "did_you_mean" not in extra
    assert extra["namespaces_searched"] == sorted(
        {i["metadata"]["namespace"] for i in json.loads(
            (SAMPLES / name / "snapshot.json").read_text())["items"]
         if i["kind"] in ("Pod", "Service")})
    assert findings["count"][0] == len(lookups)
    # every query of those lookups is cited: each NXDOMAIN counted here, not in a storm
    dns = tables(name).dns.filter(pl.col("search_expansion_of") == extra["name"])
    cited = {(e["capture"], e["frame"]) for e in findings["evidence"][0]}
    assert all((f["capture"], f["frame"]) in cited for frames in dns["query_frames"]
               for f in frames)
    assert extra["nxdomain"] == dns.height
    assert nxdomain_storm.detect(tables(name), _config(name)).is_empty()


@needs_sample("no_such_service")
def test_without_a_snapshot_it_says_what_the_dns_answered() -> None:
    findings = nxdomain_name.detect(tables("no_such_service"), DEFAULT)
    assert findings.height == 1
    extra = extras(findings)[0]
    assert "did_you_mean" not in extra and "namespaces_searched" not in extra
    assert "with --k8s" in findings["explanation"][0]


@needs_sample("nxdomain_storm")
def test_names_that_are_not_services_stay_in_the_storm() -> None:
    config = _config("nxdomain_storm")
    assert nxdomain_name.detect(tables("nxdomain_storm"), config).is_empty()
    assert not nxdomain_storm.detect(tables("nxdomain_storm"), config).is_empty()


@needs_sample("dns_timeout")
def test_a_lookup_with_a_step_unanswered_is_a_timeout_not_a_wrong_name() -> None:
    assert nxdomain_name.detect(tables("dns_timeout"), _config("dns_timeout")).is_empty()


@needs_sample("external_name")
def test_an_external_names_target_that_does_not_exist() -> None:
    # The answer's CNAME is followed with or without a snapshot; the snapshot names the Service.
    name = "external_name"
    (asked,) = {t["name"] for t in _failed(name)}
    doc = json.loads((SAMPLES / name / "snapshot.json").read_text())
    (target,) = [i["spec"]["externalName"] for i in doc["items"]
                 if i["kind"] == "Service" and i["metadata"]["name"] == asked]
    for config, who in ((DEFAULT, "the Service"),
                        (_config(name), f"ExternalName Service default/{asked}")):
        findings = nxdomain_name.detect(tables(name), config)
        assert findings.height == 1
        row, extra = findings.row(0, named=True), extras(findings)[0]
        assert extra["cname"] == target
        assert f"{who} is an alias for {target}" in row["explanation"]
        assert "CoreDNS does not serve it" not in row["explanation"]

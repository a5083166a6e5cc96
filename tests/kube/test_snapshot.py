"""Snapshot loading: every shape kubectl prints, and a clear error for anything else."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from pcapkit.errors import SnapshotError
from pcapkit.kube import load_snapshot
from pcapkit.kube.app_protocols import h2c_sockets
from pcapkit.kube.dnat import endpoint_state
from tests.conftest import SAMPLES

POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "client-a", "namespace": "default"},
       "spec": {"nodeName": "node-a"},
       "status": {"podIP": "10.244.1.10", "podIPs": [{"ip": "10.244.1.10"}, {"ip": "fd00::a"}],
                  "phase": "Running"}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.20", "clusterIPs": ["10.96.0.20"],
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                               "protocol": "TCP"}]}}
SLICE = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "web-abc", "namespace": "shop",
                      "labels": {"kubernetes.io/service-name": "web"}},
         "addressType": "IPv4",
         "endpoints": [
             {"addresses": ["10.244.2.5"], "conditions": {"ready": True},
              "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "shop"},
              "nodeName": "node-b"},
             {"addresses": ["10.244.2.99"],
              "conditions": {"ready": False, "serving": True, "terminating": True},
              "targetRef": {"kind": "Pod", "name": "web-old", "namespace": "shop"}}],
         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
        "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
        "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"},
                                 {"type": "Hostname", "address": "node-a"}]}}
OBJECTS = [POD, SERVICE, SLICE, NODE]


def _check(snap_dir: list[Path]) -> None:
    snap = load_snapshot(snap_dir)
    assert sorted(snap.pods["ip"]) == ["10.244.1.10", "fd00::a"]
    assert snap.services.row(0, named=True)["target_port"] == "8080"
    eps = {r["ip"]: r for r in snap.endpoints.iter_rows(named=True)}
    assert eps["10.244.2.5"]["ready"] and not eps["10.244.2.5"]["terminating"]
    assert eps["10.244.2.99"]["terminating"] and eps["10.244.2.99"]["serving"]
    assert snap.nodes["ip"].to_list() == ["172.18.0.2"]  # Hostname is not an address we match


def test_kubectl_list_json(tmp_path: Path) -> None:
    f = tmp_path / "cluster.json"
    f.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": OBJECTS}))
    _check([f])


def test_yaml_stream_and_single_objects_in_a_directory(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(yaml.safe_dump_all([POD, SERVICE]))
    (tmp_path / "b.json").write_text(json.dumps(SLICE))
    (tmp_path / "c.yml").write_text(yaml.safe_dump({"kind": "NodeList", "items": [NODE]}))
    (tmp_path / "notes.txt").write_text("ignored")
    _check([tmp_path])


@pytest.mark.parametrize(("content", "problem"), [
    ("{not json: [", "neither JSON nor YAML"),
    ("[1, 2]", "not a Kubernetes object"),
    ("just words", "not a Kubernetes object"),
])
def test_bad_snapshot_names_file_and_problem(tmp_path: Path, content: str, problem: str) -> None:
    f = tmp_path / "snap.json"
    f.write_text(content)
    with pytest.raises(SnapshotError) as err:
        load_snapshot([f])
    assert str(f) in str(err.value) and problem in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_snapshot() -> None:
    with pytest.raises(SnapshotError, match="no such file"):
        load_snapshot(["/nonexistent/snap.json"])


def test_endpoint_state_words() -> None:
    assert endpoint_state(True, True, False) == "ready"
    assert endpoint_state(False, True, True) == "terminating"
    assert endpoint_state(False, False, False) == "not-ready"


@pytest.mark.parametrize("snap", sorted(SAMPLES.glob("*/snapshot.json")),
                         ids=lambda p: p.parent.name)
def test_lab_snapshots_load_completely(snap: Path) -> None:
    """Every object the lab wrote is read: counts agree with a plain walk of the JSON."""
    items = json.loads(snap.read_text())["items"]
    loaded = load_snapshot([snap])
    kinds = [i["kind"] for i in items]
    assert loaded.pods["name"].n_unique() == sum(
        1 for i in items if i["kind"] == "Pod" and i["status"].get("podIP"))
    assert loaded.services["name"].n_unique() == kinds.count("Service")
    assert loaded.nodes["name"].n_unique() == kinds.count("Node")
    n_addresses = sum(len(e["addresses"]) * len(i.get("ports") or [{}])
                      for i in items if i["kind"] == "EndpointSlice" for e in i["endpoints"] or [])
    assert loaded.endpoints.height == n_addresses


def test_container_ports_headless_and_external_name(tmp_path: Path) -> None:
    pod = json.loads(json.dumps(POD))
    pod["spec"]["containers"] = [
        {"name": "app", "ports": [{"name": "http", "containerPort": 8080}]},
        {"name": "sidecar", "ports": [{"containerPort": 9901, "protocol": "UDP"}]}]
    bare = json.loads(json.dumps(POD)) | {"metadata": {"name": "bare", "namespace": "default"}}
    bare["status"] = {"podIP": "10.244.1.11"}
    headless = json.loads(json.dumps(SERVICE))
    headless["metadata"]["name"] = "db"
    headless["spec"] |= {"clusterIP": "None", "clusterIPs": ["None"]}
    alias = {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "payments", "namespace": "shop"},
             "spec": {"type": "ExternalName", "externalName": "pay.example.net"}}
    (tmp_path / "s.json").write_text(json.dumps(
        {"kind": "List", "items": [pod, bare, SERVICE, headless, alias]}))
    snap = load_snapshot([tmp_path / "s.json"])
    ports = {r["name"]: r["ports"] for r in snap.pods.iter_rows(named=True)}
    assert ports["client-a"] == [{"name": "http", "port": 8080, "protocol": "TCP"},
                                 {"name": None, "port": 9901, "protocol": "UDP"}]
    assert ports["bare"] is None  # declares nothing: nothing can be held against it
    services = {r["name"]: r for r in snap.services.iter_rows(named=True)}
    assert (services["web"]["headless"], services["web"]["external_name"]) == (False, None)
    assert services["db"]["headless"] and services["db"]["cluster_ip"] is None
    assert services["payments"]["external_name"] == "pay.example.net"
    assert services["payments"]["type"] == "ExternalName"


def test_app_protocol_names_h2c_sockets(tmp_path: Path) -> None:
    """A Service port's `appProtocol` is read from the Service and from its slices; the sockets
    it makes HTTP/2 are the ClusterIP's and each endpoint's: the slice's own word, else its
    Service port's (matched by name), and only for an h2c-meaning value."""
    grpc = json.loads(json.dumps(SERVICE))
    grpc["metadata"]["name"] = "greeter"
    grpc["spec"] |= {"clusterIP": "10.96.0.92", "clusterIPs": ["10.96.0.92"], "ports": [
        {"name": "grpc", "port": 50051, "targetPort": "grpc", "appProtocol": "kubernetes.io/h2c"},
        {"name": "metrics", "port": 9090, "targetPort": 9090, "appProtocol": "http"}]}
    unlabelled = json.loads(json.dumps(SLICE))  # a slice written without the copied field
    unlabelled["metadata"] |= {"name": "greeter-a",
                               "labels": {"kubernetes.io/service-name": "greeter"}}
    unlabelled["endpoints"] = unlabelled["endpoints"][:1]
    unlabelled["ports"] = [{"name": "grpc", "port": 50052}, {"name": "metrics", "port": 9090}]
    copied = json.loads(json.dumps(unlabelled))
    copied["metadata"]["name"] = "greeter-b"
    copied["endpoints"][0]["addresses"] = ["10.244.3.7"]
    copied["ports"] = [{"name": "grpc", "port": 50051, "appProtocol": "grpc"}]
    (tmp_path / "s.json").write_text(json.dumps(
        {"kind": "List", "items": [SERVICE, grpc, unlabelled, copied]}))
    snap = load_snapshot([tmp_path / "s.json"])
    declared = dict(snap.services.select("port", "app_protocol").iter_rows())
    assert declared == {80: None, 50051: "kubernetes.io/h2c", 9090: "http"}
    assert snap.endpoints.filter(pl.col("slice") == "greeter-b")["app_protocol"].to_list() == \
        ["grpc"]
    assert h2c_sockets(snap) == {("10.96.0.92", 50051), ("10.244.2.5", 50052),
                                 ("10.244.3.7", 50051)}

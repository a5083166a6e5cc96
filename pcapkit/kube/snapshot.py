"""Reading `kubectl get pods,services,endpointslices,nodes -A -o json|yaml` into frames.

Accepted: a `List` (what kubectl prints for several kinds), a single object, a YAML stream of
several documents, one file, several files, or a directory of them. Objects of other kinds are
ignored; so are fields pcapkit does not use.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pcapkit.errors import SnapshotError

#: a container port a pod declares (spec.containers[].ports)
CONTAINER_PORT = pl.Struct({"name": pl.String, "port": pl.UInt16, "protocol": pl.String})
PODS = pl.Schema({"namespace": pl.String(), "name": pl.String(), "node": pl.String(),
                  "ip": pl.String(), "host_network": pl.Boolean(), "phase": pl.String(),
                  "deleting": pl.Boolean(), "ports": pl.List(CONTAINER_PORT)})
SERVICES = pl.Schema({"namespace": pl.String(), "name": pl.String(), "type": pl.String(),
                      "cluster_ip": pl.String(), "port": pl.UInt16(), "target_port": pl.String(),
                      "node_port": pl.UInt16(), "protocol": pl.String(), "port_name": pl.String(),
                      "external_traffic_policy": pl.String(),
                      "load_balancer_ips": pl.List(pl.String()), "headless": pl.Boolean(),
                      "external_name": pl.String(), "publish_not_ready": pl.Boolean(),
                      "app_protocol": pl.String()})
ENDPOINTS = pl.Schema({"namespace": pl.String, "service": pl.String, "slice": pl.String,
                       "ip": pl.String, "port": pl.UInt16, "port_name": pl.String,
                       "protocol": pl.String, "ready": pl.Boolean, "serving": pl.Boolean,
                       "terminating": pl.Boolean, "target_kind": pl.String,
                       "target_namespace": pl.String, "target_name": pl.String,
                       "node": pl.String, "app_protocol": pl.String})
NODES = pl.Schema({"name": pl.String, "ip": pl.String, "address_type": pl.String,
                   "pod_cidr": pl.String})

SNAPSHOT_SUFFIXES = {".json", ".yaml", ".yml"}


@dataclass(frozen=True)
class Snapshot:
    """The cluster objects pcapkit needs, one frame per kind (one row per address)."""

    pods: pl.DataFrame
    services: pl.DataFrame
    endpoints: pl.DataFrame
    nodes: pl.DataFrame
    sources: tuple[str, ...]


def load_snapshot(paths: Iterable[str | Path]) -> Snapshot:
    """Read every snapshot file (directories are read for *.json, *.yaml, *.yml)."""
    objects: list[dict[str, Any]] = []
    sources: list[str] = []
    for path in _files(paths):
        sources.append(str(path))
        objects.extend(_objects(path))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(str(obj.get("kind", "")), []).append(obj)
    return Snapshot(
        pods=pl.DataFrame(_pod_rows(by_kind.get("Pod", [])), schema=PODS),
        services=pl.DataFrame(_service_rows(by_kind.get("Service", [])), schema=SERVICES),
        endpoints=pl.DataFrame(_endpoint_rows(by_kind.get("EndpointSlice", [])),
                               schema=ENDPOINTS),
        nodes=pl.DataFrame(_node_rows(by_kind.get("Node", [])), schema=NODES),
        sources=tuple(sources),
    )


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix in SNAPSHOT_SUFFIXES)
            if not found:
                raise SnapshotError(p, "directory holds no .json/.yaml snapshot files")
            yield from found
        elif p.is_file():
            yield p
        else:
            raise SnapshotError(p, "no such file or directory")


def _objects(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SnapshotError(path, f"cannot read: {e}") from None
    docs: list[Any]
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        import yaml  # only YAML snapshots pay for it

        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            line = getattr(getattr(e, "problem_mark", None), "line", None)
            where = f" (line {line + 1})" if line is not None else ""
            raise SnapshotError(path, f"neither JSON nor YAML{where}") from None
    out: list[dict[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc:
            raise SnapshotError(path, "not a Kubernetes object or List (no 'kind')")
        out.extend(_flatten(doc))
    return out


def _flatten(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A List (kind `List` or `*List`) yields its items; any other object itself."""
    if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            if isinstance(item, dict):
                yield from _flatten(item)
    else:
        yield doc


def _meta(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or "default"), str(meta.get("name") or "")


def _pod_rows(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for pod in pods:
        ns, name = _meta(pod)
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        ips = [p.get("ip") for p in status.get("podIPs") or [] if p.get("ip")]
        if not ips and status.get("podIP"):
            ips = [status["podIP"]]
        # null when no container declares a port: declaring them is optional, so nothing can
        # be said against the pod's ports then
        ports = [{"name": port.get("name"), "port": port.get("containerPort"),
                  "protocol": port.get("protocol", "TCP")}
                 for c in spec.get("containers") or [] for port in c.get("ports") or []
                 if isinstance(port, dict) and port.get("containerPort")] or None
        for ip in ips:
            rows.append({
                "namespace": ns, "name": name, "node": spec.get("nodeName"), "ip": ip,
                "host_network": bool(spec.get("hostNetwork", False)),
                "phase": status.get("phase"),
                "deleting": (pod.get("metadata") or {}).get("deletionTimestamp") is not None,
                "ports": ports,
            })
    return rows


def _service_rows(services: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for svc in services:
        ns, name = _meta(svc)
        spec = svc.get("spec") or {}
        ips = [ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]
               if ip and ip != "None"]
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        balancers = [i["ip"] for i in ingress if isinstance(i, dict) and i.get("ip")]
        for ip in ips or [None]:
            for port in spec.get("ports") or [{}]:
                rows.append({
                    "namespace": ns, "name": name, "type": spec.get("type", "ClusterIP"),
                    "cluster_ip": ip, "port": port.get("port"),
                    "target_port": (str(port["targetPort"]) if "targetPort" in port
                                    else None),
                    "node_port": port.get("nodePort"), "protocol": port.get("protocol", "TCP"),
                    "port_name": port.get("name"),
                    "external_traffic_policy": spec.get("externalTrafficPolicy"),
                    "load_balancer_ips": balancers,
                    "headless": spec.get("clusterIP") == "None",
                    "external_name": spec.get("externalName"),
                    "publish_not_ready": bool(spec.get("publishNotReadyAddresses", False)),
                    "app_protocol": port.get("appProtocol"),
                })
    return rows


def _endpoint_rows(slices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for es in slices:
        ns, name = _meta(es)
        labels = (es.get("metadata") or {}).get("labels") or {}
        service = labels.get("kubernetes.io/service-name")
        ports = es.get("ports") or [{}]
        for ep in es.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            ref = ep.get("targetRef") or {}
            ready = cond.get("ready")
            for ip in ep.get("addresses") or []:
                for port in ports:
                    rows.append({
                        "namespace": ns, "service": service, "slice": name, "ip": ip,
                        "port": port.get("port"), "port_name": port.get("name"),
                        "protocol": port.get("protocol", "TCP"),
                        # The API's rule: a nil `ready` means ready, `serving` defaults to it.
                        "ready": True if ready is None else bool(ready),
                        "serving": bool(cond.get("serving", True if ready is None else ready)),
                        "terminating": bool(cond.get("terminating", False)),
                        "target_kind": ref.get("kind"),
                        "target_namespace": ref.get("namespace", ns),
                        "target_name": ref.get("name"), "node": ep.get("nodeName"),
                        "app_protocol": port.get("appProtocol"),
                    })
    return rows


def _node_rows(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for node in nodes:
        _, name = _meta(node)
        spec, status = node.get("spec") or {}, node.get("status") or {}
        cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
        for addr in status.get("addresses") or []:
            if addr.get("type") in ("InternalIP", "ExternalIP"):
                rows.append({"name": name, "ip": addr.get("address"),
                             "address_type": addr.get("type"),
                             "pod_cidr": ",".join(cidrs) or None})
    return rows

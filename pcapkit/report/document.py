"""The JSON document of the outside contract (`--format json`), built from an `Analysis`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from pcapkit.report.causes import causes
from pcapkit.report.groups import LAYER_ORDER, OTHER, target
from pcapkit.report.health import checked, sentence
from pcapkit.report.impact import impacts, unit
from pcapkit.report.summary import summary
from pcapkit.version import __version__

if TYPE_CHECKING:
    from pcapkit.api import Analysis

K8S_KEYS = {"k8s_client": "client", "k8s_service": "service", "k8s_endpoint": "endpoint",
            "k8s_endpoint_target": "endpoint_target", "k8s_endpoint_state": "endpoint_state",
            "k8s_endpoint_candidates": "endpoint_candidates", "k8s_server": "server",
            "k8s_reporter": "reporter", "k8s_node": "node", "k8s_node_port": "node_port",
            "k8s_external_client": "external_client", "k8s_external_name": "external_name",
            "k8s_endpoints_not_ready": "endpoints_not_ready",
            "k8s_publish_not_ready": "publish_not_ready", "k8s_port_mismatch": "port_mismatch"}


def endpoint_text(ip: str | None, port: int | None) -> str | None:
    """`ip:port` as the contract writes it (`[v6]:port`), or the bare address without a port."""
    if ip is None:
        return None
    if port is None:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


#: What `impacts` and `causes` read of a symptom's kind-specific fields: the outline of the
#: document keeps these only, and each whole symptom is made again as it is written.
READ_EXTRA = frozenset({"answered", "requests", "handshake_failed", "name", "steps"})


#: the findings columns `symptom` reads of a symptom that is not `whole`
CUT_COLUMNS = frozenset({"kind", "severity", "client_ip", "client_port", "server_ip",
                         "server_port", "protocol", "count", "first_ts_ns", "last_ts_ns",
                         "conns", "extra", *K8S_KEYS})


def symptom(row: dict[str, Any], paths: list[str], whole: bool = True) -> dict[str, Any]:
    """One findings row as a contract symptom; not `whole`, without its evidence, explanation
    and Wireshark fields, and of its kind-specific fields only `READ_EXTRA`."""
    out: dict[str, Any] = {
        "kind": row["kind"],
        "severity": row["severity"],
        "client": endpoint_text(row["client_ip"], row["client_port"]),
        "server": endpoint_text(row["server_ip"], row["server_port"]),
        "protocol": row["protocol"],
        "count": row["count"],
        "first_ts": row["first_ts_ns"] / 1e9 if row["first_ts_ns"] is not None else None,
        "last_ts": row["last_ts_ns"] / 1e9 if row["last_ts_ns"] is not None else None,
    }
    k8s = {key: value for col, key in K8S_KEYS.items() if (value := row.get(col)) is not None}
    if k8s.get("server") and k8s.get("service"):
        del k8s["server"]  # a ClusterIP is named as the Service
    if k8s:
        out["k8s"] = k8s
    out["conns"] = row.get("conns")  # what `pcapkit show --conn` takes
    if whole:
        _evidence(out, row, paths)
    for key, value in orjson.loads(row["extra"] or "{}").items():
        if whole or key in READ_EXTRA:
            out.setdefault(key, value)
    return {k: v for k, v in out.items() if v is not None}


def _evidence(out: dict[str, Any], row: dict[str, Any], paths: list[str]) -> None:
    """A symptom's evidence frames per capture, explanation and Wireshark fields."""
    frames: dict[int, list[int]] = {}
    for ev in row["evidence"] or []:
        frames.setdefault(ev["capture"], []).append(ev["frame"])
    out["evidence"] = [{"capture": paths[c], "frames": sorted(set(f))}
                       for c, f in sorted(frames.items())]
    out["explanation"] = row["explanation"]
    out["wireshark_filter"] = row.get("wireshark_filter")
    if row.get("wireshark_decode_as"):
        out["wireshark_decode_as"] = row["wireshark_decode_as"]
    if row.get("wireshark_opinion"):  # `--cross-check`
        out["wireshark_cross_check"] = {"agrees": row["wireshark_agrees"],
                                        "explanation": row["wireshark_opinion"]}


def document(analysis: Analysis) -> dict[str, Any]:
    """The whole JSON document."""
    doc = outline(analysis)
    doc["symptoms"] = list(symptoms(analysis, doc["symptoms"]))
    return doc


def outline(analysis: Analysis) -> dict[str, Any]:
    """The JSON document with each symptom cut to what its impact and causes are made of (not
    `whole`, with its `impact`): `symptoms` makes each whole again, for `write_json` to write
    one at a time (41k symptoms of 20M DNS-heavy packets, whole, took 450 MB)."""
    paths = [c.path for c in analysis.captures]
    captures = []
    for c in analysis.captures:
        d = asdict(c)
        d.pop("index")
        captures.append(d)
    findings: pl.DataFrame = analysis.symptoms
    # the columns a cut symptom reads: a finding's evidence (a list of frames) alone took
    # half the time of reading its row into Python
    read = findings.select(c for c in findings.columns if c in CUT_COLUMNS)
    cut = [symptom(r, paths, whole=False) for r in read.iter_rows(named=True)]
    tables = analysis.tables
    impact = impacts(cut, tables.connections, tables.dns)
    for s in cut:
        s["impact"] = impact[(target(s), unit(s))]
    found = causes(cut, impact, tables.connections, tables.dns)
    return {
        "pcapkit_version": __version__,
        "captures": captures,
        "summary": summary(analysis.counts, findings),
        "symptoms": cut,
        "causes": found,
        "layers": layers(found, checked(tables, analysis.snapshot, analysis.config)),
    }


def symptoms(analysis: Analysis, cut: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each symptom whole, in order, from the outline's `cut` ones."""
    paths = [c.path for c in analysis.captures]
    for row, s in zip(analysis.symptoms.iter_rows(named=True), cut, strict=True):
        yield symptom(row, paths) | {"impact": s["impact"]}


def layers(found: list[dict[str, Any]],
           figures: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """Each layer in the order engineers check them: what was checked, and its causes (by
    number in `causes`, worst first). A layer neither checked nor failing is left out."""
    out = []
    for layer in LAYER_ORDER:
        numbers = [i for i, c in enumerate(found, 1) if c["layer"] == layer]
        if layer == OTHER and not numbers:
            continue
        out.append({"layer": layer, "checked": figures.get(layer),
                    "summary": sentence(layer, figures.get(layer)), "causes": numbers})
    return out

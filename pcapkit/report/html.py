"""A self-contained HTML report (no external assets): the verdict, symptoms, evidence, captures."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from pcapkit.report.document import document
from pcapkit.report.text import verdict

if TYPE_CHECKING:
    from pcapkit.api import Analysis

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f23;max-width:80rem}
h1{font-size:1.4rem}
.verdict{font-size:1.2rem;font-weight:600;padding:.6rem 1rem;border-radius:6px}
.bad{background:#ffe3e3;color:#8a1010}.warn{background:#fff4d6;color:#6b4a00}
.good{background:#e3f7e7;color:#0d5c22}
table{border-collapse:collapse;margin:1rem 0;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th,td{font-size:.9rem}
th{background:#f5f6f8} code{font-size:.85rem}
.sev-error{color:#b00020;font-weight:600}.sev-warning{color:#8a6100}
"""


def _e(value: Any) -> str:
    return escape(str(value)) if value is not None else ""


def render_html(analysis: Analysis) -> str:
    doc = document(analysis)
    line, style = verdict(doc)
    cls = "bad" if "red" in style else "warn" if "yellow" in style else "good"
    rows = []
    for s in doc["symptoms"]:
        k8s = s.get("k8s", {})
        names = "<br>".join(_e(v) for v in (k8s.get("client"), k8s.get("service"),
                                             k8s.get("endpoint"), k8s.get("endpoint_state")) if v)
        evidence = "<br>".join(
            f"{_e(ev['capture'])}: {_e(', '.join(map(str, ev['frames'])))}" for ev in s["evidence"])
        rows.append(
            f"<tr><td class='sev-{_e(s['severity'])}'>{_e(s['severity'])}</td>"
            f"<td><code>{_e(s['kind'])}</code></td><td>{_e(s.get('client'))}</td>"
            f"<td>{_e(s.get('server'))}</td><td>{names}</td><td>{_e(s['count'])}</td>"
            f"<td>{_e(s['explanation'])}</td><td>{evidence}</td></tr>")
    caps = "".join(
        f"<tr><td><code>{_e(c['path'])}</code></td><td>{_e(c['vantage'] or c['vantage_kind'])}</td>"
        f"<td>{_e(c['format'])}</td><td>{_e(', '.join(c['link_types']))}</td>"
        f"<td>{_e(c['packets'])}</td><td>{_e('; '.join(c['warnings']))}</td></tr>"
        for c in doc["captures"])
    symptoms = (
        "<table id='symptoms'><tr><th>severity</th><th>kind</th><th>client</th><th>server</th>"
        "<th>Kubernetes</th><th>count</th><th>explanation</th><th>evidence frames</th></tr>"
        + "".join(rows) + "</table>") if rows else ""
    summ = doc["summary"]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>pcapkit report</title><style>{STYLE}</style></head><body>"
        f"<h1>pcapkit report</h1><p class='verdict {cls}' id='verdict'>{_e(line)}</p>"
        f"{symptoms}<h2>Captures</h2><table id='captures'><tr><th>capture</th><th>vantage</th>"
        f"<th>format</th><th>link types</th><th>packets</th><th>warnings</th></tr>{caps}</table>"
        f"<p>{summ['packets']} packets, {summ['flows']} flows.</p>"
        f"<footer><small>pcapkit {_e(doc['pcapkit_version'])}</small></footer></body></html>\n")

"""The HTML incident report: one self-contained file to attach to a ticket.

It is built from the JSON document (`document.py`) and the flow tables, and holds the verdict,
the symptoms by layer and by Service, plots as inline SVG (`plots.py`), the connection table
(sortable by a small inline script), the Kubernetes objects involved, the captures and how the
report was made. Nothing is fetched when it opens: a Content-Security-Policy allows no request
at all, and only this module's own style and script (by hash). Every string from a capture or
a snapshot passes through `_e`.

`fragment` (the verdict, the grouped symptoms and the timeline) is also what a notebook shows
(`Analysis._repr_html_`).
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from typing import TYPE_CHECKING, Any

import polars as pl

from pcapkit.detect.config import DEFAULT, changed_settings
from pcapkit.report import plots
from pcapkit.report.cluster import involved
from pcapkit.report.connections import COLUMNS, connection_table
from pcapkit.report.document import document
from pcapkit.report.groups import by_target, client_name
from pcapkit.report.impact import rank
from pcapkit.report.text import (
    FRAMES_SHOWN,
    cause_head,
    counts_line,
    explains_text,
    healthy,
    impact_text,
    verdict,
)

if TYPE_CHECKING:
    from pcapkit.api import Analysis

STYLE = """
.pcapkit{font-family:system-ui,sans-serif;color:#1b1f23;max-width:80rem}
body.pcapkit{margin:2rem auto;padding:0 1rem}
.pcapkit h1{font-size:1.4rem}.pcapkit h2{font-size:1.15rem;margin-top:2rem}
.pcapkit h3{font-size:1rem}
.pcapkit .verdict{font-size:1.15rem;font-weight:600;padding:.6rem 1rem;border-radius:6px}
.pcapkit .bad{background:#ffe3e3;color:#8a1010}.pcapkit .warn{background:#fff4d6;color:#6b4a00}
.pcapkit .good{background:#e3f7e7;color:#0d5c22}
.pcapkit table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}
.pcapkit th,.pcapkit td{border-bottom:1px solid #ddd;padding:.3rem .45rem;text-align:left;
vertical-align:top;font-size:.85rem}
.pcapkit th{background:#f5f6f8}.pcapkit code{font-size:.8rem}
.pcapkit table.sortable th{cursor:pointer}
.pcapkit th[aria-sort=ascending]::after{content:" ▲"}
.pcapkit th[aria-sort=descending]::after{content:" ▼"}
.pcapkit .sev-error{color:#b00020;font-weight:600}.pcapkit .sev-warning{color:#8a6100}
.pcapkit .note{color:#555;font-size:.85rem}
.pcapkit svg.plot{display:block;margin:.5rem 0;max-width:100%;height:auto}
.pcapkit svg.plot text{font-size:11px;fill:#333}
.pcapkit svg.plot .plot-title{font-size:13px;font-weight:600}
.pcapkit svg.plot .axis{stroke:#777}.pcapkit svg.plot .grid{stroke:#e5e7ea}
"""

#: sorts a `table.sortable` by the clicked column: numbers (a cell's `data-v`) as numbers,
#: empty cells last
SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      var body = table.tBodies[0];
      var key = function (row) {
        var cell = row.cells[col];
        return cell.hasAttribute("data-v") ? parseFloat(cell.getAttribute("data-v"))
                                           : cell.textContent;
      };
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        return dir * (typeof x === "number" ? x - y : String(x).localeCompare(String(y)));
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

#: connections listed in the table; the rest are counted (the JSON has the symptoms, the
#: Parquet store of `pcapkit convert` every connection)
MAX_CONNECTIONS = 2000


def _e(value: Any) -> str:
    return escape(str(value)) if value is not None else ""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CSP = (f"default-src 'none'; style-src {_csp_hash(STYLE)}; script-src {_csp_hash(SCRIPT)}; "
       "img-src data:")


def _table(ident: str, headers: list[str], rows: list[str], sortable: bool = False) -> str:
    cls = " class='sortable'" if sortable else ""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    # a row a line: the golden baseline diffs by row
    return (f"<table id='{ident}'{cls}><thead><tr>{head}</tr></thead><tbody>\n"
            + "\n".join(rows) + "\n</tbody></table>\n")


def _cell(value: Any) -> str:
    """A table cell; numbers carry `data-v` for the sorting script."""
    if value is None:
        return "<td></td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, int | float):
        return f"<td data-v='{value}'>{value:g}</td>" if isinstance(value, float) \
            else f"<td data-v='{value}'>{value}</td>"
    return f"<td>{_e(value)}</td>"


def _verdict(doc: dict[str, Any]) -> str:
    line, style = verdict(doc)
    cls = "bad" if "red" in style else "warn" if "yellow" in style else "good"
    summ = doc["summary"]
    return (f"<p class='verdict {cls}' id='verdict'>{_e(line)}</p>"
            f"<p class='note'>{_e(counts_line(summ))}; {len(doc['symptoms'])} symptoms of "
            f"{len(doc['causes'])} causes in {len(doc['captures'])} captures.</p>")


def _where(s: dict[str, Any]) -> str:
    died = s.get("died_at")
    if not died:
        return ""
    node = f"node {died['node']}" if died.get("node") else "unplaced"
    leg = "cache's upstream leg, " if died.get("leg") == "upstream" else ""
    return (f"{_e(leg + node)}: {_e(died.get('direction'))} after {_e(died.get('after'))}, "
            f"before {_e(died.get('before'))}")


def _symptom_row(i: int, s: dict[str, Any]) -> str:
    k8s = s.get("k8s", {})
    names = "<br>".join(_e(v) for v in (
        k8s.get("client"), k8s.get("service") and f"svc {k8s['service']}",
        k8s.get("endpoint") and f"endpoint {k8s['endpoint']}"
        + (f" ({k8s['endpoint_state']})" if k8s.get("endpoint_state") else "")) if v)
    evidence = "<br>".join(
        f"{_e(ev['capture'])}: {_e(', '.join(map(str, ev['frames'][:FRAMES_SHOWN])))}"
        + (f" … +{len(ev['frames']) - FRAMES_SHOWN}" if len(ev["frames"]) > FRAMES_SHOWN else "")
        for ev in s["evidence"])
    return (f"<tr id='s-{i}'><td>{i}</td><td class='sev-{_e(s['severity'])}'>"
            f"{_e(s['severity'])}</td><td><code>{_e(s['kind'])}</code></td>"
            f"<td>{_e(s.get('client'))}</td><td>{_e(s.get('server'))}</td><td>{names}</td>"
            f"<td>{_e(s['count'])}</td><td>{_e(s['explanation'])}</td><td>{_where(s)}</td>"
            f"<td>{evidence}</td></tr>")


SYMPTOM_HEADERS = ["#", "severity", "kind", "client", "server", "Kubernetes", "count",
                   "explanation", "where it died", "evidence frames"]


def _by_layer(doc: dict[str, Any]) -> str:
    """Each layer with what it checked, its causes worst first, each with its symptoms."""
    parts = []
    for layer in doc["layers"]:
        ident = "layer-" + layer["layer"].replace(" ", "-").lower()
        health = " Healthy." if healthy(layer) else ""
        parts.append(f"<h3>{_e(layer['layer'])}</h3><p class='note' id='{ident}-checked'>"
                     f"Checked: {_e(layer['summary'])}.{health}</p>")
        for c in layer["causes"]:
            cause = doc["causes"][c - 1]
            explained = explains_text(cause)
            parts.append(f"<h4 id='cause-{c}' class='sev-{_e(cause['severity'])}'>"
                         f"{_e(cause_head(c, cause))}</h4>"
                         + (f"<p>{_e(explained)}</p>" if explained else "")
                         + _table(f"{ident}-cause-{c}", SYMPTOM_HEADERS,
                                  [_symptom_row(i, doc["symptoms"][i - 1])
                                   for i in cause["symptoms"]]))
    return "<div id='by-layer'>" + "".join(parts) + "</div>"


def _by_service(doc: dict[str, Any]) -> str:
    """Services (or servers) worst impact first: failed attempts, the failed share, the affected."""
    if not doc["symptoms"]:
        return ""
    impact = {name: min((s["impact"] for _, s in numbered), key=rank)
              for name, numbered in by_target(doc["symptoms"])}
    rows = []
    for name, numbered in sorted(by_target(doc["symptoms"]),
                                 key=lambda item: rank(impact[item[0]])):
        kinds: dict[str, int] = {}
        for _, s in numbered:
            kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
        errors = sum(1 for _, s in numbered if s["severity"] == "error")
        clients = sorted({client_name(s) for _, s in numbered})
        links = ", ".join(f"<a href='#s-{i}'>#{i}</a>" for i, _ in numbered)
        rows.append(f"<tr><td>{_e(name)}</td><td>{_e(impact_text(impact[name]))}</td>"
                    f"<td>{errors}</td><td>{len(numbered) - errors}</td>"
                    f"<td>{_e(', '.join(f'{k} ×{n}' for k, n in kinds.items()))}</td>"
                    f"<td>{'<br>'.join(_e(c) for c in clients)}</td><td>{links}</td></tr>")
    return _table("by-service", ["Service or server", "impact", "errors", "other", "kinds",
                                 "clients", "symptoms"], rows)


def _plot(svg: str | None, what: str) -> str:
    return svg if svg is not None else f"<p class='note'>No {_e(what)} to plot.</p>"


def fragment(analysis: Analysis, doc: dict[str, Any] | None = None) -> str:
    """The verdict, the symptoms by Service, their timeline and the symptoms by layer, with
    the style they need: the top of the report, and what a notebook shows."""
    doc = doc if doc is not None else document(analysis)
    return (f"<style>{STYLE}</style><div class='pcapkit'>{_verdict(doc)}"
            f"\n<h2>Symptoms by Service</h2>{_by_service(doc)}"
            f"\n<h2>Timeline</h2>{_plot(plots.symptom_timeline(doc), 'symptom')}"
            f"<h2 id='symptoms'>Causes and symptoms by layer</h2>{_by_layer(doc)}</div>")


def _connections(analysis: Analysis, t0: float) -> str:
    table = connection_table(analysis.tables, analysis.snapshot, t0)
    if table.is_empty():
        return "<p class='note'>No TCP connections.</p>"
    shown = table.head(MAX_CONNECTIONS)
    rows = ["<tr>" + "".join(_cell(v) for v in r) + "</tr>" for r in shown.iter_rows()]
    note = (f"<p class='note'>{table.height} connections; the first {MAX_CONNECTIONS} by start "
            "time are listed.</p>" if table.height > shown.height else "")
    return (note + "<p class='note'>Click a header to sort. Counts are those of the view "
            "(interface of a capture) that saw the most packets of the connection.</p>"
            + _table("connections", [h for _, h in COLUMNS], rows, sortable=True))


def _frame_rows(frame: pl.DataFrame) -> list[str]:
    return ["<tr>" + "".join(_cell(v) for v in r) + "</tr>" for r in frame.iter_rows()]


def _cluster(analysis: Analysis, doc: dict[str, Any]) -> str:
    snap = analysis.snapshot
    if snap is None:
        return "<p class='note'>No snapshot was given (<code>--k8s</code>).</p>"
    tables = analysis.tables
    dialled = set(tables.connections["server_ip"].to_list()) | set(tables.dns["server_ip"]
                                                                     .to_list())
    found = involved(doc, snap, dialled)
    return (f"<p class='note'>From {_e(', '.join(snap.sources))}.</p>"
            "<h3>Services</h3>" + _table("k8s-services", ["Service", "type", "ClusterIP",
                                                          "ports"], _frame_rows(found.services))
            + "<h3>Endpoints</h3>" + _table("k8s-endpoints", ["Service", "endpoint", "state",
                                                              "target", "node"],
                                            _frame_rows(found.endpoints))
            + "<h3>Pods</h3>" + _table("k8s-pods", ["pod", "IP", "node", "phase", "deleting"],
                                       _frame_rows(found.pods)))


def _captures(doc: dict[str, Any]) -> str:
    rows = []
    for c in doc["captures"]:
        span = c["last_ts"] - c["first_ts"] if c["first_ts"] is not None else None
        rows.append("<tr>" + "".join(_cell(v) for v in (
            c["path"], c["vantage"] or c["vantage_kind"], c["vantage_kind"], c["format"],
            ", ".join(c["link_types"]), ", ".join(c["interfaces"]), c["packets"],
            round(span, 6) if span is not None else None, c["clock_offset_s"],
            "; ".join(c["warnings"]))) + "</tr>")
    return _table("captures", ["capture", "vantage", "vantage kind", "format", "link types",
                               "interfaces", "packets", "span (s)", "clock_offset_s",
                               "warnings"], rows)


def _provenance(analysis: Analysis, doc: dict[str, Any]) -> str:
    changed = changed_settings(analysis.config)
    settings = ("".join(f"<li><code>{_e(k)}={_e(v)}</code> (default "
                        f"<code>{_e(getattr(DEFAULT, k))}</code>)</li>"
                        for k, v in changed.items())
                if changed else "<li>none: every threshold at its default</li>")
    command = (f"<code id='command'>{_e(analysis.command)}</code>" if analysis.command
               else "the Python API (<code>pcapkit.analyze</code>)")
    return (f"<ul id='provenance'><li>pcapkit <span id='version'>"
            f"{_e(doc['pcapkit_version'])}</span></li><li>made by {command}</li>"
            f"<li>thresholds changed with <code>--set</code>:<ul>{settings}</ul></li></ul>")


def _dns(dns: pl.DataFrame, doc: dict[str, Any]) -> str:
    if dns.is_empty():
        return "<p class='note'>No DNS lookups.</p>"
    return f"{plots.dns_latency(dns, doc)}{plots.nxdomain_rate(dns, doc)}"


def _retransmissions(analysis: Analysis) -> str:
    if analysis.tables.packets.is_empty() and not analysis.connections.is_empty():
        return ("<p class='note'>A streamed analysis keeps no packet table: see the "
                "<code>retransmission</code> symptoms.</p>")
    return _plot(plots.retransmission_share(analysis.tables), "TCP segment")


def render_html(analysis: Analysis) -> str:
    doc = document(analysis)
    t0 = plots.start_of(doc) or 0.0
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>pcapkit incident report</title></head>"
        "<body class='pcapkit'><h1>pcapkit incident report</h1>"
        f"{fragment(analysis, doc)}<div class='pcapkit'>"
        f"\n<h2>DNS</h2>{_dns(analysis.tables.dns, doc)}"
        f"\n<h2>Retransmissions</h2>{_retransmissions(analysis)}"
        f"\n<h2>Connections</h2>{_connections(analysis, t0)}"
        f"\n<h2>Kubernetes context</h2>{_cluster(analysis, doc)}"
        f"\n<h2>Captures</h2>{_captures(doc)}"
        f"\n<h2>How this report was made</h2>{_provenance(analysis, doc)}</div>"
        f"<script>{SCRIPT}</script></body></html>\n")

"""The Markdown report, for incident tickets: the verdict, a symptom table, then details."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pcapkit.report.document import document
from pcapkit.report.text import FRAMES_SHOWN, verdict

if TYPE_CHECKING:
    from pcapkit.api import Analysis


def _cell(value: Any) -> str:
    return str(value if value is not None else "").replace("|", "\\|")


def render_markdown(analysis: Analysis) -> str:
    doc = document(analysis)
    line, _ = verdict(doc)
    out = ["# pcapkit report", "", f"**{line}**", ""]
    if doc["symptoms"]:
        out += ["| severity | kind | client | server | Kubernetes | count | explanation |",
                "|---|---|---|---|---|---|---|"]
        for s in doc["symptoms"]:
            k8s = s.get("k8s", {})
            names = " · ".join(_cell(v) for v in (k8s.get("client"), k8s.get("service"),
                                                   k8s.get("endpoint")) if v)
            out.append(f"| {s['severity']} | `{s['kind']}` | {_cell(s.get('client'))} | "
                       f"{_cell(s.get('server'))} | {names} | {s['count']} | "
                       f"{_cell(s['explanation'])} |")
        out += ["", "## Evidence", ""]
        for i, s in enumerate(doc["symptoms"], 1):
            for ev in s["evidence"]:
                frames = ", ".join(str(f) for f in ev["frames"][:FRAMES_SHOWN])
                more = " …" if len(ev["frames"]) > FRAMES_SHOWN else ""
                out.append(f"{i}. `{s['kind']}`: frames {frames}{more} in `{ev['capture']}`")
        out.append("")
    out += ["## Captures", "", "| capture | vantage | format | link types | packets | warnings |",
            "|---|---|---|---|---|---|"]
    for c in doc["captures"]:
        out.append(f"| `{c['path']}` | {_cell(c['vantage'] or c['vantage_kind'])} | "
                   f"{c['format']} | {', '.join(c['link_types'])} | {c['packets']} | "
                   f"{_cell('; '.join(c['warnings']))} |")
    summ = doc["summary"]
    out += ["", f"{summ['packets']} packets, {summ['flows']} flows."]
    return "\n".join(out) + "\n"

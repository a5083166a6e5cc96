"""The Markdown report, for incident tickets: the verdict, a symptom table, then details.

Every string that came from a capture, a snapshot or a file name goes through `escape.md`: a
DNS name like `[x](http://evil)` or `<img src=…>` shows as those characters, never as a link or
HTML. Only pcapkit's own syntax (Wireshark filters, decode-as flags) is set as code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pcapkit.report.document import document
from pcapkit.report.escape import md, md_code
from pcapkit.report.text import (
    FRAMES_SHOWN,
    cause_head,
    counts_line,
    explains_text,
    healthy,
    verdict,
)

if TYPE_CHECKING:
    from pcapkit.api import Analysis


def render_markdown(analysis: Analysis) -> str:
    doc = document(analysis)
    line, _ = verdict(doc)
    out = ["# pcapkit report", "", f"**{md(line)}**", ""]
    for layer in doc["layers"]:
        out += [f"## {md(layer['layer'])}", "",
                f"Checked: {md(layer['summary'])}" + (". Healthy." if healthy(layer) else ""),
                ""]
        for c in layer["causes"]:
            cause = doc["causes"][c - 1]
            out += [f"### {md(cause_head(c, cause))}", ""]
            if explains_text(cause):
                out += [md(explains_text(cause)), ""]
            out += ["| # | severity | kind | client | server | Kubernetes | count | explanation |",
                    "|---|---|---|---|---|---|---|---|"]
            out += [_row(i, doc["symptoms"][i - 1]) for i in cause["symptoms"]]
            out.append("")
    if doc["symptoms"]:
        out += ["## Evidence", ""]
        for i, s in enumerate(doc["symptoms"], 1):
            out.append(f"{i}. {md(s['kind'])}:")
            for ev in s["evidence"]:
                frames = ", ".join(str(f) for f in ev["frames"][:FRAMES_SHOWN])
                more = " …" if len(ev["frames"]) > FRAMES_SHOWN else ""
                out.append(f"   - frames {frames}{more} in {md(ev['capture'])}")
            if s.get("wireshark_filter"):
                out.append(f"   - Wireshark: {md_code(s['wireshark_filter'])}"
                           + _decode_as(s))
            if s.get("wireshark_cross_check"):
                out.append(f"   - Cross-check: {md(s['wireshark_cross_check']['explanation'])}")
        out.append("")
    out += ["## Captures", "", "| capture | vantage | format | link types | packets | warnings |",
            "|---|---|---|---|---|---|"]
    for c in doc["captures"]:
        out.append(f"| {md(c['path'])} | {md(c['vantage'] or c['vantage_kind'])} | "
                   f"{md(c['format'])} | {md(', '.join(c['link_types']))} | {c['packets']} | "
                   f"{md('; '.join(c['warnings']))} |")
    summ = doc["summary"]
    out += ["", md(counts_line(summ)) + "."]
    return "\n".join(out) + "\n"


def _row(i: int, s: dict[str, Any]) -> str:
    k8s = s.get("k8s", {})
    names = " · ".join(md(v) for v in (k8s.get("client"), k8s.get("service"),
                                        k8s.get("endpoint")) if v)
    return (f"| {i} | {md(s['severity'])} | {md(s['kind'])} | {md(s.get('client'))} "
            f"| {md(s.get('server'))} | {names} | {s['count']} | {md(s['explanation'])} |")


def _decode_as(s: dict[str, Any]) -> str:
    flags = s.get("wireshark_decode_as") or []
    return (" with " + " ".join(md_code(f"-d {d}") for d in flags)) if flags else ""

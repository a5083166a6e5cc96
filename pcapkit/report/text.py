"""The terminal report: a verdict first, then the worst symptoms with their evidence, then what
was read. One renderer serves the terminal and Jupyter's plain-text view.

Strings from a capture or a snapshot are printed as text, never as rich markup, with control
characters (ANSI escapes among them) shown as `\\xNN` (`escape.printable`)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pcapkit.report.document import document
from pcapkit.report.escape import printable

if TYPE_CHECKING:
    from pcapkit.api import Analysis

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
#: symptoms shown in full; the rest are counted
SHOWN = 20
#: evidence frames listed per capture in the terminal (the JSON has them all)
FRAMES_SHOWN = 12


def verdict(doc: dict[str, Any]) -> tuple[str, str]:
    """One line saying what went wrong, and its style: the worst cause by impact (`causes`)."""
    symptoms = doc["symptoms"]
    packets = doc["summary"]["packets"]
    if not symptoms:
        return f"No symptoms found in {packets} packets.", "bold green"
    errors = any(s["severity"] == "error" for s in symptoms)
    worst = doc["causes"][0]
    kinds = ", ".join(f"{n} {k}" for k, n in doc["summary"]["symptoms"].items())
    head = "PROBLEMS FOUND" if errors else "WARNINGS"
    return (f"{head}: {kinds}. Worst: {', '.join(worst['kinds'])} at {worst['target']} "
            f"({impact_text(worst['impact'])})."), ("bold red" if errors else "bold yellow")


def healthy(layer: dict[str, Any]) -> bool:
    """A layer that was checked and has no cause."""
    return layer["checked"] is not None and not layer["causes"]


def impact_text(impact: dict[str, Any]) -> str:
    """`3 of 3 connections failed`, with the unit the impact was counted in; `2 of 3 connections
    degraded` when none failed (they worked, through retransmissions or a zero window)."""
    count, word = impact["failed"], "failed"
    if not count and impact["affected"]:
        count, word = impact["affected"], "degraded"
    attempts = impact["attempts"]
    share = f", {count / attempts:.0%}" if attempts else ""
    return f"{count} of {attempts} {impact['unit']} {word}{share}"


def cause_head(number: int, cause: dict[str, Any]) -> str:
    """A cause's heading: its number, title, the kinds of its symptoms and its impact."""
    kinds = ", ".join(f"{k} ×{n}" for k, n in cause["kinds"].items())
    return (f"Cause {number} [{cause['severity']}] {cause['title']}: {kinds}; "
            f"{impact_text(cause['impact'])}")


def explains_text(cause: dict[str, Any]) -> str | None:
    """What a lower-layer cause explains above it, in words."""
    explained = cause.get("explains")
    if not explained:
        return None
    parts = []
    if explained["symptoms"]:
        parts.append("the connection symptoms after it: "
                     + ", ".join(f"#{n}" for n in explained["symptoms"]))
    if explained["missing_connections"]:
        parts.append(f"{explained['missing_connections']} failed lookup(s) after which the "
                     "client opened no connection at all")
    return "Explains " + "; and ".join(parts) + "."


#: width for output that is not a terminal (a file, a pipe, a ticket): lines are not wrapped
FILE_WIDTH = 160


def render_text(analysis: Analysis, width: int | None = None, color: bool = False) -> str:
    """The report; `width` is the terminal's, or None for a file (long lines left unwrapped)."""
    doc = _printable(document(analysis))
    buf = io.StringIO()
    console = Console(file=buf, width=width or FILE_WIDTH, force_terminal=color,
                      no_color=not color, highlight=False, markup=False, emoji=False,
                      soft_wrap=width is None)
    line, style = verdict(doc)
    console.print(Text(line, style=style))
    console.print()
    shown = 0
    for layer in doc["layers"]:
        console.print(Text(f"{layer['layer']}: {layer['summary']}"
                           + (" — healthy" if healthy(layer) else ""), style="bold"))
        for c in layer["causes"]:
            cause = doc["causes"][c - 1]
            console.print(Text(f"  {cause_head(c, cause)}",
                               style=SEVERITY_STYLE.get(cause["severity"], "")))
            if explains_text(cause):
                console.print(f"  {explains_text(cause)}")
            for number in cause["symptoms"]:
                if shown < SHOWN:
                    _symptom(console, number, doc["symptoms"][number - 1])
                shown += 1
        console.print()
    if shown > SHOWN:
        console.print(f"… and {shown - SHOWN} more symptoms (use --format json for all)")
        console.print()
    _captures(console, doc)
    return buf.getvalue()


def _printable(value: Any) -> Any:
    """The document with every string `printable`."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def _symptom(console: Console, number: int, s: dict[str, Any]) -> None:
    k8s = s.get("k8s", {})
    head = Text(f"    #{number} ")  # what `pcapkit extract --finding` and `show` take
    head.append(f"[{s['severity']}] ", style=SEVERITY_STYLE.get(s["severity"], ""))
    head.append(f"{s['kind']} ", style="bold")
    head.append(f"{s.get('client', '?')} → {s.get('server', '?')}")
    if k8s:
        names = [k8s.get("client"), k8s.get("service") and f"svc {k8s['service']}",
                 k8s.get("endpoint") and f"endpoint {k8s['endpoint']}"
                 + (f" ({k8s['endpoint_state']})" if k8s.get("endpoint_state") else "")]
        head.append("  " + " · ".join(n for n in names if n), style="dim")
    console.print(head)
    console.print(f"      {s['explanation']}")
    for ev in s.get("evidence", []):
        frames = ev["frames"]
        more = f" … +{len(frames) - FRAMES_SHOWN}" if len(frames) > FRAMES_SHOWN else ""
        shown = ", ".join(str(f) for f in frames[:FRAMES_SHOWN])
        console.print(f"      frames {shown}{more} in {ev['capture']}", style="dim")
    if s.get("wireshark_filter"):
        console.print(f"      wireshark: {s['wireshark_filter']}{_decode_as(s)}",
                      style="dim")
    if s.get("wireshark_cross_check"):
        console.print(f"      cross-check: {s['wireshark_cross_check']['explanation']}")


def _decode_as(s: dict[str, Any]) -> str:
    """The decode-as flags a symptom's filter needs, as tshark takes them."""
    flags = s.get("wireshark_decode_as") or []
    return "  (" + " ".join(f"-d {d}" for d in flags) + ")" if flags else ""


def counts_line(summ: dict[str, Any]) -> str:
    """`46 packets in 11 flows; packets by protocol: icmp 10 packets, …`: every number with
    its unit (the bracketed counts are packets, and `dns` is a part of `udp`/`tcp`)."""
    protos = ", ".join(f"{k} {v} packets" for k, v in summ["protocols"].items())
    return (f"{summ['packets']} packets in {summ['flows']} flows (distinct 5-tuples)"
            + (f"; packets by protocol: {protos}" if protos else ""))


def _captures(console: Console, doc: dict[str, Any]) -> None:
    table = Table(title=None, show_edge=False, pad_edge=False, box=None)
    for col in ("capture", "vantage", "format", "link types", "packets", "span"):
        table.add_column(col)
    for c in doc["captures"]:
        span = (f"{c['last_ts'] - c['first_ts']:.3f} s" if c["first_ts"] is not None else "-")
        table.add_row(c["path"], c["vantage"] or c["vantage_kind"], c["format"],
                      ",".join(c["link_types"]), str(c["packets"]), span)
    console.print(table)
    summ = doc["summary"]
    console.print(counts_line(summ))
    if summ["tunnels"]:
        console.print("encapsulated packets: " + ", ".join(
            f"{k} {v} packets" for k, v in summ["tunnels"].items()))
    for c in doc["captures"]:
        if len(c["interfaces"]) > 1:
            console.print(f"{c['path']}: interfaces {', '.join(c['interfaces'])}")
        for w in c["warnings"]:
            console.print(f"warning: {c['path']}: {w}", style="yellow")

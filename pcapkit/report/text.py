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
    """One line saying what went wrong, and its style."""
    symptoms = doc["symptoms"]
    packets = doc["summary"]["packets"]
    if not symptoms:
        return f"No symptoms found in {packets} packets.", "bold green"
    errors = [s for s in symptoms if s["severity"] == "error"]
    worst = (errors or symptoms)[0]
    kinds = ", ".join(f"{n} {k}" for k, n in doc["summary"]["symptoms"].items())
    where = worst.get("k8s", {}).get("service") or worst.get("server") or worst.get("client")
    head = "PROBLEMS FOUND" if errors else "WARNINGS"
    return f"{head}: {kinds}. Worst: {worst['kind']} at {where}.", (
        "bold red" if errors else "bold yellow")


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
    for number, s in enumerate(doc["symptoms"][:SHOWN], 1):
        _symptom(console, number, s)
    if len(doc["symptoms"]) > SHOWN:
        console.print(f"… and {len(doc['symptoms']) - SHOWN} more (use --format json for all)")
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
    head = Text(f"#{number} ")  # what `pcapkit extract --finding` and `show` take
    head.append(f"[{s['severity']}] ", style=SEVERITY_STYLE.get(s["severity"], ""))
    head.append(f"{s['kind']} ", style="bold")
    head.append(f"{s.get('client', '?')} → {s.get('server', '?')}")
    if k8s:
        names = [k8s.get("client"), k8s.get("service") and f"svc {k8s['service']}",
                 k8s.get("endpoint") and f"endpoint {k8s['endpoint']}"
                 + (f" ({k8s['endpoint_state']})" if k8s.get("endpoint_state") else "")]
        head.append("  " + " · ".join(n for n in names if n), style="dim")
    console.print(head)
    console.print(f"    {s['explanation']}")
    for ev in s.get("evidence", []):
        frames = ev["frames"]
        more = f" … +{len(frames) - FRAMES_SHOWN}" if len(frames) > FRAMES_SHOWN else ""
        shown = ", ".join(str(f) for f in frames[:FRAMES_SHOWN])
        console.print(f"    frames {shown}{more} in {ev['capture']}", style="dim")
    if s.get("wireshark_filter"):
        console.print(f"    wireshark: {s['wireshark_filter']}{_decode_as(s)}", style="dim")
    if s.get("wireshark_cross_check"):
        console.print(f"    cross-check: {s['wireshark_cross_check']['explanation']}")
    console.print()


def _decode_as(s: dict[str, Any]) -> str:
    """The decode-as flags a symptom's filter needs, as tshark takes them."""
    flags = s.get("wireshark_decode_as") or []
    return "  (" + " ".join(f"-d {d}" for d in flags) + ")" if flags else ""


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
    protos = ", ".join(f"{k} {v}" for k, v in summ["protocols"].items())
    console.print(f"{summ['packets']} packets, {summ['flows']} flows ({protos})")
    if summ["tunnels"]:
        console.print("tunnels: " + ", ".join(f"{k} {v}" for k, v in summ["tunnels"].items()))
    for c in doc["captures"]:
        if len(c["interfaces"]) > 1:
            console.print(f"{c['path']}: interfaces {', '.join(c['interfaces'])}")
        for w in c["warnings"]:
            console.print(f"warning: {c['path']}: {w}", style="yellow")

"""Stage 6, report: the findings and summary as text, JSON, Markdown or HTML."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from pcapkit.report.document import document, outline, symptoms
from pcapkit.report.html import render_html
from pcapkit.report.jsontext import indented
from pcapkit.report.markdown import render_markdown
from pcapkit.report.text import render_text

if TYPE_CHECKING:
    from pcapkit.api import Analysis


def write_json(analysis: Analysis, out: TextIO) -> None:
    """The JSON document, written to `out` as it is encoded, its symptoms one at a time
    (`document.outline`): `json.dumps` of a document of tens of thousands of symptoms would
    hold every one of its millions of tokens in a list before joining them (~5x the text's
    size), and the symptoms whole as many Python objects again."""
    doc = outline(analysis)
    out.write("{")
    for i, (key, value) in enumerate(doc.items()):
        out.write(f'{"," if i else ""}\n  {json.dumps(key)}: ')
        if key != "symptoms":
            out.write(indented(value, "  "))
            continue
        if not value:
            out.write("[]")
            continue
        for j, s in enumerate(symptoms(analysis, value)):
            out.write("[\n    " if j == 0 else ",\n    ")
            out.write(indented(s, "    "))
        out.write("\n  ]")
    out.write("\n}\n")


def render_json(analysis: Analysis) -> str:
    out = io.StringIO()
    write_json(analysis, out)
    return out.getvalue()


RENDERERS: dict[str, Callable[[Analysis], str]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
}

__all__ = ["RENDERERS", "document", "render_html", "render_json", "render_markdown",
           "render_text", "write_json"]

"""Stage 6, report: the findings and summary as text, JSON, Markdown or HTML."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING, TextIO

from pcapkit.report.document import document, outline, symptoms
from pcapkit.report.html import render_html
from pcapkit.report.markdown import render_markdown
from pcapkit.report.text import render_text

if TYPE_CHECKING:
    from pcapkit.api import Analysis


#: JSON tokens joined per write: few writes, and no list of every token of the document
WRITE_TOKENS = 4096


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
            _write_value(value, 1, out)
            continue
        if not value:
            out.write("[]")
            continue
        for j, s in enumerate(symptoms(analysis, value)):
            out.write("[\n    " if j == 0 else ",\n    ")
            _write_value(s, 2, out)
        out.write("\n  ]")
    out.write("\n}\n")


def _write_value(value: object, level: int, out: TextIO) -> None:
    """`value` as `json.dumps(indent=2)` writes it `level` deep in a document: every line but
    the first indented by the level (a JSON string holds no line break of its own)."""
    tokens = json.JSONEncoder(indent=2).iterencode(value)
    while batch := list(islice(tokens, WRITE_TOKENS)):
        out.write("".join(batch).replace("\n", "\n" + "  " * level))


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

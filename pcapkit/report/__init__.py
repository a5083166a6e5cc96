"""Stage 6, report: the findings and summary as text, JSON, Markdown or HTML."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING, TextIO

from pcapkit.report.document import document
from pcapkit.report.html import render_html
from pcapkit.report.markdown import render_markdown
from pcapkit.report.text import render_text

if TYPE_CHECKING:
    from pcapkit.api import Analysis


#: JSON tokens joined per write: few writes, and no list of every token of the document
WRITE_TOKENS = 4096


def write_json(analysis: Analysis, out: TextIO) -> None:
    """The JSON document, written to `out` as it is encoded: `json.dumps` of a document of
    tens of thousands of symptoms would hold every one of its millions of tokens in a list
    before joining them (~5x the text's size)."""
    tokens = json.JSONEncoder(indent=2).iterencode(document(analysis))
    while batch := list(islice(tokens, WRITE_TOKENS)):
        out.write("".join(batch))
    out.write("\n")


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

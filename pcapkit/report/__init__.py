"""Stage 6, report: the findings and summary as text, JSON, Markdown or HTML."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from pcapkit.report.document import document
from pcapkit.report.html import render_html
from pcapkit.report.markdown import render_markdown
from pcapkit.report.text import render_text

if TYPE_CHECKING:
    from pcapkit.api import Analysis


def render_json(analysis: Analysis) -> str:
    return json.dumps(document(analysis), indent=2) + "\n"


RENDERERS: dict[str, Callable[[Analysis], str]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
    "html": render_html,
}

__all__ = ["RENDERERS", "document", "render_html", "render_json", "render_markdown",
           "render_text"]

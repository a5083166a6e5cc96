"""Strings from a capture or a snapshot (DNS names, interface names, comments, object names,
file names) are the attacker's: they are made inert before a report shows them.

- Terminal: control characters (C0, DEL, C1, so every ANSI escape sequence, which starts with
  ESC) and the Unicode bidirectional overrides that reorder what a reader sees are replaced by
  their `\\xNN` / `\\uNNNN` escapes; the rest is printed as text, never as rich markup.
- Markdown: the same, then every character Markdown or its HTML gives a meaning to. `&`, `<`,
  `>` become entities, which every renderer (HTML allowed or not) shows as the character;
  the others are backslash-escaped, which CommonMark and GitHub honour for any ASCII
  punctuation; `|` is escaped everywhere, so a string cannot end a table cell early.
"""

from __future__ import annotations

import re
from typing import Any

#: C0 controls, DEL, C1 controls; the bidi embeddings, overrides and isolates
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: Markdown's punctuation with a meaning (GitHub's `~` strikethrough too), and HTML's
MARKDOWN = str.maketrans({**{c: "\\" + c for c in "\\`[]()*_|#~"},
                          "&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: Any) -> str:
    """`value` as text a terminal prints as it reads: controls shown as `\\xNN`."""
    return UNPRINTABLE.sub(_escape, "" if value is None else str(value))


def md(value: Any) -> str:
    """`value` as Markdown text that renders as the characters it holds, and nothing else."""
    text = printable(value).translate(MARKDOWN)
    return "\\" + text if text.startswith("!") else text


def md_code(value: Any) -> str:
    """`value` as a Markdown code span, for pcapkit's own syntax (filters, flags) that must be
    copied as it is: a backtick fence longer than any run of backticks inside."""
    text = printable(value)
    fence = "`" * (max((len(r) for r in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"

"""JSON text laid out as `json.dumps(value, indent=2)` lays it out, written by orjson.

With an indent, `json` encodes in Python, a generator per container yielding a token at a
time (its C encoder takes no indent before Python 3.13); this module's own writer, before
orjson, joined each container's items in Python, twice as fast. A document's symptoms carry
their paths, ~20 places each on a node's captures: 41k symptoms of 20M DNS-heavy packets are
107 MB of text, which took that writer 4.5 s, orjson ~0.4 s (the whole document: 8.7 -> 6.0 s).

The text is `json.dumps`'s, byte for byte (ASCII, non-ASCII characters escaped as `\\uXXXX`),
but for what JSON itself has no single spelling of:
- a float below 1e-4 in magnitude is spelled as orjson spells it (`0.00005`, `1e-7`; `json`:
  `5e-05`, `1e-07`), the same number to any JSON reader;
- NaN and infinities are `null` (`json` writes `NaN`, which is not JSON at all).

What orjson refuses and `json` takes (an integer beyond 64 bits; a lone surrogate, which a
snapshot's `\\udXXX` escapes can put in a name) is written by `json`, the value whole.
"""

from __future__ import annotations

import json
import re

import orjson

OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
NON_ASCII = re.compile(r"[^\x00-\x7f]")


def indented(value: object, indent: str = "") -> str:
    """The JSON text of `value`, every line after the first starting with `indent`."""
    try:
        text = orjson.dumps(value, option=OPTIONS).decode()
    except orjson.JSONEncodeError:
        text = json.dumps(value, indent=2)
    else:
        if not text.isascii():
            # Only a string can hold one: outside strings, JSON text is ASCII.
            text = NON_ASCII.sub(_escaped, text)
    # A string's newlines are escaped: every newline in the text is one of the layout's.
    return text.replace("\n", "\n" + indent) if indent else text


def _escaped(match: re.Match[str]) -> str:
    """A character as `json`'s `ensure_ascii` escapes it: beyond the BMP, a surrogate pair."""
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"

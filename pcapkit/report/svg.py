"""Inline SVG charts drawn from plain numbers, with no library and no script: a report that
opens offline, prints, and diffs as text. Three shapes serve every plot of the HTML report:
points over time (`chart`), lanes of bars over time (`timeline`) and labelled bars (`bars`).

Every label passes through `escape`: labels come from captures and snapshots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

#: the plot area's left edge in `chart`: room for the y tick labels
LEFT = 56
#: a lane's height in `timeline` and a bar's in `bars`, px
ROW = 18
#: characters of a lane or bar label kept (the rest is in its tooltip)
LABEL_CHARS = 64
#: width given to labels in `timeline` and `bars`, px (about 6.3 px a character at 11 px)
LABEL_WIDTH = 420


@dataclass(frozen=True)
class Series:
    """Points of one colour in a `chart`: dots, or bars from 0 when `bars` (the x value is the
    bar's left edge, `width` its extent along x)."""

    name: str
    color: str
    points: list[tuple[float, float]]
    bars: bool = False
    width: float = 0.0


@dataclass(frozen=True)
class Span:
    """One bar of a `timeline`: from `start` to `end` on lane `lane`, with a tooltip."""

    lane: int
    start: float
    end: float
    color: str
    title: str


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round values (1, 2 or 5 × 10^k apart) from `lo` to `hi`."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _num(v: float) -> str:
    """A coordinate or tick as short, stable text."""
    return f"{v:.6g}" if abs(v) >= 1e-9 else "0"


def _clip(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"


def _svg(ident: str, width: int, height: int, title: str, body: list[str]) -> str:
    return (f"<svg class='plot' id='{escape(ident)}' xmlns='http://www.w3.org/2000/svg' "
            f"width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img'>"
            f"<title>{escape(title)}</title>\n" + "\n".join(body) + "\n</svg>\n")


def _legend(items: list[tuple[str, str]], x: float, y: float) -> list[str]:
    out = []
    for name, color in items:
        out.append(f"<rect x='{_num(x)}' y='{_num(y - 9)}' width='10' height='10' "
                   f"fill='{color}'/><text x='{_num(x + 14)}' y='{_num(y)}'>{escape(name)}</text>")
        x += 24 + 7 * len(name)
    return out


def chart(ident: str, title: str, series: list[Series], x_range: tuple[float, float],
          x_label: str, y_label: str, y_max: float | None = None,
          width: int = 1000, height: int = 220) -> str:
    """Points (or bars) over x, y from 0 to `y_max` (default: the largest y)."""
    top, bottom, right = 24, height - 34, width - 12
    x0, x1 = x_range
    x1 = x1 if x1 > x0 else x0 + 1
    ys = [y for s in series for _, y in s.points]
    y1 = y_max if y_max is not None else max(ys, default=1.0) or 1.0

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * (right - LEFT)

    def py(y: float) -> float:
        return bottom - min(y, y1) / y1 * (bottom - top)

    body = [f"<text x='{LEFT}' y='14' class='plot-title'>{escape(title)}</text>",
            f"<line x1='{LEFT}' y1='{bottom}' x2='{right}' y2='{bottom}' class='axis'/>",
            f"<line x1='{LEFT}' y1='{top}' x2='{LEFT}' y2='{bottom}' class='axis'/>"]
    for t in ticks(x0, x1, 8):
        body.append(f"<text x='{_num(px(t))}' y='{bottom + 14}' text-anchor='middle'>"
                    f"{_num(t)}</text>")
    for t in ticks(0, y1, 4):
        body.append(f"<line x1='{LEFT}' y1='{_num(py(t))}' x2='{right}' y2='{_num(py(t))}' "
                    f"class='grid'/><text x='{LEFT - 4}' y='{_num(py(t) + 4)}' "
                    f"text-anchor='end'>{_num(t)}</text>")
    body.append(f"<text x='{_num((LEFT + right) / 2)}' y='{height - 4}' text-anchor='middle'>"
                f"{escape(x_label)}</text>")
    body.append(f"<text x='12' y='{_num((top + bottom) / 2)}' text-anchor='middle' "
                f"transform='rotate(-90 12 {_num((top + bottom) / 2)})'>{escape(y_label)}</text>")
    for s in series:
        for x, y in s.points:
            tip = f"<title>{escape(s.name)}: {_num(y)} at {_num(x)}</title>"
            if s.bars:
                w = max(px(x + s.width) - px(x) - 1, 1)
                body.append(f"<rect x='{_num(px(x))}' y='{_num(py(y))}' width='{_num(w)}' "
                            f"height='{_num(bottom - py(y))}' fill='{s.color}'>{tip}</rect>")
            else:
                body.append(f"<circle cx='{_num(px(x))}' cy='{_num(py(y))}' r='3' "
                            f"fill='{s.color}'>{tip}</circle>")
    body += _legend([(s.name, s.color) for s in series], right - 260, 14)
    return _svg(ident, width, height, title, body)


def timeline(ident: str, title: str, lanes: list[str], spans: list[Span],
             x_range: tuple[float, float], x_label: str, legend: list[tuple[str, str]],
             width: int = 1000) -> str:
    """One lane per label, each span a bar from its start to its end (at least 3 px wide)."""
    top = 40
    bottom = top + ROW * len(lanes)
    height, right = bottom + 34, width - 12
    x0, x1 = x_range
    x1 = x1 if x1 > x0 else x0 + 1

    def px(x: float) -> float:
        return LABEL_WIDTH + (x - x0) / (x1 - x0) * (right - LABEL_WIDTH)

    body = [f"<text x='4' y='14' class='plot-title'>{escape(title)}</text>"]
    body += _legend(legend, 4, 32)
    for i, label in enumerate(lanes):
        y = top + i * ROW
        body.append(f"<text x='{LABEL_WIDTH - 6}' y='{y + 13}' text-anchor='end'>"
                    f"<title>{escape(label)}</title>{escape(_clip(label))}</text>"
                    f"<line x1='{LABEL_WIDTH}' y1='{y + ROW}' x2='{right}' y2='{y + ROW}' "
                    f"class='grid'/>")
    for t in ticks(x0, x1, 8):
        body.append(f"<line x1='{_num(px(t))}' y1='{top}' x2='{_num(px(t))}' y2='{bottom}' "
                    f"class='grid'/><text x='{_num(px(t))}' y='{bottom + 14}' "
                    f"text-anchor='middle'>{_num(t)}</text>")
    body.append(f"<text x='{_num((LABEL_WIDTH + right) / 2)}' y='{height - 4}' "
                f"text-anchor='middle'>{escape(x_label)}</text>")
    for s in spans:
        x, w = px(s.start), max(px(s.end) - px(s.start), 3)
        body.append(f"<rect x='{_num(x)}' y='{top + s.lane * ROW + 3}' width='{_num(w)}' "
                    f"height='{ROW - 6}' fill='{s.color}' fill-opacity='0.85'>"
                    f"<title>{escape(s.title)}</title></rect>")
    return _svg(ident, width, height, title, body)


def bars(ident: str, title: str, rows: list[tuple[str, float, str, str]], x_max: float,
         x_label: str, width: int = 1000) -> str:
    """One horizontal bar per (label, value, colour, tooltip), from 0 to `x_max`."""
    top = 24
    bottom = top + ROW * len(rows)
    height, right = bottom + 34, width - 60

    def px(x: float) -> float:
        return LABEL_WIDTH + min(x, x_max) / x_max * (right - LABEL_WIDTH)

    body = [f"<text x='4' y='14' class='plot-title'>{escape(title)}</text>"]
    for t in ticks(0, x_max, 5):
        body.append(f"<line x1='{_num(px(t))}' y1='{top}' x2='{_num(px(t))}' y2='{bottom}' "
                    f"class='grid'/><text x='{_num(px(t))}' y='{bottom + 14}' "
                    f"text-anchor='middle'>{_num(t)}</text>")
    for i, (label, value, color, tip) in enumerate(rows):
        y = top + i * ROW
        body.append(f"<text x='{LABEL_WIDTH - 6}' y='{y + 13}' text-anchor='end'>"
                    f"<title>{escape(label)}</title>{escape(_clip(label))}</text>"
                    f"<rect x='{LABEL_WIDTH}' y='{y + 3}' width='{_num(px(value) - LABEL_WIDTH)}' "
                    f"height='{ROW - 6}' fill='{color}'><title>{escape(tip)}</title></rect>"
                    f"<text x='{_num(px(value) + 4)}' y='{y + 13}'>{_num(value)}</text>")
    body.append(f"<text x='{_num((LABEL_WIDTH + right) / 2)}' y='{height - 4}' "
                f"text-anchor='middle'>{escape(x_label)}</text>")
    return _svg(ident, width, height, title, body)

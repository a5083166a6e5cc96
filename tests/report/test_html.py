"""The HTML report opened in a real headless Chromium with no network (`chromium.py`): no
console error, no request but the file itself, the verdict and the lab's failing Services in
the text, the plots drawn with marks of non-zero size, the connection table sortable, and a
screenshot that is not blank. Then what it escapes, and what it says of how it was made.

Chromium is Debian's `chromium`, which `make test` installs when it is missing.
"""

from __future__ import annotations

import io
import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageStat

import pcapkit
from pcapkit.cli.app import run
from pcapkit.detect import DETECTORS
from pcapkit.report import render_html
from pcapkit.report.groups import LAYERS
from pcapkit.report.html import fragment
from pcapkit.report.svg import ticks
from pcapkit.report.text import verdict
from tests.conftest import SAMPLES
from tests.report.chromium import chromium, open_page

needs_chromium = pytest.mark.skipif(chromium() is None, reason="chromium not installed "
                                    "(make test installs Debian's chromium)")

#: the plot each scenario must draw, beside the timeline: the symptoms its fault gives
PLOTS = {"stale_endpoint": [], "nxdomain_storm": ["plot-dns-latency", "plot-nxdomain"],
         "lossy_underlay": ["plot-retransmission"]}

MARKS = """(id) => Array.from(document.getElementById(id).querySelectorAll("rect, circle"))
  .map(m => m.getBBox()).filter(b => b.width > 0 && b.height > 0).length"""


def _analysis(folder: Path, captures: list[Path] | None = None,
              snapshot: Path | None = None) -> pcapkit.Analysis:
    return pcapkit.analyze(captures or sorted(folder.glob("*.pcap")),
                           [snapshot or folder / "snapshot.json"])


def _truth(name: str) -> list[dict[str, Any]]:
    lines = (SAMPLES / name / "truth.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@needs_chromium
@pytest.mark.parametrize("name", sorted(PLOTS))
def test_report_in_chromium(name: str, tmp_path: Path) -> None:
    analysis = _analysis(SAMPLES / name)
    report = tmp_path / "report.html"
    report.write_text(render_html(analysis), encoding="utf-8")
    with open_page(report) as page:
        text = page.evaluate("document.body.innerText")
        assert verdict(analysis.to_dict())[0] in text
        failing = {t["service"] for t in _truth(name)
                   if t["kind"] == "attempt" and t["outcome"] != "ok" and t.get("service")}
        by_service = page.evaluate("document.getElementById('by-service')?.innerText ?? ''")
        assert all(service in by_service for service in failing), (failing, by_service)
        for section in ("Kubernetes context", "Captures", "How this report was made"):
            assert section in text
        for c in analysis.captures:
            assert c.path in page.evaluate("document.getElementById('captures').innerText")

        for plot in ["plot-timeline", *PLOTS[name]]:
            box = page.evaluate(f"(() => {{ const r = document.getElementById('{plot}')"
                                ".getBoundingClientRect(); return [r.width, r.height]; })()")
            assert box[0] > 100 and box[1] > 50, (plot, box)
            assert page.evaluate(f"({MARKS})('{plot}')") > 0, plot
        bars = page.evaluate("document.querySelectorAll('#plot-timeline rect[fill-opacity]')"
                             ".length")
        assert bars == len(analysis.to_dict()["symptoms"])

        # Sorting the connection table by start time, twice: descending the second time.
        column = page.evaluate("Array.from(document.querySelectorAll('#connections th'))"
                               ".findIndex(th => th.textContent === 'start (s)')")
        starts = (f"Array.from(document.querySelectorAll('#connections tbody tr'))"
                  f".map(r => parseFloat(r.cells[{column}].getAttribute('data-v')))")
        for _ in range(2):
            page.evaluate(f"document.querySelectorAll('#connections th')[{column}].click()")
        assert page.evaluate(starts) == sorted(page.evaluate(starts), reverse=True)

        png = page.screenshot()
        assert page.errors() == []
        assert page.requests() == [report.resolve().as_uri()]
    _assert_not_blank(png)


def _assert_not_blank(png: bytes) -> None:
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.width >= 1000 and image.height > 1000
    stddev = ImageStat.Stat(image).stddev[0]
    assert stddev > 10, f"screenshot nearly uniform (stddev {stddev:.1f})"
    assert len(image.getcolors(1 << 16) or []) > 16  # text and plots, not a flat page


HOSTILE = "<img src=x onerror=alert(1)>&amp;<script>alert(2)</script>"


@needs_chromium
def test_healthy_report_in_chromium(tmp_path: Path) -> None:
    """No symptom: the verdict says so, the plots that have data are drawn, nothing fails."""
    analysis = _analysis(SAMPLES / "healthy")
    report = tmp_path / "report.html"
    report.write_text(render_html(analysis), encoding="utf-8")
    with open_page(report) as page:
        assert page.evaluate("document.getElementById('verdict').innerText").startswith(
            "No symptoms found")
        assert page.evaluate("document.getElementById('plot-timeline')") is None
        assert page.evaluate(f"({MARKS})('plot-dns-latency')") > 0
        # no connection lost a segment: bars of zero length, the labels still there
        assert page.evaluate(f"({MARKS})('plot-retransmission')") == 0
        assert page.evaluate("document.getElementById('plot-retransmission')"
                             ".querySelectorAll('text').length") > 3
        assert page.errors() == []
        assert page.requests() == [report.resolve().as_uri()]


@needs_chromium
def test_strings_from_captures_and_snapshots_are_escaped(tmp_path: Path) -> None:
    """A capture file name and pod and Service names carrying markup show as text, run
    nothing and add no element."""
    folder = SAMPLES / "stale_endpoint"
    captures = []
    for i, p in enumerate(sorted(folder.glob("*.pcap"))):
        captures.append(tmp_path / f"{HOSTILE.replace('/', '_')}{i}.pcap")
        shutil.copy(p, captures[-1])
    snapshot = json.loads((folder / "snapshot.json").read_text())
    for item in snapshot["items"]:
        meta = item["metadata"]
        if meta.get("name", "").startswith(("client-", "stale")):
            meta["name"] = f"{meta['name']}{HOSTILE}"
        for ep in item.get("endpoints", []):
            if ep.get("targetRef", {}).get("name", "").startswith("stale"):
                ep["targetRef"]["name"] += HOSTILE
        if item["kind"] == "EndpointSlice" and meta.get("labels", {}).get(
                "kubernetes.io/service-name") == "stale":
            meta["labels"]["kubernetes.io/service-name"] = f"stale{HOSTILE}"
    (tmp_path / "snapshot.json").write_text(json.dumps(snapshot))
    analysis = _analysis(folder, captures, tmp_path / "snapshot.json")
    service = f"default/stale{HOSTILE}"
    assert any(s.get("k8s", {}).get("service") == service for s in analysis.to_dict()["symptoms"])
    report = tmp_path / "report.html"
    report.write_text(render_html(analysis), encoding="utf-8")
    with open_page(report) as page:
        assert page.evaluate("document.querySelectorAll('img').length") == 0
        assert page.evaluate("document.querySelectorAll('script').length") == 1  # the sorter
        assert service in page.evaluate("document.getElementById('by-service').innerText")
        assert service in page.evaluate("document.getElementById('plot-timeline')"
                                        ".textContent")
        assert HOSTILE in page.evaluate("document.getElementById('k8s-pods').innerText")
        assert captures[0].name in page.evaluate("document.getElementById('captures')"
                                                 ".innerText")
        assert page.errors() == []
        assert page.requests() == [report.resolve().as_uri()]


@needs_chromium
def test_notebook_view_renders(tmp_path: Path) -> None:
    """`_repr_html_` (what Jupyter shows): the verdict, the symptoms by layer and the timeline,
    rendered alone as a notebook cell would hold it."""
    analysis = _analysis(SAMPLES / "stale_endpoint")
    html = analysis._repr_html_()
    assert html == analysis._repr_mimebundle_()["text/html"]
    page_file = tmp_path / "cell.html"
    page_file.write_text(f"<!DOCTYPE html><meta charset='utf-8'><body>{html}</body>",
                         encoding="utf-8")
    with open_page(page_file) as page:
        text = page.evaluate("document.body.innerText")
        assert verdict(analysis.to_dict())[0] in text
        assert "pod connectivity" in page.evaluate(
            "document.getElementById('by-layer').innerText")
        assert page.evaluate(f"({MARKS})('plot-timeline')") > 0
        assert page.errors() == []


def test_every_detector_has_a_layer() -> None:
    assert set(DETECTORS) <= set(LAYERS)


def test_report_says_how_it_was_made(tmp_path: Path) -> None:
    folder = SAMPLES / "nxdomain_storm"
    out = tmp_path / "report.html"
    args = ["analyze", *map(str, sorted(folder.glob("*.pcap"))), "--k8s",
            str(folder / "snapshot.json"), "--set", "nxdomain_min=7", "--format", "html",
            "--output", str(out), "--quiet"]
    assert run(args) == 0
    html = out.read_text()
    assert "<code>nxdomain_min=7</code> (default <code>5</code>)" in html
    assert "--set nxdomain_min=7 --format html</code>" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html


def test_streamed_analysis_reports_the_same_symptoms() -> None:
    """A streamed analysis (no packet table kept) gives the same top of the report, and says
    why it draws no retransmission plot."""
    folder = SAMPLES / "lossy_underlay"
    captures = sorted(folder.glob("*.pcap"))
    whole = pcapkit.analyze(captures, [folder / "snapshot.json"], stream=False)
    streamed = pcapkit.analyze(captures, [folder / "snapshot.json"], stream=True, workers=1)
    assert fragment(streamed) == fragment(whole)
    assert "plot-retransmission" in render_html(whole)
    assert "A streamed analysis keeps no packet table" in render_html(streamed)


@given(st.floats(-1e6, 1e6), st.floats(1e-3, 1e6))
def test_ticks_are_round_and_inside(lo: float, extent: float) -> None:
    hi = lo + extent
    marks = ticks(lo, hi)
    assert 2 <= len(marks) <= 11
    assert all(lo - 1e-9 * extent <= m <= hi + 1e-9 * extent for m in marks)
    steps = {round(b - a, 9) for a, b in itertools.pairwise(marks)}
    assert len({round(s / min(steps), 3) for s in steps}) == 1

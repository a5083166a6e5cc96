"""Golden reports, the Zeek way: each lab scenario in, its text, JSON and Markdown reports out
(and the HTML report of `HTML_SCENARIO`), compared with the baselines in tests/report/golden/.
Volatile fields (the version) are masked.

A deliberate change of output: `PCAPKIT_UPDATE_GOLDEN=1 pytest tests/report/test_golden.py`,
then read the diff of the baselines before committing them.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import pcapkit
from pcapkit.report import render_html, render_markdown, render_text
from tests.conftest import REPO, SAMPLES

GOLDEN = Path(__file__).parent / "golden"
SCENARIOS = sorted(p.parent.name for p in SAMPLES.glob("*/snapshot.json"))
UPDATE = os.environ.get("PCAPKIT_UPDATE_GOLDEN") == "1"
#: the one scenario whose HTML report has a baseline: several Services, captures and symptoms
HTML_SCENARIO = "stale_endpoint"


def _reports(name: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(REPO)  # paths in reports are as given: relative to the repository
    folder = Path("samples") / name
    captures = sorted(folder.glob("*.pcap")) + sorted(folder.glob("*.pcapng"))
    result = pcapkit.analyze(captures, snapshots=[folder / "snapshot.json"])
    doc = result.to_dict()
    doc["pcapkit_version"] = "<masked>"
    reports = {"txt": render_text(result), "json": json.dumps(doc, indent=1) + "\n",
               "md": render_markdown(result)}
    if name == HTML_SCENARIO:
        reports["html"] = re.sub("<span id='version'>[^<]*</span>",
                                 "<span id='version'>&lt;masked&gt;</span>", render_html(result))
    return reports


@pytest.mark.parametrize("name", SCENARIOS)
def test_reports_match_baselines(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for ext, text in _reports(name, monkeypatch).items():
        baseline = GOLDEN / f"{name}.{ext}"
        if UPDATE:
            baseline.write_text(text)
            continue
        assert baseline.exists(), f"no baseline {baseline}: run with PCAPKIT_UPDATE_GOLDEN=1"
        assert text == baseline.read_text(), f"{baseline} differs (see the module docstring)"

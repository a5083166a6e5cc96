"""Symptom numbers mean one thing everywhere: `#N` in the text report, row N of the Markdown and
HTML tables, `symptoms[N-1]` in the JSON, and what `pcapkit show -n N` and `extract -n N` take
(`Analysis.symptom(N)`) are the same symptom, on every lab scenario. Impact orders the causes
and the verdict; the numbers keep the symptoms' own order, worst severity first, then earliest,
so that a number read in one format holds in another."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

import pcapkit
from pcapkit.api import symptom_label
from pcapkit.cli.app import run
from pcapkit.report import render_html, render_markdown, render_text
from tests.conftest import SAMPLES

SCENARIOS = sorted(p.parent for p in SAMPLES.glob("*/snapshot.json"))
SEVERITY = {"error": 0, "warning": 1, "info": 2}
Said = dict[int, tuple[str, str, str]]  #: number → (kind, client, server)


def from_text(text: str) -> Said:
    return {int(n): (k, c, s) for n, k, c, s in re.findall(
        r"^\s+#(\d+) \[\w+\] (\S+) (\S+) → (\S+)", text, re.M)}


def from_markdown(text: str) -> Said:
    rows = re.findall(r"^\| (\d+) \| \w+ \| (.+?) \| (.+?) \| (.+?) \|", text, re.M)
    def unescape(text: str) -> str:
        return re.sub(r"\\(.)", r"\1", text)

    return {int(n): (unescape(k), unescape(c), unescape(s)) for n, k, c, s in rows}


def from_html(text: str) -> Said:
    rows = re.findall(r"<tr id='s-(\d+)'><td>\1</td><td[^>]*>\w+</td><td><code>(.*?)</code>"
                      r"</td><td>(.*?)</td><td>(.*?)</td>", text)
    return {int(n): (html.unescape(k), html.unescape(c), html.unescape(s))
            for n, k, c, s in rows}


@pytest.mark.parametrize("folder", SCENARIOS, ids=lambda p: p.name)
def test_one_number_one_symptom_in_every_format(folder: Path) -> None:
    captures = sorted(folder.glob("*.pcap")) + sorted(folder.glob("*.pcapng"))
    result = pcapkit.analyze(captures, snapshots=[folder / "snapshot.json"])
    doc = json.loads(json.dumps(result.to_dict()))
    symptoms = doc["symptoms"]
    expected = {n: (s["kind"], s.get("client") or "?", s.get("server") or "?")
                for n, s in enumerate(symptoms, 1)}
    assert from_text(render_text(result)) == expected
    assert from_markdown(render_markdown(result)) == expected
    assert from_html(render_html(result)) == expected
    for n, (kind, client, server) in expected.items():
        assert symptom_label(result.symptom(n), n) == \
            f"pcapkit symptom {n}: {kind} {client} → {server}".replace(" ? → ?", "")
    # the symptoms' own order, whatever order impact gives the causes
    keys = [(SEVERITY[s["severity"]], s["first_ts"]) for s in symptoms]
    assert keys == sorted(keys)
    causes = [n for cause in doc["causes"] for n in cause["symptoms"]]
    assert sorted(causes) == list(expected)  # each symptom in one cause, by its own number


def test_show_takes_the_reports_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    """`show -n N` on a scenario whose report lists symptoms out of their numbers' order (one
    cause holds #1, #2 and #4, the next #3): the symptom the text report calls #N."""
    folder = SAMPLES / "mtu_blackhole"
    captures = sorted(str(p) for p in folder.glob("*.pcap"))
    result = pcapkit.analyze(captures, snapshots=[folder / "snapshot.json"])
    listed = [n for cause in result.to_dict()["causes"] for n in cause["symptoms"]]
    assert listed != sorted(listed)
    said = from_text(render_text(result))
    for n in listed:
        assert run(["show", *captures, "--k8s", str(folder / "snapshot.json"), "-n", str(n),
                    "--dissector", "dpkt"]) == 0
        kind, client, server = said[n]
        assert capsys.readouterr().out.splitlines()[0] == \
            f"pcapkit symptom {n}: {kind} {client} → {server}"

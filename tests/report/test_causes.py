"""Impact, causes and layers on every lab scenario, held to the lab's truth (samples/*/truth.jsonl):
the application's own record of which attempts failed and which fault was injected.

- The verdict's worst cause (by impact) is at a Service the truth's failed attempts went to, or,
  when only lookups failed, in the DNS layer; its failed count is the truth's failed attempts.
- The symptoms one injected fault gives are in one cause; every symptom is in exactly one.
- A failed lookup after which the application connected nowhere is counted as explained.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import pcapkit
from pcapkit.report import render_markdown, render_text
from pcapkit.report.groups import LAYER_ORDER
from tests.conftest import SAMPLES

SCENARIOS = sorted(p.parent for p in SAMPLES.glob("*/truth.jsonl"))
#: how long after a failed lookup the lab's client would have connected, had it resolved
FOLLOW_S = 6.0
#: (truth lines, JSON document, the analysis, whether only the pod's capture was read)
Scenario = tuple[list[dict[str, Any]], dict[str, Any], pcapkit.Analysis, bool]


def _truth(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "truth.jsonl").read_text().splitlines()
            if line.strip()]


def _analysis(folder: Path, pod_only: bool = False) -> pcapkit.Analysis:
    captures = sorted(folder.glob("*.pcap")) + sorted(folder.glob("*.pcapng"))
    if pod_only:
        captures = [c for c in captures if c.name.startswith("pod-")]
    return pcapkit.analyze(captures, snapshots=[folder / "snapshot.json"])


@pytest.fixture(scope="module", params=[(f, pod) for f in SCENARIOS for pod in (False, True)],
                ids=lambda p: f"{p[0].name}{'-pod' if p[1] else ''}")
def scenario(request: pytest.FixtureRequest) -> Scenario:
    folder, pod_only = request.param
    analysis = _analysis(folder, pod_only)
    return _truth(folder), analysis.to_dict(), analysis, pod_only


def _failed_attempts(truth: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in truth:
        if t["kind"] == "attempt" and t["outcome"] != "ok" and t.get("service"):
            out[t["service"]] = out.get(t["service"], 0) + 1
    return out


def test_worst_by_impact_is_what_the_truth_says_failed(scenario: Scenario) -> None:
    truth, doc, _, pod_only = scenario
    failed = _failed_attempts(truth)
    failed_lookups = [t for t in truth if t["kind"] == "lookup" and t["outcome"] != "ok"]
    if not failed and not failed_lookups:
        pytest.skip("the truth records no failed attempt or lookup")
    assert doc["causes"], "the application failed, but no symptom"
    worst = doc["causes"][0]
    if failed:
        assert worst["target"] in failed, (worst, failed)
        impact = worst["impact"]
        assert impact["unit"] == "connections"
        assert impact["failed"] <= impact["attempts"]
        if not pod_only:  # every capture: each attempt the application saw fail failed here
            assert impact["failed"] >= failed[worst["target"]], (worst, failed)
        verdict = render_text(scenario[2]).splitlines()[0]
        assert f"Worst: {', '.join(worst['kinds'])} at {worst['target']} " in verdict
    else:
        assert worst["layer"] == "DNS", worst


def test_no_impact_counts_more_failures_than_the_truth(scenario: Scenario) -> None:
    """A connection that worked (retransmissions it recovered from, an ICMP error that taught
    it the path MTU) is affected, not failed: no Service's failed count passes the attempts the
    application saw fail there, and the text says `degraded` when none failed."""
    truth, doc, analysis, _ = scenario
    failed = _failed_attempts(truth)
    services = {t["service"] for t in truth if t["kind"] == "attempt" and t.get("service")}
    text = render_text(analysis)
    checked = 0
    for cause in doc["causes"]:
        impact = cause["impact"]
        if impact["unit"] != "connections" or cause["target"] not in services:
            continue
        checked += 1
        assert impact["failed"] <= failed.get(cause["target"], 0), (cause["title"], impact)
        if not impact["failed"]:
            words = f"{impact['affected']} of {impact['attempts']} connections degraded"
            assert words in text
    if not checked:
        pytest.skip("no cause at a Service the application dialled")


def test_one_fault_is_one_cause(scenario: Scenario) -> None:
    truth, doc, _, _ = scenario
    numbers = sorted(n for c in doc["causes"] for n in c["symptoms"])
    assert numbers == list(range(1, len(doc["symptoms"]) + 1))  # each symptom once
    faults = [t for t in truth if t["kind"] == "fault" and t["symptoms"]]
    kinds_of = [set(f["symptoms"]) for f in faults]
    for fault, kinds in zip(faults, kinds_of, strict=True):
        others = set().union(*(k for k in kinds_of if k is not kinds))
        own = kinds - others  # a kind two faults give cannot tell them apart
        mine = [i for i, s in enumerate(doc["symptoms"], 1) if s["kind"] in own]
        holding = [c for c in doc["causes"] if set(c["symptoms"]) & set(mine)]
        assert len(holding) <= 1, (fault["fault"], [c["title"] for c in holding])
        if len(faults) > 1 and holding:
            # and the cause holds no symptom that only another fault gives
            foreign = {doc["symptoms"][n - 1]["kind"] for n in holding[0]["symptoms"]} - kinds
            assert not foreign & others, (fault["fault"], foreign)


def test_failed_lookups_explain_the_missing_connection(scenario: Scenario) -> None:
    """A lookup the application gave up on, with no attempt after it, is counted."""
    truth, doc, _, _ = scenario
    attempts = [t["ts"] for t in truth if t["kind"] == "attempt"]
    gave_up = [t for t in truth if t["kind"] == "lookup" and t["outcome"] != "ok"
               and not any(t["ts"] <= a <= t["ts"] + t["duration"] + FOLLOW_S
                           for a in attempts)]
    timeouts = [c for c in doc["causes"] if "dns_timeout" in c["kinds"]]
    if not timeouts:
        pytest.skip("no dns_timeout")
    explained = sum(c.get("explains", {}).get("missing_connections", 0) for c in timeouts)
    assert explained == len(gave_up)


def test_layers_in_order_each_saying_what_was_checked(scenario: Scenario) -> None:
    _, doc, analysis, _ = scenario
    assert [la["layer"] for la in doc["layers"]] == [la for la in LAYER_ORDER
                                                     if la != "other"]
    text, md = render_text(analysis), render_markdown(analysis)
    positions = [text.index(f"\n{la['layer']}: {la['summary']}") for la in doc["layers"]]
    assert positions == sorted(positions)
    md_positions = [md.index(f"## {la['layer']}\n") for la in doc["layers"]]
    assert md_positions == sorted(md_positions)
    for la in doc["layers"]:
        line = next(x for x in text.splitlines() if x.startswith(f"{la['layer']}: "))
        assert line.endswith("healthy") == (not la["causes"]), line  # every layer checked
        for c in la["causes"]:  # a cause's symptoms under it, in its layer
            assert doc["causes"][c - 1]["layer"] == la["layer"]
    dns = doc["layers"][1]["checked"]
    assert dns["lookups"] >= dns["lookups_answered"] >= dns["lookups_noerror"]


def test_every_number_of_the_summary_line_has_its_unit(scenario: Scenario) -> None:
    _, _, analysis, _ = scenario
    line = next(x for x in render_text(analysis).splitlines() if " packets in " in x)
    numbers = re.findall(r"(?<![\w-])\d+(?: [a-z-]+)?", line.replace("5-tuples", ""))
    assert numbers and all(n.endswith((" packets", " flows")) for n in numbers), line

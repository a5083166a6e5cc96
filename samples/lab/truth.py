"""Reading a run's truth.jsonl, and checking it against what its scenarios' faults must produce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from samples.lab.scenarios import SCENARIOS, VARIANTS, compose

KINDS = {"attempt", "lookup", "ping", "fault"}
OUTCOMES = {"ok", "refused", "timeout", "error", "nxdomain", "unanswered"}


def load(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "truth.jsonl").read_text().splitlines()]


def key(line: dict[str, Any]) -> str:
    """What an expectation is keyed by: an attempt's target host, `dns:` and a lookup's name, or
    `ping:` and a ping's target."""
    if line["kind"] == "ping":
        return f"ping:{line['target']}"
    return line["target"].rpartition(":")[0] if line["kind"] == "attempt" else f"dns:{line['name']}"


def problems(lines: list[dict[str, Any]]) -> list[str]:
    """Every way `lines` departs from its scenarios' `expect` (for single-scenario runs)."""
    found = []
    for name in {line["scenario"] for line in lines}:
        scenario = (SCENARIOS | VARIANTS)[name]
        mine = [line for line in lines if line["scenario"] == name]
        faults = {line["fault"] for line in mine if line["kind"] == "fault"}
        declared = {f.fault for f in scenario.faults(compose([scenario]))}
        if faults != declared:
            found.append(f"{name}: faults logged {sorted(faults)}, declared {sorted(declared)}")
        seen = set()
        for line in mine:
            if line["kind"] not in KINDS:
                found.append(f"{name}: unknown kind in {line}")
            elif line["kind"] != "fault":
                seen.add(key(line))
                allowed = scenario.expect.get(key(line))
                if line["outcome"] not in OUTCOMES or (allowed and line["outcome"] not in allowed):
                    found.append(f"{name}: {key(line)} {line['outcome']} ({line['detail']})")
        found += [f"{name}: nothing tried {k}" for k in scenario.expect.keys() - seen]
    return found

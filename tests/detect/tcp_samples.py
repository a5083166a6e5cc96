"""The lab's samples as the TCP detector tests read them: every capture of a scenario analysed
together, and the client attempts its truth.jsonl lists."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pcapkit.detect.config import DEFAULT
from pcapkit.flows import Tables
from tests.conftest import SAMPLES
from tests.flows.tcp_oracles import table


def scenario(name: str) -> Path:
    folder = SAMPLES / name
    if not (folder / "truth.jsonl").exists():
        pytest.skip(f"lab sample {name} not recorded")
    return folder


@cache
def tables(name: str) -> Tables:
    folder = scenario(name)
    return table(sorted(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng"}))


def attempts(name: str, outcome: str | None = None) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in (scenario(name) / "truth.jsonl").read_text().splitlines()]
    return [
        x for x in lines
        if x.get("kind") == "attempt" and x.get("protocol") == "tcp"
        and (outcome is None or x["outcome"] == outcome)
    ]


def clients(found: pl.DataFrame) -> set[str]:
    return {f"{ip}:{port}" for ip, port in found.select("client_ip", "client_port").rows()}


def run(module: Any, name: str) -> pl.DataFrame:
    return module.detect(tables(name), DEFAULT)


SCENARIOS = sorted(p.name for p in SAMPLES.iterdir() if (p / "truth.jsonl").exists())

"""The flow tables of a lab sample, and its truth, for the DNS/ICMP detector tests."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import polars as pl
import pytest

from pcapkit.flows import Tables, build_tables
from tests.conftest import SAMPLES
from tests.flows.dns_oracles import decoded


def needs_sample(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not (SAMPLES / name / "truth.jsonl").exists(), reason=f"lab sample {name} not recorded"
    )


@cache
def tables(name: str) -> Tables:
    folder = SAMPLES / name
    table, messages = decoded(*sorted(p for p in folder.iterdir()
                                      if p.suffix in {".pcap", ".pcapng"}))
    return build_tables(table, messages=messages)


def truth(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (SAMPLES / name / "truth.jsonl").read_text().splitlines()]


def extras(findings: pl.DataFrame) -> list[dict[str, Any]]:
    return [json.loads(e) for e in findings["extra"]]

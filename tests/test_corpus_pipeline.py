"""Hostile input: the whole pipeline (read, decode, flows, detectors, JSON document) on every
capture of both public corpora — many malformed on purpose. Each is analysed, or refused with
a `CaptureError` naming the file; nothing else escapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pcapkit
from pcapkit.errors import CaptureError
from tests.conftest import corpus_captures, needs_corpus

CAPTURES = corpus_captures()
#: files per test: the pipeline's fixed cost per call is small, pytest's per test is not
BATCH = 40


@needs_corpus()
@pytest.mark.parametrize("start", range(0, max(len(CAPTURES), 1), BATCH))
def test_pipeline_survives_every_corpus_capture(start: int) -> None:
    for path in CAPTURES[start:start + BATCH]:
        _analyse(path)


def _analyse(path: Path) -> None:
    try:
        result = pcapkit.analyze([path])
    except CaptureError as e:
        assert str(path) in str(e) and "\n" not in str(e)
        return
    doc = json.loads(json.dumps(result.to_dict()))
    (cap,) = doc["captures"]
    assert doc["summary"]["packets"] == cap["packets"] == result.packets.height
    for s in doc["symptoms"]:
        for ev in s["evidence"]:
            assert all(1 <= f <= cap["packets"] for f in ev["frames"]), (path, s)

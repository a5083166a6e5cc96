"""Shared locations and skips. Tests read real captures: the lab's samples (in the repo) and the
public corpus in ../shared (absent from a user's fresh clone: those tests skip there)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import pcapkit
from pcapkit import engine
from pcapkit.engine.chunks import Chunk, plan, plan_ranges
from pcapkit.engine.tasks import DecodeJob, decode_chunk

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
SHARED = Path(os.environ.get("PCAPKIT_SHARED", REPO.parent / "shared"))
TCPDUMP_CORPUS = SHARED / "corpus" / "tcpdump"
ZEEK_CORPUS = SHARED / "corpus" / "zeek"
NOT_CAPTURES = {".out", ".md", ".json", ".log", ".txt"}
NOT_CAPTURE_NAMES = {"LICENSE", "COPYING", "TESTLIST", "README"}


def _captures(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix not in NOT_CAPTURES and p.name not in NOT_CAPTURE_NAMES
    )


def corpus_captures() -> list[Path]:
    """Every capture of the tcpdump and Zeek corpora (empty when ../shared is absent)."""
    return _captures(TCPDUMP_CORPUS) + _captures(ZEEK_CORPUS)


def sample_captures() -> list[Path]:
    """Every capture the lab recorded into samples/."""
    return sorted(
        p for p in SAMPLES.rglob("*")
        if p.suffix in {".pcap", ".pcapng", ".gz"} and "lab" not in p.parts
    )


def as_document(analysis: pcapkit.Analysis) -> str:
    """An analysis's JSON document, keys sorted: what two ways of analysing the same captures
    are compared by."""
    return json.dumps(analysis.to_dict(), sort_keys=True)


def document(captures: list[Path], snapshots: list[Path], **how: Any) -> str:
    """`as_document` of `pcapkit.analyze(captures, snapshots, **how)`."""
    return as_document(pcapkit.analyze(captures, snapshots, **how))


def gzipped(captures: list[Path], folder: Path) -> list[Path]:
    """`captures` compressed by gzip into `folder`, each as its name plus `.gz`."""
    packed = [folder / (p.name + ".gz") for p in captures]
    for p, gz in zip(captures, packed, strict=True):
        gz.write_bytes(gzip.compress(p.read_bytes()))
    return packed


def planned_chunks(monkeypatch: pytest.MonkeyPatch) -> list[Chunk]:
    """The chunks the engine plans from now on, as it plans them (`pcapkit.engine.chunks.plan`
    and `plan_ranges`, still the ones that plan them)."""
    seen: list[Chunk] = []

    def recording(planner: Callable[..., Iterator[Chunk]]) -> Callable[..., Iterator[Chunk]]:
        def recorded(*args: Any, **kw: Any) -> Iterator[Chunk]:
            for chunk in planner(*args, **kw):
                seen.append(chunk)
                yield chunk
        return recorded

    monkeypatch.setattr(engine, "plan", recording(plan))
    monkeypatch.setattr(engine, "plan_ranges", recording(plan_ranges))
    return seen


def needs_corpus() -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not TCPDUMP_CORPUS.is_dir(),
        reason=f"public corpus not found at {TCPDUMP_CORPUS} (only in the project's workplace)",
    )


def needs_tshark() -> pytest.MarkDecorator:
    return pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def needs_root() -> pytest.MarkDecorator:
    return pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create network namespaces")


def decoded_jobs(monkeypatch: pytest.MonkeyPatch) -> list[DecodeJob]:
    """The decode jobs the engine runs from now on, in the order it runs them."""
    jobs: list[DecodeJob] = []

    def recorded(job: DecodeJob) -> Any:
        jobs.append(job)
        return decode_chunk(job)

    monkeypatch.setattr(engine, "decode_chunk", recorded)
    return jobs

"""What the probe detectors share: one finding for a group of requests, some unanswered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from pcapkit.detect.findings import Severity, extra_json, frames_evidence


def unanswered(kind: str, protocol: str, asker: str, target: str, requests: pl.DataFrame,
               explain: Callable[[int, int, float], str], cited: pl.DataFrame | None = None,
               **extra: Any) -> dict[str, Any]:
    """The finding of `requests` (PROBES rows of one asker and target): error when none was
    answered, warning when some were; `explain(missed, answered, span_s)` says it. Evidence:
    the frames of the unanswered requests, or of the `cited` rows' unanswered ones."""
    missed = requests.filter(~pl.col("answered"))
    answered = requests.height - missed.height
    first, last = int(missed["ts_ns"].min()), int(missed["ts_ns"].max())  # type: ignore[arg-type]
    return {
        "kind": kind,
        "severity": (Severity.WARNING if answered else Severity.ERROR).value,
        "protocol": protocol,
        "client_ip": asker,
        "client_port": None,
        "server_ip": target,
        "server_port": None,
        "count": missed.height,
        "first_ts_ns": first,
        "last_ts_ns": last,
        "evidence": frames_evidence(
            missed if cited is None else cited.filter(~pl.col("answered")), "frames"),
        "explanation": explain(missed.height, answered, (last - first) / 1e9),
        "extra": extra_json(requests=requests.height, answered=answered, **extra),
    }

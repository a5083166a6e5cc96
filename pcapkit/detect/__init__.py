"""Stage 5, detect: symptoms from the flow tables.

Each detector is one module, `detect(tables, config) -> findings`, its exact definition in its
docstring. `DETECTORS` lists them all; the key is the symptom `kind`.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from pcapkit.detect import (
    dnat_mismatch,
    dns_error,
    dns_timeout,
    icmp_unreachable,
    nxdomain_storm,
    retransmission,
    rst,
    unanswered_syn,
    zero_window,
)
from pcapkit.detect.config import DEFAULT, Config
from pcapkit.detect.findings import FINDINGS_SCHEMA, empty_findings
from pcapkit.flows import Tables

Detector = Callable[[Tables, Config], pl.DataFrame]

DETECTORS: dict[str, Detector] = {
    "retransmission": retransmission.detect,
    "rst": rst.detect,
    "unanswered_syn": unanswered_syn.detect,
    "zero_window": zero_window.detect,
    "dnat_mismatch": dnat_mismatch.detect,
    "nxdomain_storm": nxdomain_storm.detect,
    "dns_timeout": dns_timeout.detect,
    "dns_error": dns_error.detect,
    "icmp_unreachable": icmp_unreachable.detect,
}


def run_detectors(tables: Tables, config: Config = DEFAULT) -> pl.DataFrame:
    """All detectors' findings, worst first."""
    frames = [detect(tables, config) for detect in DETECTORS.values()]
    if not frames:
        return empty_findings()
    out = pl.concat([f.select(FINDINGS_SCHEMA.names()).cast(FINDINGS_SCHEMA) for f in frames])
    return out.sort(["severity", "first_ts_ns"], descending=[True, False])

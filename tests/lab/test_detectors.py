"""The lab as pcapkit's judge: on each sample, `analyze` finds exactly the injected faults' symptoms
(the `symptoms` of the truth's fault lines) and nothing else, and names the failed connections,
their Service and endpoint (tests/lab/findings.py)."""

from __future__ import annotations

import pytest

from samples.lab.scenarios import SCENARIOS
from tests.conftest import SAMPLES
from tests.lab.findings import assert_findings_match_truth


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_analyze_finds_exactly_the_injected_faults(name: str) -> None:
    assert_findings_match_truth(SAMPLES / name, name)

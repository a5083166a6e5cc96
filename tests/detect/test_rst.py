"""rst against the lab's truth."""

from __future__ import annotations

import json

import pytest

from pcapkit.detect import rst
from tests.detect.tcp_samples import SCENARIOS, attempts, clients, run


def test_not_listening_is_refused_in_the_handshake() -> None:
    found = run(rst, "not_listening")
    assert clients(found) == {a["client"] for a in attempts("not_listening", "refused")}
    for extra, severity in found.select("extra", "severity").rows():
        assert json.loads(extra) == {"phase": "handshake", "sender": "server"}
        assert severity == "error"
    refused = attempts("not_listening", "refused")
    assert {f"{s}:{p}" for s, p in found.select("server_ip", "server_port").rows()} == {
        a["resolved"] for a in refused
    }


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "not_listening"])
def test_no_reset_where_the_lab_made_none(name: str) -> None:
    """No other scenario's client was refused or aborted by a reset."""
    assert run(rst, name).is_empty()

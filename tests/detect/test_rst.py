"""rst against the lab's truth."""

from __future__ import annotations

import json

import pytest

from pcapkit.detect import rst
from tests.detect.tcp_samples import SCENARIOS, attempts, clients, run

#: the scenarios whose endpoint refuses: `nodeport`'s refused connections came from outside
#: the cluster to a NodePort and were DNATed and masqueraded on the way, and still each is
#: named by the external client and the node address and port it dialled
REFUSING = ["not_listening", "nodeport", "target_port_mismatch"]


@pytest.mark.parametrize("name", REFUSING)
def test_a_refusing_endpoint_is_refused_in_the_handshake(name: str) -> None:
    found = run(rst, name)
    refused = attempts(name, "refused")
    assert clients(found) == {a["client"] for a in refused}
    for extra, severity in found.select("extra", "severity").rows():
        assert json.loads(extra) == {"phase": "handshake", "sender": "server"}
        assert severity == "error"
    resolved = {a["client"]: a["resolved"] for a in refused}
    for ip, port, server_ip, server_port in found.select(
            "client_ip", "client_port", "server_ip", "server_port").rows():
        assert f"{server_ip}:{server_port}" == resolved[f"{ip}:{port}"]


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n not in REFUSING])
def test_no_reset_where_the_lab_made_none(name: str) -> None:
    """No other scenario's client was refused or aborted by a reset."""
    assert run(rst, name).is_empty()

"""Chunks of one packet: a chunk boundary inside every handshake, retransmission and DNS resend
of a lab scenario, streamed, gives the in-memory document."""

from __future__ import annotations

import pytest

from tests.conftest import SAMPLES
from tests.engine.streamed import in_memory_document, streamed_document


@pytest.mark.parametrize("scenario", ["stale_endpoint", "nxdomain_storm", "lossy_underlay",
                                      "dns_timeout", "nodelocal_dns"])
def test_one_packet_chunks(scenario: str) -> None:
    """A chunk per packet: every connection, retransmission and DNS resend (and a node-local
    cache's DNS over TCP) is cut."""
    folder = SAMPLES / scenario
    assert streamed_document(folder, 1, 5) == in_memory_document(folder)

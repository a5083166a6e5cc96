"""The lab's DNS answers too big for one packet (samples/reassembled_dns, recorded by
`samples/lab/big_answers.py`): every query the client made is one transaction, answered with
the answers the client counted (up to the packet table's 64), in each capture, over IPv4 and
IPv6 fragments and TCP messages across and within segments. The frames are tshark's (its
reassembly on): tests/flows/test_dns_oracles.py runs these captures too."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from pcapkit.decode.dns_message import MAX_ANSWERS
from pcapkit.flows.dns import dns_transactions
from tests.conftest import SAMPLES
from tests.flows.dns_oracles import decoded

FOLDER = SAMPLES / "reassembled_dns"
CAPTURES = sorted(FOLDER.glob("*.pcap"))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_every_query_answered_as_the_client_saw_it(path: Path) -> None:
    asked = [json.loads(line) for line in (FOLDER / "answers.jsonl").read_text().splitlines()]
    txns = dns_transactions(*decoded(path))
    assert txns.height == len(asked)
    for q in asked:
        t = txns.filter(pl.col("dns_id") == q["dns_id"]).row(0, named=True)
        assert (t["proto"], t["qname"]) == (q["transport"].rstrip("6"), q["name"])
        assert t["answered"] and t["queries"] == 1
        assert len(t["answers"]) == min(q["answers"], MAX_ANSWERS)


def test_the_capture_holds_what_it_is_for() -> None:
    """Fragments of both IP versions, and two DNS messages in one TCP segment (so the test
    above cannot pass on whole packets alone)."""
    table, reassembled = decoded(FOLDER / "client-eth0.pcap")
    fragments = table.filter(pl.col("ip_mf") | (pl.col("ip_frag_offset") > 0))
    assert set(fragments["ip_version"]) == {4, 6}
    per_frame = reassembled.group_by("frame").len()
    assert per_frame["len"].max() == 2

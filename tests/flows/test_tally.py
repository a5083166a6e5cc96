"""The tally of a packet table against a count made packet by packet in Python, on every lab
capture: each kind once, in the order of its first packet, with its packets counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcapkit.decode import decode
from pcapkit.flows.tally import KEY, tally
from pcapkit.read import read_capture
from tests.conftest import sample_captures


@pytest.mark.parametrize("path", sample_captures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_tally_counts_each_kind_from_its_first_packet(path: Path) -> None:
    packets = decode(read_capture(path))
    expected: dict[tuple[object, ...], int] = {}
    for row in packets.iter_rows(named=True):
        kind = (*(row[c] for c in KEY), row["icmp_type"] is not None,
                row["ip_version"] is not None, row["dns_id"] is not None)
        expected[kind] = expected.get(kind, 0) + 1
    kinds = tally(packets)
    made = {row[:-1]: row[-1] for row in kinds.iter_rows()}
    assert list(made.items()) == list(expected.items())
    assert kinds.columns == [*KEY, "icmp", "ip", "dns", "n"]

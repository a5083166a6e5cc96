"""dnat_mismatch: a written capture of the failure, and none in the lab's scenarios (whose
bridge interfaces show requests after DNAT and replies before un-DNAT: the healthy look-alike)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pcapkit.detect import dnat_mismatch, rst, unanswered_syn
from pcapkit.detect.config import DEFAULT
from tests.detect.tcp_samples import SCENARIOS, run
from tests.flows.tcp_oracles import CLIENT, Seg, table, write_pcap

SYN, ACK, RST = 0x02, 0x10, 0x04
CLUSTER_IP = ("10.96.0.10", 80)
POD = ("10.244.2.7", 8080)


def _mismatch(tmp_path: Path, with_rst: bool = True) -> list[Seg]:
    segs = [
        Seg(0.0, True, SYN, 1000, server=CLUSTER_IP),
        Seg(0.001, False, SYN | ACK, 9000, 1001, server=POD),
    ]
    if with_rst:
        segs.append(Seg(0.0011, True, RST, 1001, server=POD))
    return [*segs, Seg(1.0, True, SYN, 1000, server=CLUSTER_IP),
            Seg(1.001, False, SYN | ACK, 9000, 1001, server=POD),
            Seg(1.0011, True, RST, 1001, server=POD),
            Seg(3.0, True, ACK, 5, 5, server=("10.0.0.9", 1))]


def test_synack_from_the_pod_answered_by_a_reset(tmp_path: Path) -> None:
    tables = table([write_pcap(tmp_path / "m.pcap", _mismatch(tmp_path))])
    found = dnat_mismatch.detect(tables, DEFAULT)
    assert found.height == 1
    row = found.row(0, named=True)
    assert (row["client_ip"], row["client_port"]) == CLIENT
    assert (row["server_ip"], row["server_port"]) == CLUSTER_IP
    assert json.loads(row["extra"]) == {"replied_from": "10.244.2.7:8080"}
    assert row["count"] == 2
    assert [e["frame"] for e in row["evidence"]] == [1, 2, 3, 4, 5, 6]
    # the same attempt is not also an unanswered SYN
    assert unanswered_syn.detect(tables, DEFAULT).is_empty()
    # nor a refusal: the client's resets are this symptom's evidence, reported once
    assert rst.detect(tables, DEFAULT).is_empty()


def test_no_reset_no_mismatch(tmp_path: Path) -> None:
    """Without the client's reset the pair is what a bridge shows of a healthy connection."""
    segs = [s for s in _mismatch(tmp_path) if not s.flags & RST]
    tables = table([write_pcap(tmp_path / "m.pcap", segs)])
    assert dnat_mismatch.detect(tables, DEFAULT).is_empty()


@pytest.mark.parametrize("name", SCENARIOS)
def test_none_in_the_lab(name: str) -> None:
    assert run(dnat_mismatch, name).is_empty()

"""The counts the vantage is read from (`AddressCounts`), against a count made packet by packet
in Python from their definitions, on every lab capture and the public corpora; and made from
the address kinds of chunks merged (as the streaming engine makes them), the same whatever the
chunk size."""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pcapkit.codes import SllPacketType
from pcapkit.decode import decode
from pcapkit.errors import CaptureError
from pcapkit.flows.tally import tally
from pcapkit.kube.vantage import AddressCounts, address_kinds, merge_kinds
from pcapkit.read import read_capture
from pcapkit.read.records import Direction
from tests.conftest import corpus_captures, needs_corpus, sample_captures

CORPUS = corpus_captures()
BATCH = 60
COLUMNS = ["src", "dst", "outer_src", "outer_dst", "direction", "tunnel", "sll_pkttype"]


def _noise(ip: str | None) -> bool | None:
    """Multicast, broadcast, IPv6 link-local or unspecified (None for no address)."""
    if ip is None:
        return None
    a = ipaddress.ip_address(ip)
    return (a.is_multicast or a.is_unspecified or (a.version == 6 and a.is_link_local)
            or (a.version == 4 and a in ipaddress.ip_network("255.0.0.0/8")))


def _expected(packets: pl.DataFrame) -> dict[str, Any]:
    roles: Counter[tuple[str, str]] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    tunneled = chatter = 0

    def count(role: str, *addresses: str | None) -> None:
        for ip in {a for a in addresses if a is not None}:
            roles[role, ip] += 1

    for p in packets.select(COLUMNS).iter_rows(named=True):
        out = p["direction"] == Direction.OUTBOUND
        to_host = p["sll_pkttype"] in (None, SllPacketType.HOST)
        count("any", p["src"], p["dst"])
        if p["dst"] is not None and not _noise(p["dst"]):
            count("uni", p["src"], p["dst"])
        if out:
            count("out", p["src"])
        if p["tunnel"] is not None:
            tunneled += 1
            count("t_any", p["src"], p["dst"])
            count("t_outer", p["outer_src"], p["outer_dst"])
            if out:
                count("t_out", p["outer_src"])
            if p["direction"] == Direction.INBOUND and to_host:
                count("t_in", p["outer_dst"])
        if _noise(p["src"]) and _noise(p["dst"]):
            chatter += 1
        if p["direction"] == Direction.UNKNOWN:
            outer = p["outer_src"] is not None
            a, b = (p["outer_src"], p["outer_dst"]) if outer else (p["src"], p["dst"])
            if a is not None and b is not None:
                pairs[min(a, b), max(a, b)] += 1
    return {"packets": packets.height, "tunneled": tunneled, "chatter": chatter,
            "roles": dict(roles), "pairs": dict(pairs)}


def _made(counts: AddressCounts) -> dict[str, Any]:
    return {"packets": counts.packets, "tunneled": counts.tunneled, "chatter": counts.chatter,
            "roles": {(r, ip): n for r, ip, n in counts.counts.iter_rows()},
            "pairs": {(a, b): n for a, b, n in counts.pairs.iter_rows()}}


def _check(packets: pl.DataFrame, name: str) -> None:
    expected = _expected(packets)
    assert _made(AddressCounts.of(packets)) == expected, name
    for size in (7, 997):
        chunks = [address_kinds(tally(packets.slice(at, size)))
                  for at in range(0, packets.height, size)]
        assert _made(AddressCounts.of_kinds(merge_kinds(chunks))) == expected, (name, size)


@pytest.mark.parametrize("path", sample_captures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_counts_are_those_of_the_packets(path: Path) -> None:
    _check(decode(read_capture(path)), str(path))


@needs_corpus()
@pytest.mark.parametrize("start", range(0, max(len(CORPUS), 1), BATCH))
def test_corpus_counts_are_those_of_the_packets(start: int) -> None:
    for path in CORPUS[start:start + BATCH]:
        try:
            packets = decode(read_capture(path))
        except CaptureError:
            continue
        _check(packets, str(path))


def test_no_packets_no_counts() -> None:
    empty = _made(AddressCounts.of_kinds(merge_kinds([])))
    assert empty == {"packets": 0, "tunneled": 0, "chatter": 0, "roles": {}, "pairs": {}}

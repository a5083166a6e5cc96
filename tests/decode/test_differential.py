"""The vectorised and the compiled decoders against the reference decoder, row for row, on
every capture we have.

All three follow docs/packet-table.md; the two fast ones hand the rows outside their common
stacks to the reference one, so each test also checks, where the stack is common, that they
decoded the bulk of the rows themselves: a fast path that deferred everything would pass the
equality alone. The compiled one is called whatever the capture's size (`decode` would take
the vectorised one below `COMPILED_FROM` records).
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from pcapkit.decode import decode
from pcapkit.decode.compiled import decode_compiled_stats
from pcapkit.decode.fast import FastStats, decode_fast_stats
from pcapkit.errors import CaptureError
from pcapkit.read import Capture, read_capture
from tests.conftest import (
    REPO,
    SAMPLES,
    TCPDUMP_CORPUS,
    ZEEK_CORPUS,
    corpus_captures,
    needs_corpus,
    sample_captures,
)

CAPTURE_SUFFIXES = {".pcap", ".pcapng", ".cap", ".gz"}
#: corpus captures of the stacks the vectorised layers cover (Ethernet/IPv4/IPv6/TCP/UDP, VXLAN)
COMMON_STACKS = (
    "vxlan.pcap", "vxlan_port_8472.pcap", "gso-ipv4.pcap", "gso-ipv6.pcap",
    "gso-ipv4-vxlan-ipv4.pcap", "gso-ipv4-vxlan-ipv6.pcap", "gso-ipv6-vxlan-ipv4.pcap",
    "gso-ipv6-vxlan-ipv6.pcap", "bigtcp-ipv4-vxlan-ipv4.pcap", "bigtcp-ipv6-vxlan-ipv6.pcap",
    "dns_udp.pcap", "dns_tcp.pcap", "vxlan-inner-tcp-bad-checksum.pcap", "q-in-q.pcap",
    "ipv6-fragmented-dns.pcap",
)
#: share of the rows of a common-stack capture the vectorised layers must decode themselves
MIN_VECTORISED = 0.9


def _test_data() -> list[Path]:
    """Captures kept among the tests themselves (fixtures of other stages)."""
    return sorted(p for p in (REPO / "tests").rglob("*")
                  if p.is_file() and p.suffix in CAPTURE_SUFFIXES)


def _id(path: Path) -> str:
    for root in (SAMPLES, TCPDUMP_CORPUS, ZEEK_CORPUS, REPO):
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return path.name


def _read(path: Path) -> Capture:
    try:
        return read_capture(path)
    except CaptureError as e:
        pytest.skip(f"not a capture pcapkit reads: {e}")


def both_fast(capture: Capture) -> list[tuple[pl.DataFrame, FastStats]]:
    """The tables of the vectorised and of the compiled decoder."""
    return [decode_fast_stats(capture), decode_compiled_stats(capture)]


def _check(path: Path, common: bool) -> None:
    capture = _read(path)
    reference = decode(capture, engine="reference")
    for table, stats in both_fast(capture):
        assert_frame_equal(table, reference)
        assert stats.rows == table.height
        if common and stats.rows:
            assert stats.vectorised >= MIN_VECTORISED * stats.rows, stats


@pytest.mark.parametrize("path", sample_captures() + _test_data(), ids=_id)
def test_samples(path: Path) -> None:
    _check(path, common=path.is_relative_to(SAMPLES))


@needs_corpus()
@pytest.mark.parametrize("path", corpus_captures(), ids=_id)
def test_corpus(path: Path) -> None:
    _check(path, common=path.name in COMMON_STACKS)


@needs_corpus()
def test_common_stack_files_exist() -> None:
    """The share check above is only as good as the list of files it applies to."""
    names = {p.name for p in corpus_captures()}
    assert set(COMMON_STACKS) <= names


# --- mutations ------------------------------------------------------------------------------

#: corpus captures whose packets seed the mutations too, beside the samples
SEED_CORPUS = (
    "vxlan.pcap", "gso-ipv6-vxlan-ipv6.pcap", "dns_udp.pcap", "dns_tcp.pcap", "icmpv6.pcap",
    "q-in-q.pcap", "ipv6-fragmented-dns.pcap", "various_gre.pcap", "geneve.pcap", "babel.pcap",
    "tcp-http-with-padding.pcap", "connect-with-header.pcap", "resp_1_benchmark.pcap",
    "tcp-syslog.pcap", "babel_rtt.pcap", "ssh.pcap",
    # the encapsulations the reference decoder removes for the other two
    "erspan-type-i-4.pcap", "erspan-type-ii-2.pcap", "erspan-type-iii-ft-0.pcap",
    "mpls-over-udp.pcap", "pptp.pcap", "pppoes.pcap", "mixed-vlan-mpls.pcap", "vntag.pcap",
    "Teredo.pcap", "gtp6_gtp_0x32.pcap", "gtp7_ipv6.pcap", "pppoe-over-qinq.pcap",
)
PER_KIND = 3



def _seed_packets() -> list[tuple[int, bytes]]:
    """(link type, bytes) of a few packets of each kind (stack, options, DNS, status) we have."""
    paths = [p for p in sample_captures() if p.suffix == ".pcap"]
    paths += [p for p in corpus_captures() if p.name in SEED_CORPUS]
    kinds = ("link_type", "l3_proto", "ip_proto", "tunnel", "tcp_hdr_len", "dns_qr", "status",
             "icmp_type")
    packets: dict[tuple[object, ...], list[tuple[int, bytes]]] = {}
    for path in paths:
        capture = read_capture(path)
        table = decode(capture, engine="reference").select(kinds)
        for i, kind in enumerate(table.iter_rows()):
            found = packets.setdefault(kind, [])
            if len(found) < PER_KIND:
                found.append((kind[0], capture.packet(i)))
    return [p for found in packets.values() for p in found]


SEED_PACKETS = _seed_packets()


def write_pcap(path: Path, link_type: int, packets: list[bytes]) -> None:
    """A classic little-endian microsecond pcap file of `packets`."""
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, link_type))
        for i, pkt in enumerate(packets):
            f.write(struct.pack("<IIII", i, 0, len(pkt), len(pkt) + 7) + pkt)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[int, list[bytes]]:
    link, _ = draw(st.sampled_from(SEED_PACKETS))
    same = [p for lt, p in SEED_PACKETS if lt == link]
    packets = []
    for _ in range(draw(st.integers(1, 40))):
        pkt = bytearray(draw(st.sampled_from(same)))
        for _ in range(draw(st.integers(0, 8))):
            if pkt:  # headers are in the first bytes: mutate there
                at = draw(st.integers(0, min(len(pkt), 80) - 1))
                pkt[at] = draw(st.integers(0, 255))
        cut = draw(st.integers(0, len(pkt)))
        packets.append(bytes(pkt[:cut] if draw(st.booleans()) else pkt))
    return link, packets


@pytest.mark.skipif(not SEED_PACKETS, reason="no sample or corpus captures to mutate")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated())
def test_mutations(case: tuple[int, list[bytes]]) -> None:
    """Random byte changes and truncations of real packets: same table, no exception."""
    link, packets = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutated.pcap"
        write_pcap(path, link, packets)
        capture = read_capture(path)
        reference = decode(capture, engine="reference")
        assert reference.height == len(packets)
        for table, _ in both_fast(capture):
            assert_frame_equal(table, reference)

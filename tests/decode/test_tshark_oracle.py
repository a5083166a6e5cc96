"""The reference decoder against an independent oracle: tshark, frame by frame.

For every frame, the innermost packet pcapkit describes (5-tuple, TCP flags, ICMP type and code,
DNS id/rcode/first name, VNI) must equal what tshark dissected at the same place in the layer
stack (see `tshark_fields.innermost`). Where the two differ on purpose, the frame must match one
of `DIFFERENCES`, each naming its reason; any other difference fails the test with the frames.

tshark starts slowly (~0.3 s), so the captures are concatenated with `mergecap -a` into one
pcapng (one interface per source file) and dissected in one run; frames are traced back to their
file by the counts of the source files.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pcapkit.codes import LinkType
from pcapkit.decode.dns_message import DNS_PORTS
from pcapkit.decode.reference import decode_reference
from pcapkit.errors import CaptureError
from pcapkit.read import read_capture
from tests.conftest import (
    TCPDUMP_CORPUS,
    ZEEK_CORPUS,
    corpus_captures,
    needs_corpus,
    needs_tshark,
    sample_captures,
)
from tests.decode.tshark_fields import IP_LAYERS, KEYS, Frame, Inner, innermost, read_tshark

pytestmark = [needs_tshark(), pytest.mark.tshark]

#: the corpus captures that carry the tunnels pcapkit removes
TUNNEL_PATTERNS = (
    "vxlan*.pcap", "geneve*.pcap", "gso-*.pcap", "bigtcp-*.pcap", "erspan-type-*.pcap",
    "mpls-over-udp.pcap", "pppoes.pcap", "pptp.pcap",
)
ZEEK_TUNNEL_PATTERNS = (
    "core.vntag/*.pcap", "core.vlan-mpls/*.pcap", "core.tunnels.teredo/*.pcap",
    "core.tunnels.gtp.*/*.pcap", "core.erspan*/*.pcap", "core.pppoe-over-qinq/*.pcap",
    "core.tunnels.gre-over-udp/*.pcap",
)
#: the tunnels those captures carry IP in (PPTP's carries only PPP's own LCP: not removed), and
#: those whose key (`vni`) tshark shows
DECAPSULATED = {"vxlan", "geneve", "gre", "erspan", "mpls", "vntag", "teredo", "gtp_u", "pppoe"}
KEYED = {"vxlan", "geneve", "erspan", "mpls", "gtp_u", "pppoe"}
#: tshark's names for the layers holding a DNS message on the ports pcapkit decodes it on
DNS_LAYERS = ("dns", "mdns", "llmnr")

Row = dict[str, Any]


def _num(text: str | None, base: int = 10) -> int | None:
    return int(text, base) if text else None


def expected(frame: Frame, inner: Inner, row: Row) -> Row:
    """What tshark says the columns compared should hold."""
    # Columns tshark has no value for must be null in the table too.
    want: Row = dict.fromkeys(("src", "dst", "sport", "dport", "tcp_flags", "icmp_type",
                               "icmp_code", "dns_id", "dns_qname"))
    if inner.ip_layer:
        want["src"] = frame.get(f"{inner.ip_layer}.src", inner.ip_index)
        want["dst"] = frame.get(f"{inner.ip_layer}.dst", inner.ip_index)
    if inner.transport:
        t, k = inner.transport, inner.transport_index
        want["sport"] = _num(frame.get(f"{t}.srcport", k))
        want["dport"] = _num(frame.get(f"{t}.dstport", k))
        if t == "tcp":
            flags = _num(frame.get("tcp.flags", k), 16)
            # tshark's field has 12 bits, 3 of them reserved; the table keeps the low 9.
            want["tcp_flags"] = None if flags is None else flags & 0x1FF
    if inner.stop in ("icmp", "icmpv6"):
        want["icmp_type"] = _num(frame.get(f"{inner.stop}.type"))
        want["icmp_code"] = _num(frame.get(f"{inner.stop}.code"))
    if inner.stop in DNS_LAYERS:
        want["dns_id"] = _num(frame.get("dns.id"), 16)
        name = frame.get("dns.qry.name")
        want["dns_qname"] = "." if name == "<Root>" else name
        if frame.get("dns.flags.rcode") is not None:  # tshark prints it for responses only
            want["dns_rcode"] = _num(frame.get("dns.flags.rcode"))
    if row["tunnel"] in KEYS:
        want["vni"] = _num(frame.get(KEYS[row["tunnel"]]), 0)
    return want


@dataclass(frozen=True)
class Difference:
    """A deliberate difference between pcapkit and tshark, and how to recognise its frames."""

    reason: str
    applies: Callable[[Frame, Inner, Row, list[str]], bool]


def _tshark_decapsulates(frame: Frame, inner: Inner, row: Row, diff: list[str]) -> bool:
    return inner.stop not in ("icmp", "icmpv6") and any(x in IP_LAYERS for x in inner.beyond)


DIFFERENCES = {
    "stopped layer null": Difference(
        "where decoding stops (truncated, malformed: e.g. a version-6 header where IPv4 is "
        "due), the doc leaves that layer's columns null; tshark shows the fields it could read "
        "(or re-dissects the header as IPv6)",
        lambda f, i, r, d: r["status"] != "ok" and all(r[c] is None for c in d),
    ),
    "tshark decapsulates more": Difference(
        "tshark removes encapsulations the doc leaves as payload (NSH, GRE carrying WCCP or "
        "Cisco metadata, PPP and MPLS on a PPP link, IPv6 carrying Ethernet…)",
        _tshark_decapsulates,
    ),
    "udp length 0": Difference(
        "GSO/BIG TCP super-packets carry a UDP length of 0: tshark stops there, the doc follows "
        "the IP length and decapsulates",
        lambda f, i, r, d: "0" in f.values.get("udp.length", []),
    ),
    "ipv6 payload length 0": Difference(
        "an IPv6 payload length of 0 (BIG TCP) is an empty payload to tshark, the captured bytes "
        "to the doc",
        lambda f, i, r, d: "0" in f.values.get("ipv6.plen", []),
    ),
    "dns on other ports": Difference(
        "tshark decodes DNS on ports other than 53, 5353 and 5355 (its DNS port range: 8053…); "
        "the doc only on those",
        lambda f, i, r, d: "dns" in f.layers
        and not {r["sport"], r["dport"]} & set(DNS_PORTS),
    ),
    "dns header tshark rejects": Difference(
        "tshark shows no DNS layer where the doc reads a DNS header: a TCP continuation "
        "segment (tshark tracks messages across segments, the doc takes every segment to start "
        "one) or a message tshark rejects whole (a compression loop)",
        lambda f, i, r, d: "dns" not in f.layers and r["status_layer"] == "dns"
        and set(d) <= {"dns_id", "dns_qname"},
    ),
    "dns message split over tcp segments": Difference(
        "tshark reads a DNS header in a segment holding part of a message (the first bytes of "
        "a header, or a continuation it ties to the message's start); the doc reads each segment "
        "alone, leaving a short header's id null and a continuation malformed (the whole message "
        "is in the DNS message rows, `decode/reassembly.py`, checked by test_dns_oracles)",
        lambda f, i, r, d: i.transport == "tcp" and "dns" in f.layers
        and set(d) <= {"dns_id", "dns_qname", "dns_rcode"}
        and (r["dns_id"] is None or r["status"] == "malformed"),
    ),
    "tunnel in a first fragment": Difference(
        "tshark decodes the tunnel in the first fragment of a fragmented datagram (GTP-U's, "
        "whose underlay fragments); the doc decodes neither DNS nor tunnels in fragments",
        lambda f, i, r, d: bool(r["ip_mf"]) and r["tunnel"] is None
        and sum(x in IP_LAYERS for x in f.layers) > 1,
    ),
    "dns in a first fragment": Difference(
        "tshark decodes DNS in the first fragment of a fragmented datagram; the doc decodes "
        "neither DNS nor tunnels in fragments",
        lambda f, i, r, d: bool(r["ip_mf"]) and set(d) <= {"dns_id", "dns_qname", "dns_rcode"},
    ),
}

#: differences the public corpora do not show (no DNS message split over TCP segments there)
MET_IN_SAMPLES = {"dns message split over tcp segments"}


def classify(frame: Frame, row: Row) -> str | None:
    """None when pcapkit and tshark agree; else the name of the difference, or "unexplained"."""
    inner = innermost(frame)
    if _tshark_decapsulates(frame, inner, row, []):
        return "tshark decapsulates more"
    want = expected(frame, inner, row)
    diff = [column for column, value in want.items() if row[column] != value]
    if not diff:
        return None
    for name, difference in DIFFERENCES.items():
        if difference.applies(frame, inner, row, diff):
            return name
    return "unexplained"


@dataclass
class Comparison:
    """The frames of several captures, compared; `source[i]` is frame i's file."""

    verdicts: list[str | None]
    source: list[Path]
    rows: list[Row]
    frames: list[Frame]

    def tally(self, files: set[Path] | None = None) -> Counter[str | None]:
        return Counter(v for v, s in zip(self.verdicts, self.source, strict=True)
                       if files is None or s in files)

    def unexplained(self) -> list[str]:
        return [f"{s.name} frame {r['frame']}: {f.get('frame.protocols')}"
                for v, s, r, f in zip(self.verdicts, self.source, self.rows, self.frames,
                                      strict=True)
                if v == "unexplained"]


def _decodable(path: Path) -> int:
    """Records in `path` when it is a whole capture of link types pcapkit decodes, else 0."""
    try:
        capture = read_capture(path)
    except CaptureError:
        return 0
    known = {int(t) for t in LinkType}
    if capture.warnings or not set(capture.link_types) <= known:
        return 0
    return len(capture.records)


def compare(paths: list[Path], work: Path) -> Comparison:
    counts = {p: _decodable(p) for p in paths}
    chosen = [p for p in paths if counts[p]]
    merged = work / "merged.pcapng"
    subprocess.run(["mergecap", "-a", "-w", str(merged), *map(str, chosen)], check=True)
    frames = read_tshark(merged)
    rows = decode_reference(read_capture(merged)).rows(named=True)
    source = [p for p in chosen for _ in range(counts[p])]
    assert len(frames) == len(rows) == len(source)
    verdicts = [classify(f, r) for f, r in zip(frames, rows, strict=True)]
    return Comparison(verdicts, source, rows, frames)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    if shutil.which("mergecap") is None:
        pytest.skip("mergecap not installed")
    return compare(corpus_captures(), tmp_path_factory.mktemp("corpus"))


@needs_corpus()
def test_corpus_frames_agree_with_tshark(corpus: Comparison) -> None:
    tally = corpus.tally()
    assert corpus.unexplained() == []
    # Each named difference is met in the corpus or the samples: a reason that matches nothing
    # is not one.
    assert set(DIFFERENCES) - MET_IN_SAMPLES <= set(tally)
    # Most frames are compared outright: differences are the exception.
    assert tally[None] > 0.9 * sum(tally.values())


@needs_corpus()
def test_tunnel_captures_agree_with_tshark(corpus: Comparison) -> None:
    tunnel_files = {p for pattern in TUNNEL_PATTERNS for p in TCPDUMP_CORPUS.glob(pattern)}
    tunnel_files |= {p for pattern in ZEEK_TUNNEL_PATTERNS for p in ZEEK_CORPUS.glob(pattern)}
    tally = corpus.tally(tunnel_files)
    assert tally["unexplained"] == 0
    agreed = [
        r for r, s, v in zip(corpus.rows, corpus.source, corpus.verdicts, strict=True)
        if s in tunnel_files and v is None and r["tunnel"] is not None
    ]
    # The frames of every tunnel agree with tshark on the inner packet, and on the key where
    # the tunnel has one.
    assert {r["tunnel"] for r in agreed} == DECAPSULATED
    assert {r["tunnel"] for r in agreed if r["vni"] is not None} == KEYED


def test_sample_frames_agree_with_tshark(tmp_path: Path) -> None:
    samples = sample_captures()
    if not samples:
        pytest.skip("no lab samples recorded yet")
    comparison = compare(samples, tmp_path)
    assert comparison.unexplained() == []
    assert comparison.tally()[None] > 0
    assert set(comparison.tally()) >= MET_IN_SAMPLES

"""The ARP, echo and neighbour-discovery columns against tshark, frame by frame.

For every frame of the chosen captures where tshark dissected exactly one ARP message or one
ICMP/ICMPv6 header (an ICMP error quoting an echo has two: not compared, pcapkit reads only
the outer header), pcapkit's reference decoder must give the same operation and addresses, echo
identifier and sequence number, and neighbour target, and must give them for no frame where
tshark has none. One difference is by design: an ARP message whose addresses are cut short
(a hardware length running past the frame) is `truncated` at `arp` with every ARP column null,
as the packet table's rules have it for a layer that stops; tshark still shows its operation.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pcapkit.decode.reference import decode_reference
from pcapkit.read import read_capture
from tests.conftest import SAMPLES, TCPDUMP_CORPUS, needs_corpus, needs_tshark

pytestmark = [needs_tshark()]

CORPUS = (
    "arp-oobr.pcap", "arp-too-long-tha.pcap", "icmpv6-ns-nonce.pcap",
    "icmp-length-zero.pcapng", "ipv6-routing-header.pcap", "geneve.pcap", "vxlan.pcap",
    "erspan-type-i-4.pcap", "mpls-over-udp.pcap", "dhcp-rfc4388.pcap",
)
#: tshark field → pcapkit column
FIELDS = {
    "arp.opcode": "arp_op", "arp.src.proto_ipv4": "arp_sender", "arp.dst.proto_ipv4": "arp_target",
    "icmp.ident": "icmp_echo_id", "icmp.seq": "icmp_echo_seq",
    "icmpv6.echo.identifier": "icmp_echo_id", "icmpv6.echo.sequence_number": "icmp_echo_seq",
    "icmpv6.nd.ns.target_address": "icmp_nd_target",
    "icmpv6.nd.na.target_address": "icmp_nd_target",
}
COLUMNS = sorted(set(FIELDS.values()))
NUMBERS = ("arp.opcode", "icmp.ident", "icmp.seq", "icmpv6.echo.identifier",
           "icmpv6.echo.sequence_number")


def _tshark(path: Path) -> dict[int, dict[str, str] | None]:
    """Per frame, the pcapkit columns tshark's fields give (None: more than one ARP or ICMP
    layer, not compared)."""
    names = ["frame.number", "frame.protocols", *FIELDS]
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=a",
         *(x for f in names for x in ("-e", f))],
        capture_output=True, text=True, check=True).stdout
    frames: dict[int, dict[str, str] | None] = {}
    for line in out.splitlines():
        cells = line.split("\t")
        layers = cells[1].split(":")
        # ATM's ARP (hardware type 19) has its own layout: tshark's `atmarp`, not compared
        if sum(layers.count(p) for p in ("arp", "icmp", "icmpv6")) > 1 or "atmarp" in layers:
            frames[int(cells[0])] = None
            continue
        row: dict[str, str] = {}
        for field, cell in zip(FIELDS, cells[2:], strict=True):
            if cell and "," not in cell:
                # tshark writes ICMPv6 echo identifiers in hex
                row[FIELDS[field]] = str(int(cell, 0)) if field in NUMBERS else cell
        frames[int(cells[0])] = row
    return frames


def _captures() -> list[Path]:
    lab = sorted(p for p in SAMPLES.glob("*/*.pcap") if p.parent.name in (
        "ping_unanswered", "gateway_arp"))
    return [TCPDUMP_CORPUS / name for name in CORPUS] + lab


@needs_corpus()
@pytest.mark.parametrize("path", _captures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_probe_columns_match_tshark(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not recorded")
    expected = _tshark(path)
    table = decode_reference(read_capture(path)).select("frame", "status_layer", *COLUMNS)
    mismatches = []
    for row in table.iter_rows(named=True):
        ours = {c: str(row[c]) for c in COLUMNS if row[c] is not None}
        theirs = expected.get(row["frame"], {})
        if theirs is None:
            continue
        cut_short = row["status_layer"] == "arp" and set(theirs) == {"arp_op"}
        if ours != theirs and not cut_short:
            mismatches.append((row["frame"], ours, theirs))
    assert any(expected.values()), "no frame to compare"
    assert not mismatches, mismatches[:10]



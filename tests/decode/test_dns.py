"""The DNS columns against tshark, and the parser's failure rules on mutated real messages.

tshark's `dns.a`, `dns.aaaa` and `dns.resp.ttl` list every record of the message (answers,
then authority and additional), so pcapkit's answers must be a prefix of them.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pcapkit.decode import decode
from pcapkit.read import read_capture
from tests.conftest import corpus_captures, needs_corpus, needs_tshark, sample_captures
from tests.decode.test_differential import write_pcap
from tests.decode.tshark_fields import AGGREGATOR, OPTIONS

FIELDS = ("frame.number", "dns.id", "dns.flags.rcode", "dns.qry.name", "dns.qry.type",
          "dns.count.answers", "dns.a", "dns.aaaa", "dns.resp.ttl", "udp.length")
UPDATE = 5  #: the opcode whose sections tshark names zones, prerequisites, updates
#: corpus captures with DNS messages (found by tshark's `-Y dns`)
DNS_CORPUS = (
    "dns-badcookie.pcap", "dns-badvers.pcap", "dns-uri.pcap", "dns_tcp.pcap", "dns_udp.pcap",
    "dns_udp_2.pcap", "dnssec.pcap", "edns-opts.pcap", "ipv6-fragmented-dns.pcap",
    "pcapng-multi-interface.pcapng", "Teredo.pcap", "dnskey.pcap", "dnskey2.pcap", "ds.pcap",
    "dynamic-update.pcap", "dns53.pcap", "loc-29-trunc.pcap", "dns-txt-multiple.pcap",
    "dns_notify2.pcap", "nsec.pcap", "nsec3param.pcap", "rrsig.pcap", "dns-spf.pcap",
    "dns-wks.pcap", "dns-zero-RRs.pcap", "dns_original_case.pcap", "dns-badlabel.pcap",
    "dns_fwdptr.pcap", "dns-zlip-1.pcap",
)
#: corpus captures with mDNS (5353) or LLMNR (5355), found by tshark's `-Y "mdns || llmnr"`
MULTICAST_CORPUS = ("gtp7_ipv6.pcap",)
#: the same, on 802.11 link types (radiotap, monitor mode) that pcapkit does not decode
MULTICAST_UNDECODED = ("radiotap.pcap", "wlanmon.pcap")
DNS_SAMPLES = [p for p in sample_captures() if p.parent.name in ("dns_timeout", "nxdomain_storm")]


def _tshark(path: Path) -> dict[int, dict[str, list[str]]]:
    out = subprocess.run(
        ["tshark", "-r", str(path), *OPTIONS, "-T", "fields", "-E", "occurrence=a",
         "-E", f"aggregator={AGGREGATOR}", "-E", "separator=\t",
         *(x for f in FIELDS for x in ("-e", f))],
        capture_output=True, text=True, check=True,
    ).stdout
    frames = {}
    for line in out.splitlines():
        values = [v.split(AGGREGATOR) if v else [] for v in line.split("\t")]
        frames[int(values[0][0])] = dict(zip(FIELDS[1:], values[1:], strict=True))
    return frames


def _compare(path: Path) -> int:
    """Check every DNS row of `path` against tshark; the number of rows checked."""
    table = decode(read_capture(path)).filter(pl.col("dns_id").is_not_null())
    shark = _tshark(path)
    for row in table.iter_rows(named=True):
        where = f"{path.name} frame {row['frame']}"
        theirs = shark[row["frame"]]
        if not theirs["dns.id"] and theirs["udp.length"]:
            # tshark bounds UDP by its length field; pcapkit does not read it (the doc's rule)
            assert int(theirs["udp.length"][-1]) < 8 + 12, where
            continue
        assert theirs["dns.id"], f"{where}: tshark sees no DNS"
        # the last DNS layer: a DNS message in an ICMP error's quote comes first in tshark's
        assert int(theirs["dns.id"][-1], 0) == row["dns_id"], where
        if row["dns_qr"]:  # tshark shows the rcode of responses only
            assert int(theirs["dns.flags.rcode"][-1]) == row["dns_rcode"], where
        if (row["dns_flags"] >> 11) & 0xF == UPDATE:
            continue
        assert int(theirs["dns.count.answers"][-1]) == row["dns_ancount"], where
        if row["dns_qname"] is not None and "\\" not in row["dns_qname"]:
            name = theirs["dns.qry.name"][0]
            assert (name if name != "<Root>" else ".") == row["dns_qname"], where
            assert int(theirs["dns.qry.type"][0]) == row["dns_qtype"], where
        answers: list[dict[str, Any]] = row["dns_answers"] or []
        for field, rtype in (("dns.a", 1), ("dns.aaaa", 28)):
            ours = [a["data"] for a in answers if a["type"] == rtype and a["data"] is not None]
            assert theirs[field][: len(ours)] == ours, where
        ttls = [int(t) for t in theirs["dns.resp.ttl"]]
        assert ttls[: len(answers)] == [a["ttl"] for a in answers], where
    return table.height


@needs_tshark()
@needs_corpus()
@pytest.mark.parametrize("name", DNS_CORPUS)
def test_corpus_against_tshark(name: str) -> None:
    paths = [p for p in corpus_captures() if p.name == name]
    assert paths, f"{name} not in the corpus"
    assert _compare(paths[0]) > 0


@needs_tshark()
@needs_corpus()
@pytest.mark.parametrize("name", MULTICAST_CORPUS)
def test_mdns_llmnr_against_tshark(name: str) -> None:
    """mDNS and LLMNR carry DNS messages unchanged: every one tshark dissects is decoded."""
    path = next(p for p in corpus_captures() if p.name == name)
    assert _compare(path) == len(_tshark_multicast(path))


@needs_tshark()
@needs_corpus()
@pytest.mark.parametrize("name", MULTICAST_UNDECODED)
def test_mdns_on_undecoded_link_types(name: str) -> None:
    """Named difference: tshark decodes 802.11 frames, pcapkit stops at the link layer."""
    path = next(p for p in corpus_captures() if p.name == name)
    table = decode(read_capture(path)).with_columns(pl.col("frame").cast(pl.Int64))
    frames = _tshark_multicast(path)
    assert frames
    stopped = table.filter(pl.col("frame").is_in(frames))
    assert set(stopped["status"]) == {"unsupported"}, stopped


def _tshark_multicast(path: Path) -> list[int]:
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), *OPTIONS, "-Y", "mdns || llmnr", "-T", "fields",
         "-e", "frame.number"], capture_output=True, text=True, check=True).stdout
    return [int(f) for f in out.split()]


@needs_tshark()
@pytest.mark.skipif(not DNS_SAMPLES, reason="the lab's DNS samples are not recorded")
@pytest.mark.parametrize("path", DNS_SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_samples_against_tshark(path: Path) -> None:
    _compare(path)


# --- failure rules, on a real response ------------------------------------------------------


def _real_response() -> tuple[int, bytes, int]:
    """(link type, packet, DNS message start) of a real response with answers."""
    for path in DNS_SAMPLES + [p for p in corpus_captures() if p.name == "dns_udp.pcap"]:
        capture = read_capture(path)
        table = decode(capture).with_row_index()
        hit = table.filter(pl.col("dns_qr") & (pl.col("dns_ancount") > 0)
                           & (pl.col("status") == "ok") & (pl.col("ip_proto") == 17))
        if hit.height:
            row = hit.row(0, named=True)
            pkt = capture.packet(row["index"])
            start = len(pkt) - (row["payload_len"])
            link = capture.interfaces[int(capture.records.iface[row["index"]])].link_type
            return link, pkt, start
    pytest.skip("no DNS response among the samples or the corpus")


def _decode_one(link: int, pkt: bytes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dns.pcap"
        write_pcap(path, link, [pkt])
        capture = read_capture(path)
        fast = decode(capture)
        assert fast.equals(decode(capture, engine="reference"))
        return fast.row(0, named=True)


def test_truncated_names() -> None:
    """Cut inside the question name: truncated at dns, header kept, question and answers null."""
    link, pkt, start = _real_response()
    whole = _decode_one(link, pkt)
    for cut in (start + 13, start + 12 + len(whole["dns_qname"]) // 2):
        # the IP and UDP lengths still say the whole message: the capture is what ends
        row = _decode_one(link, pkt[:cut])
        assert (row["status"], row["status_layer"]) == ("truncated", "dns")
        assert row["dns_id"] == whole["dns_id"] and row["dns_ancount"] == whole["dns_ancount"]
        assert row["dns_qname"] is None and row["dns_answers"] is None


def test_answer_cut_short() -> None:
    """Cut inside the last answer: the answers before it are kept, status truncated."""
    link, pkt, start = _real_response()
    whole = _decode_one(link, pkt)
    row = _decode_one(link, pkt[:-1])
    if whole["dns_ancount"] == len(whole["dns_answers"]) and len(pkt) - start:
        assert (row["status"], row["status_layer"]) in {("truncated", "dns"), ("ok", None)}
        assert row["dns_answers"] == whole["dns_answers"][: len(row["dns_answers"])]


def test_compression_loop() -> None:
    """A first answer name pointing at itself: malformed at dns, header columns kept."""
    link, pkt, start = _real_response()
    whole = _decode_one(link, pkt)
    msg = bytearray(pkt[start:])
    pos = 12
    while msg[pos]:  # skip the question name (uncompressed in a query's echo) and type, class
        pos += msg[pos] + 1
    pos += 5
    msg[pos : pos + 2] = struct.pack(">H", 0xC000 | pos)
    row = _decode_one(link, pkt[:start] + bytes(msg))
    assert (row["status"], row["status_layer"]) == ("malformed", "dns")
    assert row["dns_id"] == whole["dns_id"]
    assert row["dns_qname"] == whole["dns_qname"]
    assert row["dns_answers"] == []  # the question was read: the list is there, empty


def test_forward_pointer() -> None:
    """The question name replaced by a pointer forward (to the answers): malformed at dns."""
    link, pkt, start = _real_response()
    msg = bytearray(pkt[start:])
    msg[12:14] = struct.pack(">H", 0xC000 | (len(msg) - 4))
    row = _decode_one(link, pkt[:start] + bytes(msg))
    assert (row["status"], row["status_layer"]) == ("malformed", "dns")
    assert row["dns_qname"] is None

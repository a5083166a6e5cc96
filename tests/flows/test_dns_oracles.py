"""DNS transactions against two independent oracles on the public corpora: tshark's two-pass
`dns.response_in`/`dns.response_to`/`dns.flags.rcode`, and the dns.log Zeek's own test suite
expects. Every DNS message both tools see is compared; each deliberate difference is a named test.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pcapkit.decode.dns_message import DNS_PORTS
from pcapkit.flows.dns import dns_transactions, message_rows
from tests.conftest import SAMPLES, TCPDUMP_CORPUS, ZEEK_CORPUS, needs_corpus, needs_tshark
from tests.flows.dns_oracles import decoded, tshark_dns, zeek_dns_log

#: the captures of both corpora with DNS on port 53, found by running `tshark -Y dns` over all
#: of them (a selection of inputs, not expected values)
TCPDUMP_DNS = [
    "LINKTYPE_IPV4.pcap", "LINKTYPE_IPV6.pcap", "LINKTYPE_PKTAP.pcap",
    "arcnet-rfc1051-arp-icmp-http.pcap", "dns-badcookie.pcap", "dns-badlabel.pcap",
    "dns-badvers.pcap", "dns-uri.pcap", "dns_fwdptr.pcap", "dns_tcp.pcap", "dns_udp.pcap",
    "dns_udp_2.pcap", "dnssec.pcap", "edns-opts.pcap", "ipv4_invalid_total_length.pcap",
    "mptcp-aa-v1.pcap", "rtp-seg-fault-1.pcapng", "time_2038.pcap",
]
#: captures with mDNS or LLMNR that pcapkit decodes (tshark's `-Y "mdns || llmnr"`: the others
#: are 802.11, see tests/decode/test_dns.py)
ZEEK_MULTICAST = ["core.tunnels.gtp.inner_ipv6"]
ZEEK_DNS = sorted(p.parent.name for p in ZEEK_CORPUS.glob("*/dns.log"))


def _capture(folder: Path) -> Path:
    return next(p for p in folder.iterdir() if p.suffix in {".pcap", ".pcapng", ".trace"}
                or p.name.endswith(".pcap.gz"))


def _tshark_paths() -> list[Path]:
    paths = [TCPDUMP_CORPUS / n for n in TCPDUMP_DNS if (TCPDUMP_CORPUS / n).exists()]
    zeek = [_capture(ZEEK_CORPUS / d) for d in ZEEK_DNS + ZEEK_MULTICAST
            if (ZEEK_CORPUS / d).is_dir()]  # a clone without the workplace's corpora has none
    # the lab's pod captures are single-vantage too (node `-i any` ones are not: tshark would
    # take each interface's copy for a retransmission); so are the big answers' captures
    return paths + zeek + sorted(SAMPLES.glob("*/pod-*.pcap")) + sorted(
        SAMPLES.glob("reassembled_dns/*.pcap"))


def compare_with_tshark(path: Path) -> Counter[str]:
    """Per DNS frame: does pcapkit's transaction say what tshark's links say?"""
    table, reassembled = decoded(path)
    txns = dns_transactions(table, reassembled)
    # frames the decoder stopped on before a whole DNS header (a link type it does not
    # decode, a bad IP header, a DNS header cut short)
    undecoded = set(table.filter((pl.col("status") != "ok") & pl.col("dns_id").is_null())["frame"])
    mine: dict[int, dict[str, Any]] = {}
    for t in txns.iter_rows(named=True):
        for role in ("query_frames", "response_frames"):
            for f in t[role]:
                mine[f["frame"]] = t | {"role": role}
    theirs = tshark_dns(path)
    # tshark 4.0 sometimes links a query to its response (`response_in`) without the way back
    # (dns_udp_2.pcap): either link counts
    linked_from = {ts.response_in: ts.frame for ts in theirs.values() if ts.response_in}
    linked_to = {ts.response_to: ts.frame for ts in theirs.values() if ts.response_to}
    tally: Counter[str] = Counter()
    for frame, ts in theirs.items():
        t = mine.get(frame)
        if t is None:
            tally["not decoded" if frame in undecoded else "tshark only"] += 1
            continue
        queries = {f["frame"] for f in t["query_frames"]}
        responses = {f["frame"] for f in t["response_frames"]}
        if ts.response:
            response_to = ts.response_to or linked_from.get(frame)
            agree = (
                t["role"] == "response_frames"
                and (response_to in queries if response_to else not queries)
                and ts.rcode == t["rcode"]
            )
        elif (response_in := ts.response_in or linked_to.get(frame)) is not None:
            agree = t["role"] == "query_frames" and response_in in responses
        elif responses and len(queries) > 1 and frame < max(queries):
            # tshark: a copy sent more than 5 s after the first starts a new transaction
            tally["resent copy"] += 1
            continue
        else:
            agree = t["role"] == "query_frames" and not responses
        tally["agree" if agree else "differ"] += 1
    tally["pcapkit only"] += len(set(mine) - set(theirs))
    return tally


@needs_tshark()
@pytest.mark.parametrize("path", _tshark_paths(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_matches_tshark_response_in(path: Path) -> None:
    tally = compare_with_tshark(path)
    if not tally.total() - tally["pcapkit only"]:
        pytest.skip("tshark sees no DNS on a DNS port in this capture")
    assert tally["differ"] == 0, tally
    assert tally["tshark only"] == 0, tally
    assert tally["pcapkit only"] == 0, tally


def test_resend_after_5s_is_one_transaction_here_two_in_tshark() -> None:
    """Deliberate: tshark's `dns.retransmission_timer` (5 s) makes a copy sent 5 s or more after
    the first a new transaction, leaving the first copy unanswered; glibc re-sends after exactly
    its 5 s timeout, so here the copies are one transaction, answered after the re-send."""
    pods = sorted((SAMPLES / "dns_timeout").glob("pod-*.pcap"))
    if not pods or shutil.which("tshark") is None:
        pytest.skip("needs the lab's dns_timeout sample and tshark")
    theirs = tshark_dns(pods[0])
    resent = dns_transactions(*decoded(pods[0])).filter(
        pl.col("answered") & (pl.col("answered_after") >= 2)
    )
    assert resent.height > 0
    for frames in resent["query_frames"]:
        first, *later = sorted(f["frame"] for f in frames)
        assert later and theirs[first].response_in is None


# --- Zeek ---------------------------------------------------------------------------------------

#: (capture, DNS id) where pcapkit deliberately differs from Zeek; each has its own test below
ZEEK_DIFFERENT = {
    # the response's flags are 0x8180 (tshark: dns.flags.recavail 1); Zeek logs RA F for it
    ("core.tunnels.gre-over-udp", 12391): "Zeek's RA is F where the header sets it",
}
UPDATE = 5  # opcode: Zeek's `query` is the updated name there, not the zone in the question


def compare_with_zeek(folder: Path) -> tuple[Counter[str], set[int]]:
    """Per Zeek dns.log key (addresses, ports, id, query): found, answered-ness, rcode, flags,
    answers and TTLs. Also the DNS ids where something differs."""
    txns = dns_transactions(*decoded(_capture(folder)))
    keys: dict[tuple[Any, ...], list[dict[str, str]]] = {}
    for r in zeek_dns_log(folder / "dns.log"):
        # Zeek logs no query for a response whose request it did not see (`-`)
        named = r["query"] != "-" and r["opcode"] != str(UPDATE)
        key = (r["id.orig_h"], int(r["id.orig_p"]), r["id.resp_h"], int(r["id.resp_p"]),
               int(r["trans_id"]), r["query"].lower() if named else None)
        keys.setdefault(key, []).append(r)
    tally: Counter[str] = Counter()
    differ: set[int] = set()
    for (orig, orig_p, resp, resp_p, trans_id, query), zeek in keys.items():
        ours = [
            t for t in txns.iter_rows(named=True)
            if (t["client_ip"], t["client_port"], t["server_port"], t["dns_id"]) ==
            (orig, orig_p, resp_p, trans_id) and resp in t["server_ips"]
            and (query is None or (t["qname"] or "").lower() == query)
        ]
        if len(ours) != 1:
            tally["unmatched"] += 1
            continue
        t = ours[0]
        answered = [r for r in zeek if r["rcode"] != "-"]
        checks = {"answered": bool(answered) == t["response_seen"]}
        if answered and t["response_seen"]:
            z, flags = answered[0], t["response_flags"]
            checks |= {
                "rcode": int(z["rcode"]) == t["rcode"],
                "RA": (z["RA"] == "T") == bool(flags & 0x0080),
                "TC": (z["TC"] == "T") == bool(flags & 0x0200),
            }
            # Zeek fills AA from its answer-record events: without answers it stays F
            if z["answers"] != "-":
                checks["AA"] = (z["AA"] == "T") == bool(flags & 0x0400)
            # Zeek writes names in lower case
            zeek_answers = set(zip(z["answers"].lower().split(","), z["TTLs"].split(","),
                                   strict=False))
            mine = {(a["data"].lower(), f"{a['ttl']}.000000") for a in t["answers"] if a["data"]}
            # an UPDATE's records are prerequisites and updates, which Zeek writes its own way
            if mine and z["opcode"] != str(UPDATE):
                checks["answers+TTLs"] = mine <= zeek_answers
        for name, ok in checks.items():
            tally[f"{name} {'agree' if ok else 'differ'}"] += 1
            if not ok:
                differ.add(trans_id)
    return tally, differ


@needs_corpus()
@pytest.mark.parametrize("name", ZEEK_DNS)
def test_matches_zeek_dns_log(name: str) -> None:
    tally, differ = compare_with_zeek(ZEEK_CORPUS / name)
    assert differ == {i for (n, i) in ZEEK_DIFFERENT if n == name}, tally
    assert tally["unmatched"] == 0, tally


@needs_corpus()
def test_fragmented_response_is_reassembled() -> None:
    """The TXT response to id 40849 comes in three IPv6 fragments: reassembled, it answers the
    query in the frame of its last fragment, with the latency Zeek logs (`rtt`, its response's
    time less its query's). A stray fragment of another datagram (id 1, offset 2896, its
    first fragments not captured) completes nothing."""
    folder = ZEEK_CORPUS / "core.ipv6-frag"
    zeek = [r for r in zeek_dns_log(folder / "dns.log") if r["trans_id"] == "40849"]
    rtt = next(float(r["rtt"]) for r in zeek if r["rcode"] == "0")
    table, reassembled = decoded(_capture(folder))
    fragments = table.filter(pl.col("ip_mf") | (pl.col("ip_frag_offset") > 0))
    assert fragments["dns_id"].is_null().all()  # the packet table reads none of them
    assert reassembled["frame"].to_list() == [fragments.filter(
        pl.col("ip_id") == fragments["ip_id"].max())["frame"].max()]
    txn = dns_transactions(table, reassembled).filter(pl.col("dns_id") == 40849)
    assert txn["answered"].to_list() == [True]
    assert txn["latency_ns"][0] / 1e9 == pytest.approx(rtt, abs=1e-6)


# --- tshark with its reassembly on ---------------------------------------------------------------


def tshark_reassembled(path: Path) -> dict[int, list[int]]:
    """The DNS ids tshark finds in each frame with its defaults (IP fragments and TCP segments
    reassembled, a message shown in the frame that completes it)."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-d", "udp.port==8472,vxlan", "-T", "fields",
         "-E", "occurrence=a", "-E", "aggregator=;", "-e", "frame.number", "-e", "dns.id",
         "-e", "udp.port", "-e", "tcp.port"],
        capture_output=True, text=True, check=False).stdout
    found = {}
    for line in out.splitlines():
        frame, ids, *ports = line.split("\t")
        if ids and {str(p) for p in DNS_PORTS} & set(";".join(ports).split(";")):
            found[int(frame)] = [int(i, 16) for i in ids.split(";")]
    return found


#: (capture, named difference) → how many of tshark's reassembled messages fall in it
REASSEMBLED_DIFFERENT = {
    # the IP length leaves fewer than 12 bytes of UDP payload: `truncated` at `dns` (the doc's
    # rule); tshark bounds the payload by the UDP length instead
    ("rtp-seg-fault-1.pcapng", "DNS header cut short"): 1,
}


@needs_tshark()
@pytest.mark.parametrize("path", _tshark_paths(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_reassembled_message_is_decoded(path: Path) -> None:
    """Every DNS message tshark finds with its reassembly on (IP fragments, TCP segments) is
    one pcapkit reads, in the frame that completes it, and pcapkit reads no other; but for the
    named differences (`REASSEMBLED_DIFFERENT`) and frames of a link type pcapkit does not
    decode (PKTAP, ARCNET)."""
    table, reassembled = decoded(path)
    rows = {r["frame"]: r for r in table.iter_rows(named=True)}
    mine: dict[int, list[int]] = {}
    for frame, dns_id in message_rows(table, reassembled).select("frame", "dns_id").iter_rows():
        mine.setdefault(frame, []).append(dns_id)
    theirs = tshark_reassembled(path)
    tally: Counter[str] = Counter()
    for frame, ids in theirs.items():
        row = rows[frame]
        if row["status"] == "unsupported" or row["status_layer"] == "link":
            tally["link type not decoded"] += 1
        elif row["status_layer"] == "dns" and row["dns_id"] is None:
            tally["DNS header cut short"] += 1
        else:
            # the last DNS layers: a DNS message in an ICMP error's quote comes first
            ours = mine.get(frame, [])
            assert ours and ids[-len(ours):] == ours, f"{path.name} frame {frame}: {ours}"
            tally["decoded"] += 1
    tally["pcapkit only"] = len(set(mine) - set(theirs))
    named = {k: n for (name, k), n in REASSEMBLED_DIFFERENT.items() if name == path.name}
    assert {k: n for k, n in tally.items()
            if n and k not in ("decoded", "link type not decoded")} == named, tally

"""`pcapkit show` through dpkt (tshark absent, or `--dissector dpkt`), with the real tshark as
the oracle: frame by frame, the HTTP status codes and request methods dpkt gives agree with
tshark's HTTP dissector on the lab captures that carry HTTP (inside VXLAN too), the DNS ids and
rcodes with tshark's DNS, the TLS records with tshark's TLS on Zeek's STARTTLS and Geneve
captures; the status lines are the ones the lab's client received (truth.jsonl). Without tshark
on the PATH, the command says dpkt spoke and exits 0."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dpkt
import polars as pl
import pytest

from pcapkit.cli.app import run
from pcapkit.errors import CaptureError
from pcapkit.read import read_capture
from pcapkit.wireshark.app_layers import Stream
from pcapkit.wireshark.decode_as import decode_as
from pcapkit.wireshark.dpkt_show import frame_lines, show_frames_dpkt
from tests.conftest import (
    REPO,
    SAMPLES,
    ZEEK_CORPUS,
    corpus_captures,
    needs_corpus,
    needs_tshark,
    sample_captures,
)
from tests.wireshark.lab import SCENARIOS, scenario

#: Zeek's captures of TLS: after STARTTLS in IMAP, POP3 and XMPP, and inside Geneve
TLS_CAPTURES = ["scripts.base.protocols.imap.starttls/imap-starttls.pcap",
                "scripts.base.protocols.pop3.starttls/pop3-starttls.pcap",
                "scripts.base.protocols.xmpp.starttls/xmpp-starttls.pcap",
                "core.tunnels.geneve-47101/geneve-47101.pcap"]
TLS_TYPES = {"change_cipher_spec": "20", "alert": "21", "handshake": "22",
             "application_data": "23"}


def dpkt_lines(path: Path) -> dict[int, str]:
    """Every frame of `path` as `pcapkit show` prints it through dpkt, by frame number."""
    frames = read_capture(str(path)).records.frame.tolist()
    lines = list(show_frames_dpkt([str(path)], {0: frames}))[1:]
    return {int(line.split()[1]): line for line in lines}


def tshark_fields(path: Path, display_filter: str, fields: list[str],
                  decode: list[str]) -> Iterator[list[list[str]]]:
    """Each frame `display_filter` shows: its `fields`, every occurrence of each."""
    flags = [arg for d in decode for arg in ("-d", d)]
    out = subprocess.run(
        ["tshark", "-r", str(path), *flags, "-Y", display_filter, "-T", "fields",
         "-E", "occurrence=a", "-E", "aggregator=,", *(a for f in fields for a in ("-e", f))],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        yield [v.split(",") if v else [] for v in line.split("\t")]


def lab_captures(name: str) -> Iterator[tuple[Path, list[str]]]:
    """A scenario's captures, each with the decode-as flags tshark needs to see in its tunnels."""
    s = scenario(name)
    for index, info in enumerate(s.analysis.captures):
        packets = s.analysis.packets.filter(pl.col("capture") == index)
        yield Path(info.path), decode_as(packets)


@needs_tshark()
@pytest.mark.tshark
@pytest.mark.parametrize("name", SCENARIOS)
def test_http_and_dns_agree_with_tshark(name: str) -> None:
    """HTTP status codes and methods, DNS ids and rcodes, frame by frame; not the DNS quoted in
    ICMP errors, which tshark dissects too."""
    for path, decode in lab_captures(name):
        theirs = {int(frame[0]): tuple(sorted(v) for v in values) for frame, *values in
                  tshark_fields(path, "(http || dns) && !icmp && !icmpv6 && !_ws.malformed",
                                ["frame.number", "http.response.code", "http.request.method",
                                 "dns.id", "dns.flags.rcode"], decode)}
        said = {frame: tuple(sorted(re.findall(pattern, line)) for pattern in (
                    r"http status (\d+)", r"http (\S+) uri", r"dns id (0x[0-9a-f]+)",
                    r"rcode (\d+)"))
                for frame, line in dpkt_lines(path).items() if " http " in line or "dns id" in line}
        # Named difference: a node's `-i any` capture holds a TCP segment once per interface it
        # crossed: tshark dissects the DNS message in every copy, dpkt (reassembling the stream,
        # copies left out) in the first only.
        copies = {frame for frame, values in theirs.items() if frame not in said
                  and "-any" in path.name and values[2]
                  and any(f < frame and v == values for f, v in said.items())}
        assert said == {f: v for f, v in theirs.items() if f not in copies}, path


@pytest.mark.parametrize("name", SCENARIOS)
def test_http_status_as_the_lab_client_got_it(name: str) -> None:
    """Each HTTP exchange a lab client pod made (truth.jsonl: its port, the status line it
    received) is in that pod's capture as dpkt dissects it: that status, to that port."""
    truth = [json.loads(line) for line in (SAMPLES / name / "truth.jsonl").open()]
    exchanges = [t for t in truth if t.get("op") == "http" and t.get("client_pod")
                 and str(t.get("detail", "")).startswith("HTTP/")]
    if not exchanges:
        pytest.skip(f"{name}: no lab client pod made an HTTP exchange")
    for t in exchanges:
        pod = SAMPLES / name / f"pod-{t['client_pod'].split('/')[1]}.pcap"
        status = t["detail"].split()[1]
        assert any(f"→ {t['client']}" in line and f"http status {status} " in line
                   for line in dpkt_lines(pod).values()), t


@needs_corpus()
@needs_tshark()
@pytest.mark.tshark
@pytest.mark.parametrize("name", TLS_CAPTURES)
def test_tls_agrees_with_tshark(name: str) -> None:
    """Each frame's TLS record types, and the handshake messages sent in the clear."""
    path = ZEEK_CORPUS / name
    handshakes = {n: str(t) for t, (n, _) in dpkt.ssl.HANDSHAKE_TYPES.items()}
    ours = dpkt_lines(path)
    theirs = {int(frame[0]): (set(types), set(hs)) for frame, types, hs in tshark_fields(
        path, "tls.record", ["frame.number", "tls.record.content_type", "tls.handshake.type"],
        [])}
    said = {}
    for frame, line in ours.items():
        records = re.findall(r"tls (\w+)(?: (\w+))?", line)
        if records:
            said[frame] = ({TLS_TYPES[kind] for kind, _ in records},
                           {handshakes[m] for kind, m in records if m in handshakes})
    assert said == theirs
    assert any("21" in types for types, _ in said.values())  # each ends with an alert


#: (message, what dpkt's line says of it): the RFCs' bytes, not pcapkit's output
MESSAGES = [
    (b"GET /bytes/64 HTTP/1.1\r\nHost: web\r\n\r\n", ["http GET uri /bytes/64"]),
    (b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc",
     ["http status 404 phrase Not Found"]),
    (b"\x15\x03\x03\x00\x02\x02\x28", ["tls alert fatal handshake_failure"]),  # RFC 8446 §6
]


@pytest.mark.parametrize(("message", "said"), MESSAGES)
def test_a_message_cut_anywhere_is_said_once_when_whole(message: bytes, said: list[str]) -> None:
    """Cut in two segments at every byte, sent twice (a copy from another interface): said on
    the segment that completes it, and only there, as Wireshark's reassembly does."""
    for cut in range(1, len(message)):
        stream = Stream(dns=False)
        first, rest = message[:cut], message[cut:]
        assert stream.segment(7, first) == []
        assert stream.segment(7, first) == []
        assert stream.segment(7 + cut, rest) == said, cut
        assert stream.segment(7 + cut, rest) == []


@needs_corpus()
def test_dpkt_reads_every_capture() -> None:
    """Hostile input: every frame of both corpora (many malformed on purpose: a Content-Length
    of 2**64, cut headers…) and of the lab gets its line; nothing escapes."""
    read = 0
    for path in corpus_captures() + sample_captures():
        try:
            capture = read_capture(str(path))
        except CaptureError:
            continue  # refused by the reader, as `analyze` refuses it
        numbers = [int(line.split()[1]) for line in frame_lines(capture)]
        assert numbers == capture.records.frame.tolist(), path
        read += 1
    assert read


def test_show_without_tshark_speaks_through_dpkt() -> None:
    """tshark hidden from the PATH: `show` says dpkt spoke, dissects, and exits 0."""
    folder = SAMPLES / "nxdomain_storm"
    captures = sorted(str(p) for p in folder.glob("*.pcap"))
    env = {"PATH": "/nonexistent", "PYTHONPATH": str(REPO), "HOME": os.environ.get("HOME", "/")}
    done = subprocess.run([sys.executable, "-m", "pcapkit", "show", *captures, "--k8s",
                           str(folder / "snapshot.json"), "-n", "1"],
                          env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("pcapkit symptom 1: nxdomain_storm")
    assert lines[1].startswith(f"dissector: dpkt {dpkt.__version__} (tshark not found)")
    assert any("rcode 3 (nxdomain)" in line for line in lines[2:])


def test_cli_show_dissector_dpkt(capsys: pytest.CaptureFixture[str]) -> None:
    """`--dissector dpkt` chooses dpkt whether tshark is installed or not; the ICMP errors of
    the stale endpoint (inside VXLAN on 8472 in the node captures) are read through it."""
    folder = SAMPLES / "stale_endpoint"
    analysed = scenario("stale_endpoint")  # numbered as the command numbers them
    number = next(i for i, f in enumerate(analysed.symptoms, 1)
                  if f["kind"] == "icmp_unreachable")
    assert run(["show", *map(str, analysed.captures), "--k8s", str(folder / "snapshot.json"),
                "-n", str(number), "--dissector", "dpkt"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (f"dissector: dpkt {dpkt.__version__} (as asked): HTTP, HTTP/2, TLS "
                        "and DNS, no expert analysis")
    assert any("/vxlan/ip/icmp " in line and "icmp type 3" in line for line in lines)

"""HTTP/2 and gRPC in `pcapkit show`'s dpkt dissector: HPACK against RFC 7541's own examples and
hostile blocks; the frames of the lab's gRPC sample (h2c, pod, node and underlay captures)
frame by frame against tshark's HTTP/2 dissector (each `-i any` capture split per interface, so
that each frame is dissected once, as its copies are not); each call's failure the lab's
client logged (truth.jsonl) as dpkt's lines say it, tshark or not."""

from __future__ import annotations

import contextlib
import json
import random
import re
import subprocess
from pathlib import Path

import pytest

from pcapkit.wireshark.hpack import MAX_TABLE_SIZE, Decoder, HpackError
from pcapkit.wireshark.http2 import PREFACE, Direction
from tests.conftest import SAMPLES, needs_tshark
from tests.wireshark.test_dpkt_show import dpkt_lines

GRPC = SAMPLES / "grpc_errors"
DECODE_AS = ["tcp.port==50051,http2", "udp.port==8472,vxlan"]
#: RFC 7541 Appendix C: header blocks, the headers each decodes to, the dynamic table's size
#: after it (C.3: requests without Huffman; C.4: the same with Huffman; C.6: responses with
#: Huffman, a 256-byte table, so evictions)
EXAMPLE_REQUESTS = [
    ([(":method", "GET"), (":scheme", "http"), (":path", "/"),
      (":authority", "www.example.com")], 57),
    ([(":method", "GET"), (":scheme", "http"), (":path", "/"),
      (":authority", "www.example.com"), ("cache-control", "no-cache")], 110),
    ([(":method", "GET"), (":scheme", "https"), (":path", "/index.html"),
      (":authority", "www.example.com"), ("custom-key", "custom-value")], 164),
]
RFC_EXAMPLES = {
    "C.3": (4096, ["828684410f7777772e6578616d706c652e636f6d", "828684be58086e6f2d6361636865",
                   "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"],
            EXAMPLE_REQUESTS),
    "C.4": (4096, ["828684418cf1e3c2e5f23a6ba0ab90f4ff", "828684be5886a8eb10649cbf",
                   "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"], EXAMPLE_REQUESTS),
    "C.6": (256, [
        "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad1718"
        "63c78f0b97c8e9ae82ae43d3",
        "4883640effc1c0bf",
        "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b3"
        "35dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007"], [
        ([(":status", "302"), ("cache-control", "private"),
          ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("location", "https://www.example.com")],
         222),
        ([(":status", "307"), ("cache-control", "private"),
          ("date", "Mon, 21 Oct 2013 20:13:21 GMT"), ("location", "https://www.example.com")],
         222),
        ([(":status", "200"), ("cache-control", "private"),
          ("date", "Mon, 21 Oct 2013 20:13:22 GMT"), ("location", "https://www.example.com"),
          ("content-encoding", "gzip"),
          ("set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")], 215),
    ]),
}


@pytest.mark.parametrize("name", RFC_EXAMPLES)
def test_hpack_decodes_the_rfc_examples(name: str) -> None:
    size, blocks, expected = RFC_EXAMPLES[name]
    decoder = Decoder(max_size=size)
    for block, (headers, table_size) in zip(blocks, expected, strict=True):
        assert decoder.decode(bytes.fromhex(block)) == headers
        assert decoder.size == table_size


#: blocks that lie: a string longer than the block, an index past both tables, a Huffman
#: string padded with zeros, an integer that never ends
HOSTILE = ["007f8fffffff0f", "bf", "000141018100", "7fffffffffffffffff"]


@pytest.mark.parametrize("block", HOSTILE)
def test_hpack_refuses_what_lies(block: str) -> None:
    with pytest.raises(HpackError):
        Decoder().decode(bytes.fromhex(block))


def test_hpack_caps_the_table_an_encoder_asks_for() -> None:
    """A size update to 2,080,895 bytes: taken as `MAX_TABLE_SIZE`, and entries past it
    evicted."""
    decoder = Decoder()
    decoder.decode(bytes.fromhex("3fe1ff7f"))
    assert decoder.max_size == MAX_TABLE_SIZE
    big = "40" + "01" + "61" + "7f" + "ff" + "ff" + "03"  # a:  value of 65662 bytes…
    with pytest.raises(HpackError):  # … that the block does not hold
        decoder.decode(bytes.fromhex(big))
    assert decoder.size == 0


def test_hpack_random_blocks_fail_only_as_hpack_errors() -> None:
    """Random bytes: HpackError or headers, never another exception, and a table no larger
    than its cap."""
    rng = random.Random(7541)
    decoder = Decoder()
    for _ in range(3000):
        block = rng.randbytes(rng.randint(1, 40))
        with contextlib.suppress(HpackError):
            decoder.decode(block)
        assert decoder.size <= decoder.max_size <= MAX_TABLE_SIZE


NAMES = {"0": "DATA", "1": "HEADERS", "2": "PRIORITY", "3": "RST_STREAM", "4": "SETTINGS",
         "5": "PUSH_PROMISE", "6": "PING", "7": "GOAWAY", "8": "WINDOW_UPDATE",
         "9": "CONTINUATION"}
SHOWN = (":method", ":path", ":status", "grpc-status", "grpc-message")
#: where a shown header starts in a line's HEADERS message
HEADER_START = re.compile(rf" (?=(?:{'|'.join(SHOWN)}) )")
Said = tuple[list[str], list[str], list[str]]


def tshark_h2(path: Path) -> tuple[dict[int, Said], set[int]]:
    """Each HTTP/2 frame's frames (`TYPE stream`), shown headers and error codes, as tshark
    says them; and the frames where tshark's own dissectors failed (`_ws.malformed`)."""
    flags = [a for d in DECODE_AS for a in ("-d", d)]
    out = subprocess.run(
        ["tshark", "-r", str(path), *flags, "-Y", "http2", "-T", "fields", "-E", "occurrence=a",
         "-E", "aggregator=\x1f", *(a for f in ["frame.number", "http2.type", "http2.streamid",
                                                "http2.header.name", "http2.header.value",
                                                "http2.rst_stream.error", "http2.goaway.error",
                                                "_ws.malformed"] for a in ("-e", f))],
        check=True, capture_output=True, text=True).stdout
    said, broken = {}, set()
    for line in out.splitlines():
        frame, types, streams, names, values, rst, goaway, malformed = (
            v.split("\x1f") if v else [] for v in line.split("\t"))
        number = int(frame[0])
        said[number] = ([f"{NAMES[t]} {s}" for t, s in zip(types, streams, strict=True)],
                        [f"{n} {v}" for n, v in zip(names, values, strict=True) if n in SHOWN],
                        rst + goaway)
        if malformed:
            broken.add(number)
    return said, broken


def dpkt_h2(path: Path) -> dict[int, Said]:
    """The same of each frame, as `pcapkit show` prints it through dpkt."""
    said = {}
    for number, line in dpkt_lines(path).items():
        frames, headers, errors = [], [], []
        for message in line.split("  "):
            frame = re.match(r"http2 (\w+) stream (\d+)(?: end_stream)?", message)
            if frame is None:
                continue
            frames.append(f"{frame[1]} {frame[2]}")
            rest = message[frame.end():]
            if frame[1] in ("HEADERS", "CONTINUATION", "PUSH_PROMISE"):
                headers += [re.sub(r"^(grpc-status \d+) \(\w+\)$", r"\1", h) for h in
                            HEADER_START.split(rest.strip())
                            if h]
            errors += re.findall(r" error (\d+) ", rest)
        if frames:
            said[number] = (frames, headers, errors)
    return said


def interfaces(path: Path, folder: Path) -> list[Path]:
    """A `-i any` (SLL2) capture split into one capture per interface (`sll.ifindex`)."""
    found = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "sll.ifindex"],
                           check=True, capture_output=True, text=True).stdout.split()
    parts = []
    for index in sorted(set(found), key=int):
        part = folder / f"{path.stem}-if{index}.pcap"
        subprocess.run(["tshark", "-r", str(path), "-Y", f"sll.ifindex=={index}", "-F", "pcap",
                        "-w", str(part)], check=True, capture_output=True)
        parts.append(part)
    return parts


@needs_tshark()
@pytest.mark.tshark
@pytest.mark.parametrize("name", [p.name for p in sorted(GRPC.glob("*.pcap"))
                                  if "-any-v1" not in p.name])
def test_h2_agrees_with_tshark(name: str, tmp_path: Path) -> None:
    """Frame by frame: the HTTP/2 frames and their streams, `:method :path :status`,
    `grpc-status grpc-message`, RST_STREAM and GOAWAY error codes. Named difference: tshark
    4.0's gRPC dissector fails an assertion (`_ws.malformed`) on a response whose request it
    did not see (an interface where DNAT gives the two directions different addresses), and
    stops dissecting that frame; dpkt keeps each direction's state apart, so those frames are
    only checked to be said."""
    path = GRPC / name
    compared = 0
    for part in interfaces(path, tmp_path) if name.endswith("-any.pcap") else [path]:
        theirs, broken = tshark_h2(part)
        ours = dpkt_h2(part)
        assert ours.keys() == theirs.keys(), part
        assert {f: s for f, s in ours.items() if f not in broken} == \
               {f: s for f, s in theirs.items() if f not in broken}, part
        compared += len(theirs)
    assert compared


def test_grpc_failures_as_the_lab_client_got_them() -> None:
    """Each call the lab's client made (truth.jsonl: its port, what came back) is said on the
    reply to that port in the client pod's capture: the grpc-status and message, the stream
    reset, the GOAWAY; and each request's `:path`. No tshark needed."""
    truth = [json.loads(line) for line in (GRPC / "truth.jsonl").open()]
    calls = [t for t in truth if t.get("op") == "grpc"]
    assert calls
    lines = dpkt_lines(next(GRPC.glob("pod-*.pcap")))
    for t in calls:
        to_client = " ".join(line for line in lines.values() if f"→ {t['client']}" in line)
        from_client = " ".join(line for line in lines.values() if f"{t['client']} →" in line)
        for said in t["detail"].split("; "):
            method, _, outcome = said.partition(": ")
            if method.startswith("GOAWAY"):
                code, debug = method.split()[1:]
                assert re.search(rf"http2 GOAWAY stream 0 last_stream \d+ error {code} ",
                                 to_client), (t, debug)
                continue
            assert f":path /lab.Greeter/{method}" in from_client
            if outcome.startswith("RST_STREAM"):
                assert re.search(rf"RST_STREAM stream \d+ error {outcome.split()[1]} ",
                                 to_client), t
            else:
                status = outcome.split()[1]
                assert f"grpc-status {status} (" in to_client, t
                message = re.search(r"\((.*)\)", outcome)
                if message:
                    assert f"grpc-message {message.group(1)}" in to_client, t


def test_random_frames_are_each_said() -> None:
    """Frames of every type (known or not), any flags, stream ids and payloads after a
    preface: each whole frame gets its words, a broken one says so, nothing raises."""
    rng = random.Random(9113)
    for _ in range(2000):
        frames = [rng.randbytes(rng.randint(0, 40)) for _ in range(rng.randint(1, 6))]
        buf = PREFACE + b"".join(
            len(p).to_bytes(3, "big") + bytes([rng.randint(0, 12), rng.randint(0, 255)])
            + rng.randbytes(4) + p for p in frames)
        said, used = Direction().frames(buf)
        assert used == len(buf)
        assert len(said) == len(frames)
        assert all(s.startswith("http2 ") for s in said)

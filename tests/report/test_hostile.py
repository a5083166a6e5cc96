"""Strings an attacker controls, in a capture pcapkit is given: DNS query names, interface names,
packet comments and the file's own name. The Markdown report shows them as characters (no link,
no HTML, no table cell cut short), the terminal report without control characters; golden
Markdown and text, regenerated like the others (`PCAPKIT_UPDATE_GOLDEN=1`).

The capture is built here, byte by byte (`struct`), and written with pcapkit's pcapng writer:
an NXDOMAIN storm whose names are hostile, on interfaces with hostile names.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

import pcapkit
from pcapkit.report import render_markdown, render_text
from pcapkit.wireshark.pcapng import Interface, Packet, write_pcapng
from tests.report.test_golden import GOLDEN, UPDATE

HOSTILE_NAMES = [
    "<script>alert(1)</script>.x|y*z_[a](b)",
    "[click](https://evil.example)#h.`code`",
    "!<img src=x onerror=alert(1)>&amp;.evil",
]
INTERFACES = ["eth0\x1b[31m<b>|x|</b>\x1b[0m", "[if](https://evil.example)*_\u202eabc"]
FILE_NAME = "evil_[a](b)|c*d.pcapng"
T0 = 1_795_760_161_000_000_000


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _udp_frame(src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                       bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    ip = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp


def _dns(txid: int, name: str, response: bool) -> bytes:
    qname = b"".join(bytes([len(label)]) + label
                     for label in (p.encode() for p in name.split("."))) + b"\0"
    flags = 0x8183 if response else 0x0100  # response NXDOMAIN / query, recursion desired
    return struct.pack("!HHHHHH", txid, flags, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)


def hostile_capture(path: Path) -> None:
    packets = []
    for i in range(8):
        name = HOSTILE_NAMES[i % len(HOSTILE_NAMES)]
        port, ts = 40000 + i, T0 + i * 100_000_000
        query = _udp_frame("10.244.1.10", port, "10.96.0.10", 53, _dns(0x1000 + i, name, False))
        answer = _udp_frame("10.96.0.10", 53, "10.244.1.10", port, _dns(0x1000 + i, name, True))
        for frame, at in ((query, ts), (answer, ts + 2_000_000)):  # all on the first
            packets.append(Packet(0, at, frame, len(frame),
                                  f"comment <b>{name}</b>\x1b[2J"))
    with path.open("wb") as out:
        write_pcapng(out, [Interface(1, name) for name in INTERFACES], packets,
                     "[app](https://evil.example)")


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)  # the report names the capture as given: its bare file name
    hostile_capture(Path(FILE_NAME))
    result = pcapkit.analyze([FILE_NAME])
    assert result.symptoms["kind"].to_list() == ["nxdomain_storm"]
    return {"md": render_markdown(result), "txt": render_text(result)}


def test_markdown_shows_hostile_strings_as_text(reports: dict[str, str]) -> None:
    text = reports["md"]
    assert "<" not in text and ">" not in text.replace("→", "")  # no HTML at all
    assert "](" not in text  # no link
    assert "\x1b" not in text
    # Every table row has as many cells as its header: no `|` from a capture cut one short.
    for table in re.findall(r"(?:^\|.*\|$\n?)+", text, flags=re.M):
        rows = table.strip().splitlines()
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
        assert len(widths) == 1, rows
    assert r"evil\_\[a\]\(b\)\|c\*d.pcapng" in text


def test_terminal_shows_no_control_characters(reports: dict[str, str]) -> None:
    text = reports["txt"]
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]", text)
    assert "\\x1b[31m" in text  # the interface name, shown with its escape spelled out
    assert "[if](https://evil.example)" in text  # rich markup is not interpreted


@pytest.mark.parametrize("ext", ["md", "txt"])
def test_hostile_golden(reports: dict[str, str], ext: str) -> None:
    baseline = GOLDEN / f"hostile.{ext}"
    if UPDATE:
        baseline.write_text(reports[ext])
        return
    assert reports[ext] == baseline.read_text(), f"{baseline} differs (see test_golden.py)"

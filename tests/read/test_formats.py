"""The reader on real files in every container variant it accepts, each checked against
Wireshark's reading of the same file (tshark, capinfos) or of the original it was made from.

Variants are made from a real capture with editcap (microsecond and nanosecond pcap), by
byte-swapping the headers here (the two big-endian magics, laid out from the pcap spec), with
gzip, by cutting the file short; the several-interface pcapng is recorded for real with dumpcap
on loopback.
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from pcapkit.codes import LinkType
from pcapkit.errors import CaptureError
from pcapkit.read import Capture, read_capture
from tests.conftest import TCPDUMP_CORPUS, needs_corpus

#: a real capture with several records of different sizes and times
ORIGINAL = TCPDUMP_CORPUS / "vxlan.pcap"
PCAP_HEADER, RECORD_HEADER = 24, 16

needs_wireshark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("tshark", "editcap", "capinfos")),
    reason="tshark/editcap/capinfos not installed",
)


def tshark_frames(path: Path) -> list[tuple[int, int, int, int]]:
    """(interface id, time in ns, captured length, wire length) of every frame, per tshark
    (which prints no interface id for pcap files: their one interface is 0)."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "--disable-protocol", "ALL", "-T", "fields",
         "-e", "frame.interface_id", "-e", "frame.time_epoch", "-e", "frame.cap_len",
         "-e", "frame.len"],
        capture_output=True, text=True, check=False,
    ).stdout
    return [(int(i or 0), int(Decimal(t) * 1_000_000_000), int(c), int(n))
            for i, t, c, n in (line.split("\t") for line in out.splitlines())]


def frames_of(capture: Capture) -> list[tuple[int, int, int, int]]:
    r = capture.records
    return list(zip(r.iface.tolist(), r.ts_ns.tolist(), r.caplen.tolist(), r.origlen.tolist(),
                    strict=True))


def packets_of(capture: Capture) -> list[bytes]:
    return [capture.packet(i) for i in range(len(capture.records))]


def byte_swapped(little: bytes) -> bytes:
    """A little-endian pcap file rewritten big-endian: every header integer swapped, data kept."""
    magic, major, minor, zone, sigfigs, snaplen, network = struct.unpack_from("<IHHiIII", little)
    out = [struct.pack(">IHHiIII", magic, major, minor, zone, sigfigs, snaplen, network)]
    pos = PCAP_HEADER
    while pos < len(little):
        sec, frac, caplen, origlen = struct.unpack_from("<IIII", little, pos)
        out.append(struct.pack(">IIII", sec, frac, caplen, origlen))
        out.append(little[pos + RECORD_HEADER : pos + RECORD_HEADER + caplen])
        pos += RECORD_HEADER + caplen
    return b"".join(out)


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The original in the four pcap magics."""
    work = tmp_path_factory.mktemp("magics")
    made = {"usec-le": work / "usec-le.pcap", "nsec-le": work / "nsec-le.pcap"}
    subprocess.run(["editcap", "-F", "pcap", str(ORIGINAL), str(made["usec-le"])], check=True)
    subprocess.run(["editcap", "-F", "nsecpcap", str(ORIGINAL), str(made["nsec-le"])], check=True)
    for kind in ("usec", "nsec"):
        big = work / f"{kind}-be.pcap"
        big.write_bytes(byte_swapped(made[f"{kind}-le"].read_bytes()))
        made[f"{kind}-be"] = big
    return made


@needs_corpus()
@needs_wireshark
def test_four_magics_read_alike_and_as_tshark_reads_the_original(
    variants: dict[str, Path],
) -> None:
    magics = {name: path.read_bytes()[:4].hex() for name, path in variants.items()}
    assert magics == {"usec-le": "d4c3b2a1", "nsec-le": "4d3cb2a1",
                      "usec-be": "a1b2c3d4", "nsec-be": "a1b23c4d"}
    expected = tshark_frames(ORIGINAL)
    original = packets_of(read_capture(ORIGINAL))
    for name, path in variants.items():
        capture = read_capture(path)
        assert capture.big_endian == name.endswith("be"), name
        assert frames_of(capture) == expected, name
        assert packets_of(capture) == original, name
        # tshark reads the swapped files the same way: the test's swapping is right.
        assert tshark_frames(path) == expected, name


@needs_corpus()
@needs_wireshark
def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    packed = gzip.compress(ORIGINAL.read_bytes())
    as_gz, as_pcap = tmp_path / "trace.pcap.gz", tmp_path / "trace.pcap"
    as_gz.write_bytes(packed)
    as_pcap.write_bytes(packed)
    expected = tshark_frames(ORIGINAL)
    for path in (as_gz, as_pcap):
        capture = read_capture(path)
        assert capture.compressed
        assert frames_of(capture) == expected == tshark_frames(path)
        assert capture.warnings == []


@needs_corpus()
@needs_wireshark
def test_capture_cut_short_reads_the_whole_records(tmp_path: Path) -> None:
    data = ORIGINAL.read_bytes()
    whole = tshark_frames(ORIGINAL)
    # Cut in the middle of the last record's data, then inside the last record's header.
    last_start = len(data) - (RECORD_HEADER + whole[-1][2])
    for cut_at in (len(data) - 3, last_start + 5):
        cut = tmp_path / f"cut-{cut_at}.pcap"
        cut.write_bytes(data[:cut_at])
        capture = read_capture(cut)
        assert frames_of(capture) == whole[:-1]
        assert any("cut short" in w for w in capture.warnings)
        # Wireshark reads the same whole records before complaining.
        assert tshark_frames(cut) == whole[:-1]


def _garbage(tmp: Path) -> Path:
    path = tmp / "notes.pcap"
    path.write_bytes(b"these are my notes, not a capture\n" * 10)
    return path


def _empty(tmp: Path) -> Path:
    path = tmp / "empty.pcap"
    path.write_bytes(b"")
    return path


def _directory(tmp: Path) -> Path:
    path = tmp / "captures.pcap"
    path.mkdir()
    return path


def _missing(tmp: Path) -> Path:
    return tmp / "nowhere.pcap"


def _gzip_garbage(tmp: Path) -> Path:
    path = tmp / "notes.pcap.gz"
    path.write_bytes(gzip.compress(b"not a capture either" * 20))
    return path


@pytest.mark.parametrize("make", [_garbage, _empty, _directory, _missing, _gzip_garbage])
def test_not_a_capture_is_one_line_naming_the_file(make: object, tmp_path: Path) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(CaptureError) as caught:
        read_capture(path)
    message = str(caught.value)
    assert message.startswith(str(path) + ": ")
    assert "\n" not in message


@pytest.fixture(scope="module")
def two_interfaces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pcapng recorded for real on `lo` (Ethernet) and `any` (LINUX_SLL2) at once, while
    this process sends a few UDP datagrams to itself over loopback (nothing leaves the host)."""
    if os.geteuid() != 0 or shutil.which("dumpcap") is None:
        pytest.skip("recording needs root and dumpcap")
    path = tmp_path_factory.mktemp("dumpcap") / "lo-and-any.pcapng"

    def send() -> None:
        time.sleep(0.5)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for size in (10, 20, 30, 40):
                s.sendto(b"x" * size, ("127.0.0.1", 9))
                time.sleep(0.05)

    sender = threading.Thread(target=send)
    sender.start()
    subprocess.run(
        ["dumpcap", "-q", "-i", "lo", "-i", "any", "-y", "LINUX_SLL2", "-f", "udp port 9",
         "-a", "duration:1", "-w", str(path)],
        check=True, capture_output=True, timeout=30,
    )
    sender.join()
    return path


@needs_wireshark
def test_pcapng_with_two_interfaces_and_link_types(two_interfaces: Path) -> None:
    capture = read_capture(two_interfaces)
    info = subprocess.run(["capinfos", "-I", str(two_interfaces)], capture_output=True,
                          text=True, check=True).stdout
    # capinfos names each interface's encapsulation, in order: "(1 - ether)", "(210 - linux-sll2)"
    names = [line.rsplit(" - ", 1)[1].rstrip(")") for line in info.splitlines()
             if "Encapsulation =" in line]
    wiretap = {"ether": LinkType.EN10MB, "linux-sll2": LinkType.LINUX_SLL2}
    assert [i.link_type for i in capture.interfaces] == [wiretap[n] for n in names]
    assert len(capture.interfaces) == 2
    frames = frames_of(capture)
    assert frames == tshark_frames(two_interfaces)
    assert {iface for iface, *_ in frames} == {0, 1}


def test_reserved_link_type_bits_are_ignored_as_libpcap_does(tmp_path: Path) -> None:
    """The header's 32-bit link-type field holds the link type in its low 16 bits; bits 16-25
    are reserved (libpcap's LT_LINKTYPE masks them off). A set reserved bit is not a link type
    of 65,537 (which once failed the decoder's 16-bit column)."""
    sample = Path(__file__).resolve().parents[2] / "samples" / "not_listening"
    data = bytearray((sample / "pod-client-7c9f8b6d5-h2m4k.pcap").read_bytes())
    data[22] |= 0x01  # bit 16 of the little-endian link-type field
    path = tmp_path / "reserved.pcap"
    path.write_bytes(bytes(data))
    assert read_capture(path).link_types == [LinkType.EN10MB]

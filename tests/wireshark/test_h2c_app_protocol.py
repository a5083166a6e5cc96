"""A capture that starts mid-connection holds no HTTP/2 preface: `show` decodes it as HTTP/2
all the same when the snapshot's Service port declares `appProtocol: kubernetes.io/h2c`, through
dpkt (the client's HPACK table unknown, the server's known from its first SETTINGS) and through
tshark (`-d tcp.port==P,http2`), and the two say the same frames as tshark told by hand.

The lab's gRPC calls (`samples/grpc_errors`), each connection's frames from the one after the
client's preface on (`editcap -r`), in a temporary directory."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import dpkt
import pytest

from pcapkit.cli.app import run
from pcapkit.read import read_capture
from pcapkit.wireshark.http2 import PREFACE
from tests.conftest import SAMPLES, needs_tshark
from tests.wireshark.test_show_flow import GRPC, grpc_attempts

SNAPSHOT = SAMPLES / GRPC / "snapshot.json"
POD = next((SAMPLES / GRPC).glob("pod-*.pcap"))
#: an HTTP/2 frame as both dissectors' lines say it
FRAME = re.compile(r"http2 ([A-Z_]+) stream (\d+)(?: end_stream)?(?:[^h]*?error (\d+))?")


def _greeter_port() -> int:
    """The gRPC Service's port whose `appProtocol` the lab's snapshot declares h2c."""
    items = json.loads(SNAPSHOT.read_text())["items"]
    (port,) = [p["port"] for i in items if i["kind"] == "Service"
               and i["metadata"]["name"] == "greeter" for p in i["spec"]["ports"]
               if p.get("appProtocol") == "kubernetes.io/h2c"]
    return int(port)


def _preface_frame(client_port: int) -> int:
    """The frame of `POD` whose TCP payload starts with the client's preface."""
    capture = read_capture(str(POD))
    recs = capture.records
    for number, offset, caplen in zip(recs.frame.tolist(), recs.offset.tolist(),
                                      recs.caplen.tolist(), strict=True):
        ip = dpkt.ethernet.Ethernet(bytes(capture.buffer[offset : offset + caplen])).data
        tcp = getattr(ip, "data", None)
        if isinstance(tcp, dpkt.tcp.TCP) and tcp.sport == client_port \
                and bytes(tcp.data).startswith(PREFACE):
            return int(number)
    raise AssertionError(f"no preface from port {client_port}")


def _cut(tmp_path: Path, client_port: int) -> Path:
    out = tmp_path / f"mid-{client_port}.pcap"
    first = _preface_frame(client_port) + 1
    subprocess.run(["editcap", "-r", str(POD), str(out), f"{first}-1000000"], check=True,
                   capture_output=True)
    return out


def _show(capsys: pytest.CaptureFixture[str], *args: str) -> dict[int, str]:
    """`pcapkit show`'s lines for frames, by frame number."""
    assert run(["show", *args]) == 0
    lines = capsys.readouterr().out.splitlines()[3:]
    return {int(line.split()[1]): line for line in lines}


def _said(line: str) -> list[tuple[str, int, int | None]]:
    return [(kind, int(stream), int(error) if error else None)
            for kind, stream, error in FRAME.findall(line)]


def _tshark(path: Path, port: int, client_port: int) -> dict[int, list[tuple[str, int,
                                                                              int | None]]]:
    """tshark's HTTP/2 frames per frame number, told by hand that `port` is HTTP/2."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-d", f"tcp.port=={port},http2", "-Y",
         f"tcp.port=={client_port} && http2.type", "-T", "fields", "-E", "occurrence=a",
         "-e", "frame.number", "-e", "http2.type", "-e", "http2.streamid",
         "-e", "http2.rst_stream.error", "-e", "http2.goaway.error"],
        check=True, capture_output=True, text=True).stdout
    frames = {}
    for line in out.splitlines():
        number, kinds, streams, rst, goaway = line.split("\t")
        errors = [int(e) for e in (rst + "," + goaway).split(",") if e]
        said = []
        for kind, stream in zip(kinds.split(","), streams.split(","), strict=True):
            name = dpkt.http2.FRAME_TYPES[int(kind)][0]
            error = errors.pop(0) if name in ("RST_STREAM", "GOAWAY") else None
            said.append((name, int(stream), error))
        frames[int(number)] = said
    return frames


def test_lab_snapshot_declares_h2c() -> None:
    assert _greeter_port() == 50051


@needs_tshark()
@pytest.mark.tshark
@pytest.mark.parametrize("attempt", grpc_attempts(), ids=lambda a: a["client"])
def test_mid_connection_h2c_from_app_protocol(attempt: dict[str, str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    port = _greeter_port()
    client_ip, client_port = attempt["client"].split(":")
    cut = _cut(tmp_path, int(client_port))
    flow = ["--flow", f"{attempt['client']}-{attempt['resolved']}/tcp"]
    theirs = _tshark(cut, port, int(client_port))
    assert any(kind == "RST_STREAM" for said in theirs.values() for kind, *_ in said)
    for dissector in ("dpkt", "tshark"):
        lines = _show(capsys, str(cut), "--k8s", str(SNAPSHOT), *flow, "--dissector", dissector)
        ours = {n: _said(line) for n, line in lines.items() if _said(line)}
        assert ours == theirs, dissector
        text = "\n".join(lines.values())
        assert "grpc-status 14 (unavailable) grpc-message no ready endpoint" in text
        assert "RST_STREAM stream 5 error 2 (internal_error)" in text
        assert "GOAWAY stream 0 last_stream 7 error 11 (enhance_your_calm)" in text
    # dpkt: the client's header blocks need the HPACK table the preface's side built
    sent = f"{client_ip}:{client_port} →"
    declared = _show(capsys, str(cut), "--k8s", str(SNAPSHOT), *flow, "--dissector", "dpkt")
    requests = [line for line in declared.values() if sent in line and "HEADERS" in line]
    assert requests and all("(headers not decoded: HPACK table lost)" in r for r in requests)
    # without the snapshot, the client's side is not told HTTP/2 from its first frames (dpkt
    # recognises it at its SETTINGS acknowledgement, tshark never)
    said = {n for n, line in declared.items() if sent in line and "http2" in line}
    for dissector in ("dpkt", "tshark"):
        bare = _show(capsys, str(cut), *flow, "--dissector", dissector)
        assert {n for n, line in bare.items() if sent in line and "http2" in line} < said

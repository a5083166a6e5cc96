"""`pcapkit show --flow` and `--conn`: a whole conversation, from every capture. The frames shown
are the ones tshark's own display filter for the client socket shows (`ip.addr==C &&
tcp.port==P`, VXLAN decoded); both spellings of a flow select the same; a connection id shows
every leg the analysis joined into it (a NodePort's masqueraded one too); the lab's gRPC
failures are said through dpkt and, with cleartext HTTP/2 found and decoded, through tshark."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pcapkit.cli.app import run
from pcapkit.wireshark.flows import Flow, parse_flow
from tests.conftest import REPO, SAMPLES, needs_tshark
from tests.wireshark.lab import scenario, shown_frames, tshark_frames, tshark_table

GRPC = "grpc_errors"


def show(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert run(["show", *args]) == 0
    return capsys.readouterr().out.splitlines()


def grpc_attempts() -> list[dict[str, str]]:
    truth = [json.loads(line) for line in (SAMPLES / GRPC / "truth.jsonl").open()]
    return [t for t in truth if t.get("op") == "grpc"]


@pytest.mark.parametrize("spelling", ["{c}-{s}/tcp", "tcp {c} {s}"])
def test_flow_spellings(spelling: str) -> None:
    assert parse_flow(spelling.format(c="10.244.1.10:40001", s="10.96.0.92:50051")) == \
        Flow("tcp", "10.244.1.10", 40001, "10.96.0.92", 50051)
    assert parse_flow(spelling.format(c="[fd00::1]:40001", s="[fd00::a]:53").replace(
        "tcp", "udp")) == Flow("udp", "fd00::1", 40001, "fd00::a", 53)


@needs_tshark()
@pytest.mark.tshark
def test_flow_frames_are_the_client_sockets(capsys: pytest.CaptureFixture[str]) -> None:
    """Each capture's frames shown for a gRPC connection are those tshark shows for its client
    socket: both directions, every interface, inside VXLAN, past DNAT."""
    s = scenario(GRPC)
    paths = [c.path for c in s.analysis.captures]
    for attempt in grpc_attempts():
        ip, port = attempt["client"].split(":")
        lines = show(capsys, *paths, "--flow", f"{attempt['client']}-{attempt['resolved']}/tcp",
                     "--dissector", "dpkt")
        assert lines[0] == f"pcapkit flow {attempt['client']}-{attempt['resolved']}/tcp"
        theirs = {i: sorted(tshark_frames(Path(p), f"ip.addr=={ip} && tcp.port=={port}",
                                          ["udp.port==8472,vxlan"]))
                  for i, p in enumerate(paths)}
        assert shown_frames(paths, lines[2:]) == {i: f for i, f in theirs.items() if f}


def test_flow_says_each_grpc_failure_without_tshark(capsys: pytest.CaptureFixture[str]) -> None:
    """The client pod's capture alone, dpkt: the calls' failures, as the client logged them."""
    pod = str(next((SAMPLES / GRPC).glob("pod-*.pcap")))
    for attempt in grpc_attempts():
        out = "\n".join(show(capsys, pod, "--flow", f"tcp {attempt['client']} "
                             f"{attempt['resolved']}", "--dissector", "dpkt"))
        assert "grpc-status 14 (unavailable) grpc-message no ready endpoint" in out
        assert "RST_STREAM stream 5 error 2 (internal_error)" in out
        assert "GOAWAY stream 0 last_stream 7 error 11 (enhance_your_calm)" in out
        assert "Unavailable: grpc-status 14" in attempt["detail"]


@needs_tshark()
@pytest.mark.tshark
def test_flow_through_tshark_decodes_h2c(capsys: pytest.CaptureFixture[str]) -> None:
    """tshark dissects HTTP/2 on no port by itself: show tells it where cleartext HTTP/2 was
    seen, and tshark's lines say the same failures."""
    pod = str(next((SAMPLES / GRPC).glob("pod-*.pcap")))
    attempt = grpc_attempts()[0]
    out = "\n".join(show(capsys, pod, "--flow", f"{attempt['client']}-{attempt['resolved']}/tcp",
                         "--dissector", "tshark"))
    assert "grpc-status 14 (unavailable) grpc-message no ready endpoint" in out
    assert "http2 RST_STREAM stream 5 error 2 (internal_error)" in out
    assert "http2 GOAWAY stream 0 last_stream 7 error 11 (enhance_your_calm)" in out


@pytest.mark.parametrize("name", [GRPC, "nodeport"])
def test_conn_shows_every_leg(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`--conn N`: the frames of each 5-tuple the connection table gives connection N, in
    every capture; the same as `--flow` of its legs together."""
    s = scenario(name)
    paths = [c.path for c in s.analysis.captures]
    connections = s.analysis.tables.connections
    conn = int(connections.sort("conn")["conn"][0])
    legs = connections.filter(pl.col("conn") == conn).select(
        "client_ip", "client_port", "server_ip", "server_port").unique().rows()
    if name == "nodeport":  # masqueraded past the node: a second client socket
        assert len({(ip, port) for ip, port, *_ in legs}) == 2
    lines = show(capsys, *paths, "--k8s", str(SAMPLES / name / "snapshot.json"),
                 "--conn", str(conn), "--dissector", "dpkt")
    assert lines[0].startswith(f"pcapkit connection {conn}: ")
    shown = shown_frames(paths, lines[2:])
    union: dict[int, set[int]] = {}
    for ci, cp, si, sp in legs:
        one = shown_frames(paths, show(capsys, *paths, "--flow", f"{ci}:{cp}-{si}:{sp}/tcp",
                                       "--dissector", "dpkt")[2:])
        for capture, frames in one.items():
            union.setdefault(capture, set()).update(frames)
    assert shown == {c: sorted(f) for c, f in union.items()}


@pytest.mark.parametrize("args", [[], ["-n", "1", "--flow", "tcp 1.2.3.4:1 5.6.7.8:2"],
                                  ["--flow", "tcp nowhere"],
                                  ["--flow", "10.9.9.9:1-10.9.9.8:2/udp"], ["--conn", "999999"]])
def test_one_selection_that_exists(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    pod = str(next((SAMPLES / GRPC).glob("pod-*.pcap")))
    assert run(["show", pod, *args, "--dissector", "dpkt"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and ("--flow" in err or "--conn" in err), err


def test_flow_without_tshark_speaks_through_dpkt() -> None:
    """tshark hidden from the PATH: `show --flow` says dpkt spoke, and says the gRPC failure."""
    pod = str(next((SAMPLES / GRPC).glob("pod-*.pcap")))
    attempt = grpc_attempts()[0]
    env = {"PATH": "/nonexistent", "PYTHONPATH": str(REPO), "HOME": os.environ.get("HOME", "/")}
    done = subprocess.run([sys.executable, "-m", "pcapkit", "show", pod, "--flow",
                           f"{attempt['client']}-{attempt['resolved']}/tcp"],
                          env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "(tshark not found)" in lines[1]
    assert any("grpc-status 14 (unavailable)" in line for line in lines[2:])


@needs_tshark()
@pytest.mark.tshark
def test_extract_conn_writes_what_show_conn_shows(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path) -> None:
    """`extract --conn N` writes, read back by tshark, the frames `show --conn N` lists."""
    s = scenario("nodeport")
    paths = [c.path for c in s.analysis.captures]
    shown = shown_frames(paths, show(capsys, *paths, "--conn", "0", "--dissector", "dpkt")[2:])
    out = tmp_path / "conn.pcapng"
    assert run(["extract", *paths, "--conn", "0", "-o", str(out)]) == 0
    written: dict[int, list[int]] = {}
    for frame in tshark_table(out):
        number, path = re.fullmatch(r"pcapkit connection 0: .*: frame (\d+) of (.*)",
                                    frame["frame.comment"]).groups()  # type: ignore[union-attr]
        written.setdefault(paths.index(path), []).append(int(number))
    assert {c: sorted(f) for c, f in written.items()} == shown

"""flannel's UDP backend, recorded for real: two namespaces stand for two nodes, each with a
`flannel0` TUN device relayed to UDP 8285 by `samples.lab.flannel_udp` (flanneld's UDP backend
in miniature), and the kernel's own ping and TCP traffic between the pod networks crosses it.
tcpdump records the underlay; pcapkit must find the pod packets inside, as tshark does when told
that UDP 8285 carries IP.

Nothing leaves the namespaces the test creates (the veth has both ends in them).
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pcapkit.decode import decode
from pcapkit.read import read_capture
from samples.lab.netns import Lab, run, stop
from tests.conftest import needs_root, needs_tshark
from tests.decode.test_tshark_oracle import compare
from tests.flows.tcp_oracles import table

pytestmark = [needs_root(), needs_tshark()]

NODES = {"node-a": ("192.168.85.1", "10.244.1.1"), "node-b": ("192.168.85.2", "10.244.2.1")}
POD_NET_PREFIX = 16
PORT = 8080
SETTLE = 0.5  #: seconds
SERVER = f"""
import socket
s = socket.create_server(("{NODES["node-b"][1]}", {PORT}))
print("ready", file=__import__("sys").stderr, flush=True)
for _ in range(2):
    c, _ = s.accept()
    c.sendall(c.recv(100) * 3)
    c.close()
"""
#: ping's echo requests, from a raw socket (no ping binary needed): node-b's kernel answers
PING = f"""
import socket, struct
def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.bind(("{NODES["node-a"][1]}", 0))
s.settimeout(5)
for seq in range(3):
    body = struct.pack("!HH", 0x1234, seq) + b"pcapkit flannel"
    header = struct.pack("!BBH", 8, 0, 0)
    s.sendto(struct.pack("!BBH", 8, 0, checksum(header + body + b"\\0")) + body,
             ("{NODES["node-b"][1]}", 0))
    while s.recv(200)[20] != 0:  # the echo reply (the raw socket sees the request too)
        pass
"""
CLIENT = f"""
import socket
for _ in range(2):
    c = socket.create_connection(("{NODES["node-b"][1]}", {PORT}), timeout=5)
    c.sendall(b"through flannel")
    while c.recv(100):
        pass
    c.close()
"""


def _record(lab: Lab, path: Path) -> None:
    a, b = (lab.add_ns(name) for name in NODES)
    run(["ip", "link", "add", "eth0", "netns", a, "type", "veth", "peer", "name", "eth0",
         "netns", b])
    for name, (underlay, pod) in NODES.items():
        peer = next(u for n, (u, _) in NODES.items() if n != name)
        lab.sh(name, "ip", "addr", "add", f"{underlay}/24", "dev", "eth0")
        lab.sh(name, "ip", "link", "set", "eth0", "up")
        lab.python(name, "flannel_udp", "flannel0", underlay, peer)  # creates flannel0
        lab.sh(name, "ip", "addr", "add", f"{pod}/{POD_NET_PREFIX}", "dev", "flannel0")
        lab.sh(name, "ip", "link", "set", "flannel0", "up")
    tcpdump = lab.spawn("node-a", "tcpdump", "-i", "eth0", "-s", "0", "-U", "-n", "-Z", "root",
                        "-w", str(path), "udp", ready="listening on")
    time.sleep(SETTLE)  # tcpdump says it listens a moment before its socket sees packets
    lab.spawn("node-b", sys.executable, "-c", SERVER, ready="ready")
    lab.sh("node-a", sys.executable, "-c", PING)
    lab.sh("node-a", sys.executable, "-c", CLIENT)
    time.sleep(SETTLE)
    stop(tcpdump, signal.SIGINT)


@pytest.fixture(scope="module")
def capture_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path("/dev/net/tun").exists():
        pytest.skip("no /dev/net/tun: TUN devices unavailable")
    path = tmp_path_factory.mktemp("flannel") / "node-a-eth0.pcap"
    with Lab() as lab:
        _record(lab, path)
    return path


def test_pod_packets_are_found_inside_udp_8285(capture_path: Path) -> None:
    capture = read_capture(capture_path)
    packets = decode(capture, engine="reference")
    for engine in ("fast", "compiled"):
        assert_frame_equal(decode(capture, engine=engine), packets)
    underlay = {u for u, _ in NODES.values()}
    pods = {p for _, p in NODES.values()}
    assert packets.height > 0
    assert set(packets["tunnel"].to_list()) == {"flannel_udp"}
    assert set(packets["outer_src"].to_list()) | set(packets["outer_dst"].to_list()) == underlay
    assert set(packets["outer_dport"].to_list()) == {8285}
    assert set(packets["src"].to_list()) | set(packets["dst"].to_list()) == pods
    pings = packets.filter(pl.col("icmp_type").is_not_null())
    assert sorted(pings["icmp_type"].to_list()) == [0, 0, 0, 8, 8, 8]
    # The pod-to-pod TCP connections are whole, as the flow stage sees them.
    conns = table([capture_path]).connections
    assert conns.select("client_ip", "server_ip", "server_port", "conn_state").unique().rows() \
        == [(NODES["node-a"][1], NODES["node-b"][1], PORT, "SF")]
    assert conns.height == 2


def test_tshark_agrees_when_told_8285_carries_ip(capture_path: Path, tmp_path: Path) -> None:
    comparison = compare([capture_path], tmp_path)
    assert comparison.unexplained() == []
    assert set(comparison.verdicts) == {None}
    assert all("udp:ip" in (f.get("frame.protocols") or "") for f in comparison.frames)
    assert {r["tunnel"] for r in comparison.rows} == {"flannel_udp"}

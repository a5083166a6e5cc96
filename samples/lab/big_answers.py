"""DNS answers too big for one packet, recorded: what `pcapkit.decode.reassembly` reads.

    python -m samples.lab.big_answers record samples/reassembled_dns   (as root, under the lab lock)

Two namespaces joined by a veth whose MTU is 1280: a DNS server (`dns_server.answer`, on IPv4
and IPv6, UDP and TCP) knows a name with `ADDRESSES` A records, whose answer (~2 kB) the kernel
splits into IP fragments over UDP, and into two segments over TCP. The client asks it over
UDP (IPv4 and IPv6, EDNS0 with a 4096-byte buffer) and over TCP: two queries written at once
(two messages in one segment), a query written in two parts (one message over two segments),
and the big answer. Captured on the client's `eth0` (`client-eth0.pcap`) and with
`tcpdump -i any` on the server (`dns-any.pcap`, LINUX_SLL2). `answers.jsonl` is what the client
got: one line per query, its transport, id, name and the number of answers (null: none came).
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

import dpkt

from samples.lab.capture import Recording, Vantage
from samples.lab.dns_server import Tcp as TcpHandler
from samples.lab.dns_server import TcpServer, Udp, UdpServer
from samples.lab.netns import Lab

MTU = 1280
ADDRESSES = 120
BIG, SMALL = "big.answers.lab", "small.answers.lab"
SERVER_V4, CLIENT_V4 = "10.98.0.53", "10.98.0.10"
SERVER_V6, CLIENT_V6 = "fd98::53", "fd98::10"
RECORDS = {BIG: [f"10.97.{i // 250}.{i % 250 + 1}" for i in range(ADDRESSES)],
           SMALL: ["10.97.9.9"]}


def query(dns_id: int, name: str) -> bytes:
    q = dpkt.dns.DNS(id=dns_id, qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)])
    q.op = dpkt.dns.DNS_RD
    # EDNS0: an OPT record offering a 4096-byte UDP buffer
    q.ar = [dpkt.dns.DNS.RR(name="", type=41, cls=4096, ttl=0, rdata=b"")]
    return bytes(q)


def _line(transport: str, dns_id: int, name: str, reply: bytes | None) -> dict[str, Any]:
    got = None if reply is None else len(dpkt.dns.DNS(reply).an)
    return {"transport": transport, "dns_id": dns_id, "name": name, "answers": got}


def _udp(family: int, server: str, dns_id: int, name: str) -> dict[str, Any]:
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(query(dns_id, name), (server, 53))
        try:
            reply: bytes | None = s.recv(65535)
        except TimeoutError:
            reply = None
    return _line("udp6" if family == socket.AF_INET6 else "udp", dns_id, name, reply)


def _read(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        data += s.recv(n - len(data))
    return data


def _tcp(family: int, server: str, asks: list[tuple[int, str]],
         split: bool) -> list[dict[str, Any]]:
    """Queries on one connection: written at once (several messages in one segment) or, with
    `split`, each in two writes (a message over two segments)."""
    with socket.create_connection((server, 53), timeout=2) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        framed = [struct.pack("!H", len(m)) + m for m in (query(i, n) for i, n in asks)]
        if split:
            for f in framed:
                s.sendall(f[:10])
                time.sleep(0.05)
                s.sendall(f[10:])
        else:
            s.sendall(b"".join(framed))
        transport = "tcp6" if family == socket.AF_INET6 else "tcp"
        return [_line(transport, i, n, _read(s, struct.unpack("!H", _read(s, 2))[0]))
                for i, n in asks]


def ask() -> None:
    """The client's queries; one JSON line per query on stdout."""
    lines = [
        _udp(socket.AF_INET, SERVER_V4, 0x1001, BIG),
        _udp(socket.AF_INET, SERVER_V4, 0x1002, SMALL),
        _udp(socket.AF_INET6, SERVER_V6, 0x1003, BIG),
        *_tcp(socket.AF_INET, SERVER_V4, [(0x2001, SMALL), (0x2002, SMALL)], split=False),
        *_tcp(socket.AF_INET, SERVER_V4, [(0x2003, SMALL), (0x2004, BIG)], split=True),
        *_tcp(socket.AF_INET6, SERVER_V6, [(0x2005, BIG)], split=False),
    ]
    print("\n".join(json.dumps(line) for line in lines))


class _Udp6(UdpServer):
    address_family = socket.AF_INET6


class _Tcp6(TcpServer):
    address_family = socket.AF_INET6


def serve() -> None:
    servers = [UdpServer((SERVER_V4, 53), Udp), TcpServer((SERVER_V4, 53), TcpHandler),
               _Udp6((SERVER_V6, 53), Udp), _Tcp6((SERVER_V6, 53), TcpHandler)]
    for server in servers:
        server.records = RECORDS  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", file=sys.stderr, flush=True)
    threading.Event().wait()


def record(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with Lab() as lab:
        lab.add_ns("client")
        dns = lab.add_ns("dns")
        lab.sh("client", "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
               "netns", dns)
        for name, v4, v6 in (("client", CLIENT_V4, CLIENT_V6), ("dns", SERVER_V4, SERVER_V6)):
            lab.sh(name, "ip", "link", "set", "eth0", "mtu", str(MTU), "up")
            lab.sh(name, "ip", "addr", "add", f"{v4}/24", "dev", "eth0")
            lab.sh(name, "ip", "addr", "add", f"{v6}/64", "dev", "eth0", "nodad")
        lab.python("dns", "big_answers", "serve")
        vantages = [Vantage("client", ("eth0",), "client-eth0.pcap"),
                    Vantage("dns", ("any",), "dns-any.pcap")]
        with Recording(lab, folder.resolve(), vantages):
            time.sleep(0.5)
            out = lab.sh("client", sys.executable, "-m", "samples.lab.big_answers", "ask")
            time.sleep(0.5)
    (folder / "answers.jsonl").write_text(out)


if __name__ == "__main__":
    {"record": lambda: record(Path(sys.argv[2])), "ask": ask, "serve": serve}[sys.argv[1]]()

"""A scripted client, run inside a pod's namespace; every attempt becomes one line of truth.

    python -m samples.lab.client SPEC_JSON

SPEC_JSON: {"scenario", "client_pod" ("ns/name" or null for the external host), "ip", "truth"
(path of truth.jsonl), "first_port", "actions": [...]}. An action is
{"op": "http" | "get" | "put" | "grpc" | "lookup" | "ping", "target": name or IP, "port", "service"
("ns/name"), "size", "count", "gap", "timeout", "node_port" ("node NAME:PORT" when `target:port`
is a NodePort; the truth then names it and the external client), "load_balancer" (likewise,
"ip:port" of a LoadBalancer), "methods" (grpc)}: `http` GETs /bytes/SIZE, `get`/`put` talk to
the blob server, `grpc` makes one h2c connection calling each of `methods` (`h2c.py`; the
outcome is the connection's, each call's gRPC status or stream reset is in the detail),
`lookup` only resolves, `ping` sends `count` ICMP echo requests to an address, one a second (a
raw socket: the lab runs as root), and logs one line for them all. Names go through the pod's own
glibc resolver (getaddrinfo, so resolv.conf's search path and ndots:5 apply), and each lookup is
logged too. Each connection binds its local port explicitly (first_port, first_port+1, …) so
that refused and timed-out attempts still name a known client ip:port.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

from samples.lab import h2c
from samples.lab.servers import payload

RESOLV_CONF = Path("/etc/resolv.conf")


class Truth:
    """Appends truth lines, one write each, so parallel clients never interleave within a line."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.path = Path(spec["truth"])
        self.common = {"scenario": spec["scenario"], "client_pod": spec["client_pod"]}

    def write(self, **fields: Any) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps(self.common | fields) + "\n")


def search_expansion(name: str) -> list[str]:
    """The names glibc asks for, in order, under this namespace's resolv.conf."""
    search: list[str] = []
    ndots = 1
    for line in RESOLV_CONF.read_text().splitlines():
        key, _, rest = line.partition(" ")
        if key == "search":
            search = rest.split()
        elif key == "options":
            ndots = next((int(o[6:]) for o in rest.split() if o.startswith("ndots:")), ndots)
    if name.endswith("."):
        return [name.rstrip(".")]
    expanded = [f"{name}.{domain}" for domain in search]
    return [name, *expanded] if name.count(".") >= ndots else [*expanded, name]


LOOKUP_OUTCOMES = {socket.EAI_NONAME: "nxdomain", socket.EAI_AGAIN: "timeout"}


def lookup(truth: Truth, ip: str, name: str) -> str | None:
    """Resolve `name` as an application would; log it; the first IPv4 address (the first IPv6
    one when it has none), or None."""
    start = time.time()
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except socket.gaierror as e:
        outcome, addresses, detail = LOOKUP_OUTCOMES.get(e.errno or 0, "error"), [], str(e.strerror)
    else:
        addresses = sorted({str(info[4][0]) for info in infos})
        outcome, detail = "ok", ""
    truth.write(
        ts=start,
        kind="lookup",
        client=ip,
        name=name,
        search_expansion=search_expansion(name),
        outcome=outcome,
        addresses=addresses,
        duration=round(time.time() - start, 4),
        detail=detail,
    )
    if outcome != "ok":
        return None
    return next((a for a in addresses if ":" not in a), addresses[0] if addresses else None)


def exchange(sock: socket.socket, action: dict[str, Any]) -> str:
    """One request on a connected socket; a short description of what came back."""
    size = action.get("size", 64)
    if action["op"] == "grpc":
        return h2c.calls(sock, action["target"], action["methods"])
    if action["op"] == "http":
        host = action["target"]
        sock.sendall(
            f"GET /bytes/{size} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
    elif action["op"] == "get":
        sock.sendall(f"GET {size}\n".encode())
    else:
        sock.sendall(f"PUT {size}\n".encode() + payload(size))
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n") if action["op"] == "http" else (b"", b"", reply)
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    got = len(body)
    if action["op"] == "http" and not (status.split(" ")[1:2] == ["200"] and got == size):
        raise ValueError(f"{status or 'no status line'}, {got} of {size} bytes")
    if action["op"] == "get" and got != size:
        raise ValueError(f"{got} of {size} bytes")
    if action["op"] == "put" and body.strip() != f"OK {size}".encode():
        raise ValueError(f"reply {body[:40]!r}")
    if action["op"] == "put":
        return f"uploaded {size} bytes"
    return f"{status}, {got} bytes" if status else f"{got} bytes"


def attempt(truth: Truth, ip: str, port: int, action: dict[str, Any]) -> None:
    target, service_port = action["target"], action["port"]
    ip = action.get("source", ip)  # another address of the client's (its IPv6 one)
    start = time.time()
    record = dict(
        ts=start,
        kind="attempt",
        op=action["op"],
        client=_socket(ip, port),
        target=_socket(target, service_port),
        service=action.get("service"),
        protocol="tcp",
    )
    # A NodePort or a LoadBalancer address: the node and port (or address) dialled, and who.
    for door in ("node_port", "load_balancer"):
        if door in action:
            record |= {door: action[door], "external_client": record["client"]}
    if _is_ip(target):
        address: str | None = target
    else:
        address = lookup(truth, ip, target)
        if address is None:
            truth.write(**record, resolved=None, outcome="nxdomain", detail="name did not resolve")
            return
    stage = "connect"
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.settimeout(action.get("timeout", 3.0))
        sock.connect((address, service_port))
        stage = "response"
        outcome, detail = "ok", exchange(sock, action)
    except ConnectionRefusedError:
        outcome, detail = "refused", f"ECONNREFUSED at {stage}"
    except TimeoutError:
        outcome, detail = "timeout", f"no {'answer to SYN' if stage == 'connect' else 'response'}"
    except OSError as e:
        outcome, detail = "error", f"{errno.errorcode.get(e.errno or 0, str(e))} at {stage}"
    except ValueError as e:
        outcome, detail = "error", str(e)
    finally:
        sock.close()
    truth.write(
        **record,
        resolved=_socket(address, service_port),
        outcome=outcome,
        detail=detail,
        duration=round(time.time() - start, 4),
    )


ECHO_REQUEST, ECHO_REPLY = 8, 0
ECHO = struct.Struct("!BBHHH")  #: type, code, checksum, identifier, sequence


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ping(truth: Truth, ip: str, action: dict[str, Any]) -> None:
    """`count` echo requests to `target`, each waited for `timeout` (1 s); one truth line."""
    target, count, wait = action["target"], action.get("count", 4), action.get("timeout", 1.0)
    ident = os.getpid() & 0xFFFF
    start = time.time()
    answered = 0
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.bind((ip, 0))
        for seq in range(1, count + 1):
            data = bytes(56)
            message = ECHO.pack(ECHO_REQUEST, 0, 0, ident, seq) + data
            message = ECHO.pack(ECHO_REQUEST, 0, _checksum(message), ident, seq) + data
            deadline = time.time() + wait
            try:
                sock.sendto(message, (target, 0))
                while (left := deadline - time.time()) > 0:
                    sock.settimeout(left)
                    reply = sock.recv(2048)
                    kind, _, _, rid, rseq = ECHO.unpack_from(reply, (reply[0] & 0x0F) * 4)
                    if kind == ECHO_REPLY and (rid, rseq) == (ident, seq):
                        answered += 1
                        break
            except OSError:  # a timeout, or the neighbour's failure reported on the socket
                pass
            time.sleep(max(deadline - time.time(), 0.0))
    truth.write(
        ts=start, kind="ping", client=ip, target=target, ident=ident, sent=count,
        answered=answered, outcome="ok" if answered == count else "unanswered",
        detail=f"{answered} of {count} echo requests answered",
        duration=round(time.time() - start, 4),
    )


def _socket(ip: str, port: int) -> str:
    """`ip:port`, an IPv6 address in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def main() -> None:
    spec = json.loads(sys.argv[1])
    truth, ip, port = Truth(spec), spec["ip"], spec["first_port"]
    for action in spec["actions"]:
        if action["op"] == "ping":  # one run of `count` requests, as ping -c COUNT
            ping(truth, ip, action)
            continue
        for _ in range(action.get("count", 1)):
            if action["op"] == "lookup":
                lookup(truth, ip, action["target"])
            else:
                attempt(truth, ip, port, action)
                port += 1
            time.sleep(action.get("gap", 0.2))


if __name__ == "__main__":
    main()

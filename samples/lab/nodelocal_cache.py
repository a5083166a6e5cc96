"""NodeLocal DNSCache on a node: a link-local listener forwarding to kube-dns over TCP.

    python -m samples.lab.nodelocal_cache LISTEN_IP UPSTREAM_IP

Runs in a node's namespace. Listens for UDP queries on LISTEN_IP:53 (169.254.20.10;
node-local-dns puts it on a dummy `nodelocaldns` link, the lab on the node's lo) and asks
UPSTREAM_IP:53 (the kube-dns ClusterIP, which the node's kube-proxy rules DNAT to a CoreDNS pod)
over TCP, as node-local-dns does with `force_tcp`, from the node's own address and under an id
of its own; the answer goes back to the pod under the pod's id. It caches nothing: every pod
query is forwarded, so each transaction to the cache has its upstream twin in the node's
captures. When the upstream cannot be reached or does not answer within `UPSTREAM_TIMEOUT_S`,
the pod gets SERVFAIL, as node-local-dns's `forward` plugin answers when its upstream failed.
"""

from __future__ import annotations

import secrets
import socket
import socketserver
import struct
import sys

import dpkt

from samples.lab.dns_server import UdpServer

UPSTREAM_TIMEOUT_S = 2.0


def forward(query: bytes, upstream: str) -> bytes:
    """The upstream's answer to `query`, asked over TCP under a fresh id, given the query's id."""
    fresh = secrets.token_bytes(2)
    with socket.create_connection((upstream, 53), timeout=UPSTREAM_TIMEOUT_S) as conn:
        message = fresh + query[2:]
        conn.sendall(struct.pack("!H", len(message)) + message)
        size = struct.unpack("!H", _read(conn, 2))[0]
        reply = _read(conn, size)
    return query[:2] + reply[2:]


def servfail(query: bytes) -> bytes:
    """SERVFAIL for `query`: its id and question, QR and RA set, RD kept."""
    request = dpkt.dns.DNS(query)
    reply = dpkt.dns.DNS(id=request.id, qd=request.qd, an=[], ns=[], ar=[])
    reply.op = dpkt.dns.DNS_QR | dpkt.dns.DNS_RA | (request.op & dpkt.dns.DNS_RD)
    reply.rcode = dpkt.dns.DNS_RCODE_SERVFAIL
    return bytes(reply)


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("upstream closed")
        data += chunk
    return data


class Udp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        try:
            reply = forward(data, self.server.upstream)  # type: ignore[attr-defined]
        except OSError:
            reply = servfail(data)
        sock.sendto(reply, self.client_address)


def main() -> None:
    listen, upstream = sys.argv[1], sys.argv[2]
    server = UdpServer((listen, 53), Udp)
    server.upstream = upstream  # type: ignore[attr-defined]
    print("ready", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

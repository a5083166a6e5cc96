"""The cluster DNS (the CoreDNS pod behind kube-dns): authoritative, never forwarding.

    python -m samples.lab.dns_server PORT RECORDS_JSON

RECORDS_JSON maps names to a list of IPv4 addresses (every Service's FQDN, and the lab's
stand-ins for external names) or, for an ExternalName Service, to the name it is an alias for.
A known name asked for A gets its records; for any other type, NOERROR without answers
(NODATA). A name with no address (a headless Service with no ready pod) and every unknown name
get NXDOMAIN with the zone's SOA, as CoreDNS answers for cluster.local. An alias is answered
with its CNAME and, chased inside the table, the target's answer (its records, or NXDOMAIN with
the CNAME kept), as CoreDNS answers an ExternalName. Nothing is ever forwarded, so no lookup
leaves the lab. UDP and TCP on PORT.
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import sys
import threading

import dpkt

from samples.lab.cluster import DOMAIN

TTL = 30
SOA = dict(
    mname=f"ns.dns.{DOMAIN}",
    rname=f"hostmaster.{DOMAIN}",
    serial=1,
    refresh=7200,
    retry=1800,
    expire=86400,
    minimum=TTL,
)


def answer(query: bytes, records: dict[str, list[str] | str]) -> bytes:
    request = dpkt.dns.DNS(query)
    reply = dpkt.dns.DNS(id=request.id, qd=request.qd, an=[], ns=[], ar=[])
    reply.op = dpkt.dns.DNS_QR | dpkt.dns.DNS_AA | (request.op & dpkt.dns.DNS_RD)
    question = request.qd[0]
    name = question.name.lower().rstrip(".")
    owner = question.name
    target = records.get(name)
    if isinstance(target, str):  # an ExternalName: the CNAME, then its target's answer
        reply.an.append(dpkt.dns.DNS.RR(name=owner, type=dpkt.dns.DNS_CNAME, ttl=TTL,
                                        cname=target))
        name, owner = target, target
        target = records.get(name)
    addresses = target if isinstance(target, list) else []
    if not addresses:
        reply.rcode = dpkt.dns.DNS_RCODE_NXDOMAIN
    if not addresses or question.type != dpkt.dns.DNS_A:
        zone = DOMAIN if name.endswith(DOMAIN) else name.partition(".")[2] or name
        reply.ns.append(dpkt.dns.DNS.RR(name=zone, type=dpkt.dns.DNS_SOA, ttl=TTL, **SOA))
    else:
        reply.an += [dpkt.dns.DNS.RR(name=owner, type=dpkt.dns.DNS_A, ttl=TTL,
                                     ip=socket.inet_aton(ip)) for ip in addresses]
    return bytes(reply)


class Udp(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(answer(data, self.server.records), self.client_address)  # type: ignore[attr-defined]


class Tcp(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        while header := self.rfile.read(2):
            query = self.rfile.read(struct.unpack("!H", header)[0])
            reply = answer(query, self.server.records)  # type: ignore[attr-defined]
            self.wfile.write(struct.pack("!H", len(reply)) + reply)


class UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True


class TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    port, records = int(sys.argv[1]), json.loads(sys.argv[2])
    servers = [UdpServer(("", port), Udp), TcpServer(("", port), Tcp)]
    for server in servers:
        server.records = records  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", file=sys.stderr, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()

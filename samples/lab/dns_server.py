"""The cluster DNS (the CoreDNS pod behind kube-dns): authoritative, never forwarding.

    python -m samples.lab.dns_server PORT RECORDS_JSON [HOST]

RECORDS_JSON maps names to a list of addresses (every Service's FQDN, and the lab's stand-ins
for external names) or, for an ExternalName Service, to the name it is an alias for. A known
name asked for A gets its IPv4 records, for AAAA its IPv6 ones; for any other type, or a family
it has none of, NOERROR without answers (NODATA). A name with no address (a headless Service
with no ready pod) and every unknown name get NXDOMAIN with the zone's SOA, as CoreDNS answers
for cluster.local. An alias is answered with its CNAME and, chased inside the table, the
target's answer (its records, or NXDOMAIN with the CNAME kept), as CoreDNS answers an
ExternalName. Nothing is ever forwarded, so no lookup leaves the lab. UDP and TCP on PORT, of
HOST (`::` in an IPv6 cluster; default: every IPv4 address).
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
FAMILIES = {dpkt.dns.DNS_A: socket.AF_INET, dpkt.dns.DNS_AAAA: socket.AF_INET6}
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
    family = FAMILIES.get(question.type)
    asked = [ip for ip in addresses if family and (":" in ip) == (family == socket.AF_INET6)]
    if not asked:
        zone = DOMAIN if name.endswith(DOMAIN) else name.partition(".")[2] or name
        reply.ns.append(dpkt.dns.DNS.RR(name=zone, type=dpkt.dns.DNS_SOA, ttl=TTL, **SOA))
    elif family == socket.AF_INET:
        reply.an += [dpkt.dns.DNS.RR(name=owner, type=dpkt.dns.DNS_A, ttl=TTL,
                                     ip=socket.inet_aton(ip)) for ip in asked]
    else:
        reply.an += [dpkt.dns.DNS.RR(name=owner, type=dpkt.dns.DNS_AAAA, ttl=TTL,
                                     ip6=socket.inet_pton(socket.AF_INET6, ip)) for ip in asked]
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
    host = sys.argv[3] if len(sys.argv) > 3 else ""
    for server_class in (UdpServer, TcpServer):
        server_class.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    servers = [UdpServer((host, port), Udp), TcpServer((host, port), Tcp)]
    for server in servers:
        server.records = records  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", file=sys.stderr, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()

"""The backend pods' programs: a small HTTP server and a TCP blob server.

    python -m samples.lab.servers http PORT   GET /bytes/N → N bytes; POST → the body's length
    python -m samples.lab.servers blob PORT   "GET N\\n" → N bytes; "PUT N\\n" + N bytes → "OK N\\n"
    python -m samples.lab.servers grpc PORT   gRPC over h2c that fails on purpose (`h2c.py`)

A third argument is the address to listen on (`::` in an IPv6 cluster; default: every IPv4
address). Each prints `ready` on stderr once listening, so the lab starts clients only then.
"""

from __future__ import annotations

import socket
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from samples.lab import h2c

FILL = b"pcapkit-lab-" * 1024


def payload(size: int) -> bytes:
    """`size` bytes of recognisable filler."""
    return (FILL * (size // len(FILL) + 1))[:size]


class Http(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        size = int(self.path.removeprefix("/bytes/")) if self.path.startswith("/bytes/") else 64
        self._reply(payload(size))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self._reply(f"received {len(self.rfile.read(length))}\n".encode())

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # a quiet server: the captures and the truth are the record


class Blob(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        verb, _, size = self.rfile.readline().decode().strip().partition(" ")
        if verb == "GET":
            self.wfile.write(payload(int(size)))
        elif verb == "PUT":
            got = len(self.rfile.read(int(size)))
            self.wfile.write(f"OK {got}\n".encode())


class Grpc(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        h2c.serve(self.request)


class Backlog:
    """A listen backlog deep enough for the bench's bursts of parallel connections."""

    daemon_threads = True
    request_queue_size = 1024


class HttpServer(Backlog, ThreadingHTTPServer):
    pass


class BlobServer(Backlog, socketserver.ThreadingTCPServer):
    allow_reuse_address = True


SERVERS = {"http": (HttpServer, Http), "blob": (BlobServer, Blob), "grpc": (BlobServer, Grpc)}


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    host = sys.argv[3] if len(sys.argv) > 3 else ""
    server_class, handler = SERVERS[kind]
    server_class.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = server_class((host, port), handler)
    print("ready", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

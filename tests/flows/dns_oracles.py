"""The two DNS oracles, read: tshark's two-pass request/response links and Zeek's dns.log.

tshark runs with its reassembly on (IPv4 and IPv6 fragments, TCP streams: a message shown in the
frame that completes it, as `pcapkit.decode.reassembly` places it) and VXLAN on 8472 too (as
`tests/decode/tshark_fields.py`); `-2` makes `dns.response_in` and `dns.response_to` available
on every frame.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pcapkit.decode import decode
from pcapkit.decode.dns_message import DNS_PORTS
from pcapkit.decode.reassembly import dns_messages
from pcapkit.read import read_capture

TSHARK_OPTIONS = (
    "-2", "-o", "ip.defragment:TRUE", "-o", "ipv6.defragment:TRUE",
    "-o", "tcp.desegment_tcp_streams:TRUE", "-o", "dns.desegment_dns_messages:TRUE",
    "-d", "udp.port==8472,vxlan",
)
TSHARK_FIELDS = (
    "frame.number", "dns.id", "dns.flags.response", "dns.response_in", "dns.response_to",
    "dns.flags.rcode", "udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport",
)


def packets(*paths: Path) -> pl.DataFrame:
    """The packet table of captures analysed together."""
    return pl.concat([decode(read_capture(p), i) for i, p in enumerate(paths)])


def decoded(*paths: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The packet table of captures analysed together, and the DNS messages reassembled from
    them (`pcapkit.decode.reassembly`)."""
    tables, reassembled = [], []
    for i, path in enumerate(paths):
        capture = read_capture(path)
        tables.append(decode(capture, i))
        reassembled.append(dns_messages(capture, tables[-1]))
    return pl.concat(tables), pl.concat(reassembled)


@dataclass
class TsharkDns:
    """One frame tshark dissected as a DNS message on a DNS port."""

    frame: int
    response: bool
    response_in: int | None
    response_to: int | None
    rcode: int | None


def tshark_dns(path: Path) -> dict[int, TsharkDns]:
    """tshark's DNS messages on the ports pcapkit decodes DNS on (DNS, mDNS, LLMNR), by frame
    number."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), *TSHARK_OPTIONS, "-T", "fields",
         "-E", "occurrence=l", *(x for f in TSHARK_FIELDS for x in ("-e", f))],
        capture_output=True, text=True, check=False,
    ).stdout
    found = {}
    for line in out.splitlines():
        frame, dns_id, response, response_in, response_to, rcode, *ports = line.split("\t")
        if not dns_id or not {str(p) for p in DNS_PORTS} & set(ports):
            continue
        found[int(frame)] = TsharkDns(
            int(frame), response in ("1", "True"), _int(response_in), _int(response_to),
            _int(rcode),
        )
    return found


def _int(text: str) -> int | None:
    return int(text) if text else None


def zeek_dns_log(path: Path) -> list[dict[str, str]]:
    """The rows of a Zeek dns.log baseline, by its `#fields` line."""
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif fields and line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"), strict=False)))
    return rows

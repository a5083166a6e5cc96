"""Small packet tables built by hand, for edge cases the recorded captures do not hold."""

from __future__ import annotations

from typing import Any

import polars as pl

from pcapkit.codes import DnsRcode, DnsType, IpProto
from pcapkit.decode.schema import conform

MS = 1_000_000


def dns_row(
    frame: int, ms: float, client: str, port: int, server: str, dns_id: int, name: str,
    *, response: bool = False, qtype: int = DnsType.A, rcode: int = DnsRcode.NOERROR,
    capture: int = 0, ifindex: int | None = None, proto: int = IpProto.UDP,
) -> dict[str, Any]:
    """One DNS message between `client`:`port` and `server`:53, as the packet table has it."""
    src, sport, dst, dport = (server, 53, client, port) if response else (client, port, server, 53)
    return {
        "capture": capture, "frame": frame, "ts_ns": int(ms * MS), "iface": 0,
        "sll_ifindex": ifindex, "status": "ok", "ip_version": 4, "ip_proto": proto,
        "src": src, "dst": dst, "sport": sport, "dport": dport, "dns_id": dns_id,
        "dns_qr": response, "dns_rcode": rcode if response else 0, "dns_qname": name,
        "dns_qtype": qtype, "dns_flags": (0x8180 | rcode) if response else 0x0100,
        "dns_answers": [],
    }


def syn_row(frame: int, ms: float, client: str, port: int, server: str, server_port: int,
            *, seq: int = 1000, capture: int = 0) -> dict[str, Any]:
    """One TCP SYN from `client`:`port` to `server`:`server_port`, as the packet table has it."""
    return {
        "capture": capture, "frame": frame, "ts_ns": int(ms * MS), "iface": 0, "status": "ok",
        "ip_version": 4, "ip_proto": IpProto.TCP, "src": client, "dst": server, "sport": port,
        "dport": server_port, "tcp_flags": 0x02, "tcp_seq": seq, "tcp_ack": 0, "tcp_win": 64240,
        "payload_len": 0, "ip_ttl": 64, "ip_id": frame,
    }


def table(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return conform(pl.DataFrame(rows, infer_schema_length=None))

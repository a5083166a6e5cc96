"""icmp_unreachable: ICMP errors about a flow — unreachable, fragmentation needed, too big, TTL.

Definition: every ICMP/ICMPv6 error in the ICMP error table (pcapkit/flows/icmp.py), grouped by
the flow it quotes (protocol, client = quoted source ip:port, server = quoted destination
ip:port: the quoted packet was sent by the client), its type and code, and its reporter (the
error's source). One finding per group; `count` is the number of errors (each merged over the
views that saw it), `reporter` and the type/code names are in `extra`, `conns` the TCP
connections whose packets the errors quote.

Fragmentation needed (ICMPv4 3/4) and packet too big (ICMPv6 2) carry the next-hop `mtu`. When
the path is an overlay — the flow or the error was seen VXLAN-encapsulated, or the reporter is
neither end of the flow (a node on the path) — the explanation gives the VXLAN arithmetic: over
IPv4 it adds 50 bytes (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14), so a 1500-byte
underlay leaves 1450 for pods, and a pod MTU of 1500 there needs 1450.

A port unreachable (ICMPv4 3/3, ICMPv6 1/4) sent by a host that is not the destination is a
REJECT on the path: the typical case is kube-proxy rejecting connections to a Service without
endpoints, from the node, for the ClusterIP.

Wireshark flags these per packet (`icmp.type`, `icmp.code`, and links the quoted packet only when
the original is in the same conversation); Zeek folds ICMP errors into the quoted connection's
conn.log row without naming them. Redirects are not errors of the flow and are left out, and so
are DNS answers refused by their client's host, which the DNS findings cite
(pcapkit/detect/late_answers.py).

Tunables: none.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pcapkit.codes import Icmp6Type, Icmp6UnreachCode, IcmpType, IcmpUnreachCode, IpProto
from pcapkit.decode.schema import Tunnel
from pcapkit.detect.config import Config
from pcapkit.detect.findings import FINDINGS_SCHEMA, Severity, extra_json, frames_evidence
from pcapkit.detect.late_answers import REFUSED_ANSWER
from pcapkit.flows import Tables

KIND = "icmp_unreachable"
GROUP = ["q_proto", "q_src", "q_sport", "q_dst", "q_dport", "ip_version", "icmp_type",
         "icmp_code", "reporter"]

#: bytes VXLAN over IPv4 adds to an inner frame: outer IPv4 + UDP + VXLAN header + inner Ethernet
VXLAN_OVERHEAD = {"outer IPv4": 20, "UDP": 8, "VXLAN": 8, "inner Ethernet": 14}
#: the same over an IPv6 underlay: the outer header is 40 bytes
VXLAN6_EXTRA = 20


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    redirect = (pl.col("ip_version") == 4) & (pl.col("icmp_type") == IcmpType.REDIRECT)
    # a DNS answer its client's host refused is the DNS lookup's story (late_answers.py)
    errors = tables.icmp_errors.filter(~redirect & ~REFUSED_ANSWER)
    rows = [
        _finding(dict(zip(GROUP, key, strict=True)), errs)
        for key, errs in errors.sort("ts_ns").group_by(GROUP, maintain_order=True)
    ]
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _finding(key: dict[str, Any], errs: pl.DataFrame) -> dict[str, Any]:
    first = errs.row(0, named=True)
    proto = key["q_proto"]
    try:
        protocol = IpProto(proto).name.lower() if proto is not None else "ip"
    except ValueError:
        protocol = f"ip_proto {proto}"
    mtu = min(errs["mtu"].drop_nulls().to_list(), default=None)
    overlay = _overlay(errs, key)
    return {
        "kind": KIND,
        "severity": Severity.ERROR.value,
        "protocol": protocol,
        "client_ip": key["q_src"],
        "client_port": key["q_sport"],
        "server_ip": key["q_dst"],
        "server_port": key["q_dport"],
        "count": errs.height,
        "first_ts_ns": errs["ts_ns"].min(),
        "last_ts_ns": errs["ts_ns"].max(),
        "evidence": frames_evidence(errs, "frames"),
        "explanation": _explain(key, first, mtu, overlay),
        "extra": extra_json(
            reporter=key["reporter"],
            icmp_type=key["icmp_type"],
            icmp_code=key["icmp_code"],
            type_name=first["type_name"],
            code_name=first["code_name"],
            mtu=mtu,
            overlay=overlay,
        ),
        "conns": sorted(errs["conn"].drop_nulls().unique().to_list()) or None,
    }


def _overlay(errs: pl.DataFrame, key: dict[str, Any]) -> str | None:
    """`vxlan` (or another tunnel) when the flow or the error crossed one; `node` when a host
    in between reported it; else None."""
    tunnels = [t for t in (*errs["tunnel"].to_list(), *errs["flow_tunnel"].to_list()) if t]
    if tunnels:
        return Tunnel.VXLAN.value if Tunnel.VXLAN.value in tunnels else tunnels[0]
    return "node" if key["reporter"] not in (key["q_src"], key["q_dst"]) else None


def _is(key: dict[str, Any], v4: tuple[int, int | None], v6: tuple[int, int | None]) -> bool:
    want = v4 if key["ip_version"] == 4 else v6
    return key["icmp_type"] == want[0] and (want[1] is None or key["icmp_code"] == want[1])


def _explain(
    key: dict[str, Any], first: dict[str, Any], mtu: int | None, overlay: str | None
) -> str:
    client = _endpoint(key["q_src"], key["q_sport"])
    server = _endpoint(key["q_dst"], key["q_dport"])
    what = f"ICMP {first['type_name']}/{first['code_name']}"
    head = f"{key['reporter']} answered {client}'s packet to {server} with {what}"
    too_big = _is(key, (IcmpType.DEST_UNREACH, IcmpUnreachCode.FRAG_NEEDED),
                  (Icmp6Type.PACKET_TOO_BIG, None))
    if too_big:
        text = f"{head}: the path MTU is {mtu}, smaller than the packets sent (with DF set)"
        if overlay and mtu:
            parts = " + ".join(f"{name} {size}" for name, size in VXLAN_OVERHEAD.items())
            total = sum(VXLAN_OVERHEAD.values())
            text += (
                f"; VXLAN over IPv4 adds {total} bytes ({parts}), so a {mtu + total}-byte "
                f"underlay carries pod packets of at most {mtu}: the pods' MTU must be {mtu} "
                f"(a pod MTU of 1500 on a 1500 underlay needs {1500 - total})"
            )
        return text + "."
    port = _is(key, (IcmpType.DEST_UNREACH, IcmpUnreachCode.PORT),
               (Icmp6Type.DEST_UNREACH, Icmp6UnreachCode.PORT))
    if port and key["reporter"] != key["q_dst"]:
        return (
            f"{head}, on behalf of {key['q_dst']}: a REJECT on the path — kube-proxy answers this "
            f"way for a Service with no ready endpoints."
        )
    if port:
        return f"{head}: nothing listens on port {key['q_dport']} there."
    if _is(key, (IcmpType.TIME_EXCEEDED, None), (Icmp6Type.TIME_EXCEEDED, None)):
        return f"{head}: the packet's TTL ran out on the way (a routing loop, or a TTL too low)."
    return f"{head}: {key['q_dst']} could not be reached from there."


def _endpoint(ip: str | None, port: int | None) -> str:
    if ip is None:
        return "?"
    shown = f"[{ip}]" if ":" in ip else ip
    return f"{shown}:{port}" if port is not None else ip

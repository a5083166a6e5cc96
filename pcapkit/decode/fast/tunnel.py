"""VXLAN on the UDP ports of `pcapkit.decode.tunnels.UDP_TUNNELS`: the underlay moves to the
`outer_*` columns and the inner Ethernet frame is decoded into the primary ones.

Other UDP tunnels (by destination or source port) and a tunnel inside a tunnel are deferred,
and so is every datagram that may be Teredo off its port (`teredo_candidates`).
"""

from __future__ import annotations

import numpy as np

from pcapkit.decode import teredo, tunnels, vxlan
from pcapkit.decode.fast.columns import Columns, Ints, Mask, require
from pcapkit.decode.fast.gather import Headers
from pcapkit.decode.fast.transport import Payload
from pcapkit.decode.reference import PRIMARY
from pcapkit.decode.schema import Layer, Tunnel

TUNNEL_CODE = {t: i for i, t in enumerate(Tunnel)}
IPV6_LEN = 40


def tunnel_rows(udp: Payload) -> tuple[np.ndarray, np.ndarray]:
    """Masks over `udp`: to a tunnel port (whatever its kind); to a VXLAN port."""
    ports = np.array(sorted(tunnels.UDP_TUNNELS), np.int64)
    vxlan_ports = np.array([p for p, t in tunnels.UDP_TUNNELS.items() if t == Tunnel.VXLAN])
    to_tunnel = np.isin(udp.dport, ports)
    return to_tunnel, to_tunnel & np.isin(udp.dport, vxlan_ports)


def teredo_candidates(hdr: Headers, udp: Payload) -> Mask:
    """The rows of `udp` the reference decoder may take for Teredo or a tunnel by source port
    (a superset, from the first payload byte: see `teredo_first_byte`); DNS rows are not."""
    dns = udp.dns_port()
    by_source = np.isin(udp.sport, np.array(sorted(tunnels.UDP_SOURCE_TUNNELS), np.int64))
    first = hdr.uint(udp.rows, udp.start, 1)
    unread = udp.start >= hdr.k  # the first payload byte was not gathered
    ipv6_sized = (udp.declared - udp.start >= IPV6_LEN) & (udp.end > udp.start)
    teredo_like = ipv6_sized & (unread | teredo_first_byte(first))
    candidates: Mask = udp.whole & ~dns & (by_source | teredo_like)
    return candidates


def teredo_first_byte(first: Ints) -> Mask:
    """Whether a payload starting with `first` may be Teredo: an IPv6 header, or the
    authentication or origin-indication header (both start with a zero byte)."""
    may: Mask = ((first >> 4) == teredo.IP_VERSION) | (first == 0)
    return may


def decapsulate_vxlan(hdr: Headers, cols: Columns, udp: Payload, depth: int) -> tuple[Ints, Ints,
                                                                                       Ints]:
    """Decapsulate the whole VXLAN rows of `udp` (others to tunnel ports are deferred).

    Returns the rows, start and end of the inner Ethernet frames."""
    to_tunnel, to_vxlan = tunnel_rows(udp)
    cols.defer(udp.rows[~to_tunnel & teredo_candidates(hdr, udp)])
    mine = to_tunnel & udp.whole
    if depth > 0:
        cols.defer(udp.rows[mine])
        mine[:] = False
    cols.defer(udp.rows[mine & ~to_vxlan])
    mine &= to_vxlan
    rows, start, end = udp.rows[mine], udp.start[mine], udp.end[mine]
    ok = require(cols, hdr.k, rows, start, end, vxlan.HEADER_LEN, Layer.TUNNEL)
    rows, start, end = rows[ok], start[ok], end[ok]
    sport, dport = udp.sport[mine][ok], udp.dport[mine][ok]
    cols.put("tunnel", rows, TUNNEL_CODE[Tunnel.VXLAN])
    cols.copy("src", "outer_src", rows)
    cols.copy("dst", "outer_dst", rows)
    cols.put("vni", rows, hdr.uint(rows, start + vxlan.VNI_OFFSET, 3))
    cols.put("outer_sport", rows, sport)
    cols.put("outer_dport", rows, dport)
    cols.clear(PRIMARY, rows)
    cols.put("tunnel_depth", rows, depth + 1)
    return rows, start + vxlan.HEADER_LEN, end

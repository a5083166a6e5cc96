"""The fast decoder: the packet table of a chunk of records, vectorised with numpy.

Each layer is decoded for all the rows that reach it at once (`link` → `ip` → `transport` →
`tunnel` (VXLAN, then the inner frame once more) → DNS on port 53), from the header bytes of
every record gathered into one matrix (`gather`). The rows outside the common stacks are left
to the reference decoder and merged back in frame order, an explicit, cheap test per layer:

- a third VLAN tag or a link-layer shim (MPLS, VNTag, PPPoE); IPv6 extension headers; IP-in-IP
  and GRE; UDP tunnels other than VXLAN (by destination or source port), a UDP payload that may
  be Teredo off its port, and any tunnel inside a tunnel;
- a header that reaches past the gathered bytes (`gather.WIDTH`), or an ICMP error whose quote
  might.

`FastStats` says how many rows each decoder did, so that tests can check that the vectorised
path does the bulk of the work.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import polars as pl

from pcapkit.decode.fast.assemble import from_columns, merge, to_frame
from pcapkit.decode.fast.columns import Columns
from pcapkit.decode.fast.dns_rows import decode_dns_rows
from pcapkit.decode.fast.gather import Headers
from pcapkit.decode.fast.ip import decode_ip
from pcapkit.decode.fast.link import Network, decode_link, ethernet
from pcapkit.decode.fast.transport import Payload, decode_transport
from pcapkit.decode.fast.tunnel import decapsulate_vxlan
from pcapkit.decode.reference import decode_reference
from pcapkit.read.records import Capture

__all__ = ["FastStats", "decode_fast", "decode_fast_stats"]


@dataclass(frozen=True)
class FastStats:
    """How the rows of a decode were shared between the two decoders."""

    rows: int
    deferred: int  #: rows decoded by the reference decoder

    @property
    def vectorised(self) -> int:
        return self.rows - self.deferred


def decode_fast(capture: Capture, capture_index: int = 0) -> pl.DataFrame:
    """The packet table of `capture` (any slice of its records), as `PACKET_SCHEMA`."""
    return decode_fast_stats(capture, capture_index)[0]


def _network_down(hdr: Headers, cols: Columns, net: Network,
                  depth: int) -> tuple[list[Payload], list[Payload]]:
    """IP, transport and VXLAN from `net` down: every TCP and UDP payload, at every depth."""
    tcp, udp = decode_transport(hdr, cols, decode_ip(hdr, cols, net))
    rows, start, end = decapsulate_vxlan(hdr, cols, udp, depth)
    if not len(rows):
        return [tcp], [udp]
    inner_tcp, inner_udp = _network_down(hdr, cols, ethernet(hdr, cols, rows, start, end),
                                         depth + 1)
    return [tcp, *inner_tcp], [udp, *inner_udp]


def decode_fast_stats(capture: Capture, capture_index: int = 0) -> tuple[pl.DataFrame, FastStats]:
    """`decode_fast`, with how many rows the vectorised layers decoded themselves."""
    records = capture.records
    n = len(records)
    links = np.array([i.link_type for i in capture.interfaces] or [0], np.int64)
    link_type = links[records.iface] if n else np.zeros(0, np.int64)
    hdr = Headers(capture.buffer, records)
    cols = Columns(n)
    cols.put("direction", np.arange(n), records.direction)
    cols.put("tunnel_depth", np.arange(n), 0)
    net = decode_link(hdr, cols, link_type, capture.big_endian)
    tcps, udps = _network_down(hdr, cols, net, 0)
    offset = records.offset.astype(np.int64)
    for tcp, udp in zip(tcps, udps, strict=True):
        decode_dns_rows(capture.buffer, offset, cols, tcp, udp)
    table = to_frame(from_columns(cols), records, link_type, capture_index)
    deferred = np.flatnonzero(cols.deferred)
    if len(deferred):
        rest = dataclasses.replace(capture, records=records.take(deferred))
        table = merge(table, deferred, decode_reference(rest, capture_index))
    return table, FastStats(n, len(deferred))

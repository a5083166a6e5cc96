"""DNS messages that are not one per packet: a message split into IP fragments (a large EDNS0
response), and DNS over TCP, whose messages span segments or share one.

The packet table keeps one row per packet, read packet by packet (docs/packet-table.md: a
fragment decodes no DNS, each TCP segment is read as the start of a message). This pass reads
the few packets that need more, their *pieces*: UDP fragments, and TCP segments on a DNS port
(with data, or opening or closing the connection). It takes their bytes from the capture
(`reference.ip_payload`), reassembles fragments (`fragments`) and TCP streams (`dns_stream`)
in packet order, and gives each message completed as a row of `DNS_MESSAGES`, in the row of
the packet that completed it, as Wireshark shows it. Over TCP these rows replace the packet
table's reading; fragments add what it could not read.

State is kept per capture and carried from one run of pieces to the next (`Reassembly`), so
that the streaming engine, reading a capture chunk by chunk, gives the rows reading it whole
gives. Only UDP datagrams to or from a DNS port are read once reassembled: a fragmented tunnel
packet stays as the packet table has it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from pcapkit.codes import IpProto, TcpFlags
from pcapkit.decode.dns_message import DNS_PORTS, HEADER_LEN, decode_dns
from pcapkit.decode.dns_stream import Streams
from pcapkit.decode.fragments import Fragments
from pcapkit.decode.reference import UDP_LEN, UDP_PORTS, ip_payload
from pcapkit.decode.schema import DNS_MESSAGES, PACKET_SCHEMA, SEEN_AT, Status
from pcapkit.read.records import Capture

_PORT = pl.col("sport").is_in(DNS_PORTS) | pl.col("dport").is_in(DNS_PORTS)
IS_FRAGMENT = (pl.col("ip_mf") | (pl.col("ip_frag_offset") > 0)) & (
    pl.col("ip_proto") == IpProto.UDP)
#: a TCP segment on a DNS port that moves its stream: data, or SYN, FIN, RST
_MOVES = (pl.col("payload_len") > 0) | (
    (pl.col("tcp_flags") & (TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST)) != 0)
IS_DNS_SEGMENT = (pl.col("ip_proto") == IpProto.TCP) & pl.col("tcp_flags").is_not_null() & (
    _PORT & ~pl.col("ip_mf") & _MOVES)
IS_PIECE = (IS_FRAGMENT | IS_DNS_SEGMENT).fill_null(False)

_KEPT = [*SEEN_AT, "frame", "ts_ns", "ip_version", "src", "dst", "ip_proto", "ip_id", "ip_mf",
         "ip_frag_offset", "sport", "dport", "tcp_flags", "tcp_seq"]
#: a piece: the packet's columns that place it, its data (a fragment's, a segment's payload) as
#: captured, and whether the capture cut that data short
PIECES = pl.Schema([*((c, PACKET_SCHEMA[c]) for c in _KEPT), ("data", pl.Binary()),
                    ("cut", pl.Boolean())])


def pieces(capture: Capture, packets: pl.DataFrame) -> pl.DataFrame:
    """The pieces among `packets`, the packet table of `capture` (row for record), in order."""
    mask = packets.select(IS_PIECE).to_series()
    if not mask.any():
        return pl.DataFrame(schema=PIECES)
    rows = packets.filter(mask)
    records, buffer = capture.records, capture.buffer
    links = [i.link_type for i in capture.interfaces]
    data, cut = [], []
    for i, hdr, declared in zip(
            np.flatnonzero(mask.to_numpy()).tolist(), rows["tcp_hdr_len"].to_list(),
            rows["payload_len"].to_list(), strict=True):
        at, size = int(records.offset[i]), int(records.caplen[i])
        payload, length = ip_payload(bytes(buffer[at : at + size]),
                                     links[records.iface[i]], capture.big_endian)
        if hdr is not None:  # a TCP segment: its data after the header
            payload, length = payload[hdr:], declared
        data.append(payload)
        cut.append(len(payload) < length)
    return rows.select(_KEPT).with_columns(
        data=pl.Series(data, dtype=pl.Binary), cut=pl.Series(cut, dtype=pl.Boolean))


class Reassembly:
    """The fragments and TCP streams of one capture pending, from one run of pieces to the
    next."""

    def __init__(self) -> None:
        self.fragments = Fragments()
        self.streams = Streams()

    def messages(self, pieces: pl.DataFrame) -> pl.DataFrame:
        """The DNS messages the `pieces` (the next of the capture, in order) complete."""
        rows: list[dict[str, Any]] = []
        for piece in pieces.iter_rows(named=True):
            where = tuple(piece[c] for c in SEEN_AT)
            if piece["tcp_flags"] is None:
                key = (*where, piece["ip_version"], piece["src"], piece["dst"], piece["ip_proto"],
                       piece["ip_id"])
                datagram = self.fragments.add(key, piece["ts_ns"], piece["ip_frag_offset"],
                                              piece["ip_mf"], piece["data"], piece["cut"])
                if datagram is None or len(datagram) < UDP_LEN + HEADER_LEN:
                    continue
                ports = UDP_PORTS.unpack_from(datagram)
                if not set(ports) & set(DNS_PORTS):
                    continue
                rows.append(_message(piece, ports, datagram[UDP_LEN:]))
            else:
                key = (*where, piece["src"], piece["sport"], piece["dst"], piece["dport"])
                for msg in self.streams.add(key, piece["tcp_flags"], piece["tcp_seq"],
                                            piece["data"], piece["cut"]):
                    if len(msg) >= HEADER_LEN:
                        rows.append(_message(piece, (piece["sport"], piece["dport"]), msg))
        return pl.from_dicts(rows, schema=DNS_MESSAGES) if rows else pl.DataFrame(
            schema=DNS_MESSAGES)


def _message(piece: dict[str, Any], ports: tuple[int, int], msg: bytes) -> dict[str, Any]:
    row = {c: piece.get(c) for c in DNS_MESSAGES.names()} | {
        "status": Status.OK.value, "sport": ports[0], "dport": ports[1]}
    decode_dns(msg, row)
    return row


def dns_messages(capture: Capture, packets: pl.DataFrame) -> pl.DataFrame:
    """The reassembled DNS messages of a whole capture, given its packet table."""
    return Reassembly().messages(pieces(capture, packets))

"""Where the compiled kernel writes a chunk's table: one row per column, one column per record.

Numeric columns are rows of three matrices by width (`Out.v8`, `v16`, `v32`: the schema's
type, booleans as 0/1 bytes, so that the table takes them without a conversion) with one
validity matrix beside them (`Out.valid`); text columns (addresses, the question name) are rows
of one int32 matrix of codes into the distinct texts (`Texts`), -1 for null. The slot numbers
below are compile-time constants of the kernel, and `put`/`get` resolve a slot's matrix at
compile time.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.decode.compiled.jit import Int, inlined
from pcapkit.decode.fast.columns import NO_LAYER
from pcapkit.decode.reference import PRIMARY
from pcapkit.decode.schema import PACKET_SCHEMA

NUMERIC = (
    "direction", "sll_ifindex", "sll_pkttype", "vlan", "l3_proto", "tunnel", "tunnel_depth",
    "outer_sport", "outer_dport", "vni", "ip_version", "ip_proto", "ip_ttl", "ip_id", "ip_len",
    "ip_df", "ip_mf", "ip_frag_offset", "sport", "dport", "tcp_flags", "tcp_seq", "tcp_ack",
    "tcp_win", "tcp_hdr_len", "tcp_mss", "tcp_wscale", "tcp_sack_perm", "tcp_sack_blocks",
    "tcp_sack_left", "tcp_sack_right", "tcp_ts_val", "tcp_ts_ecr", "payload_len", "icmp_type",
    "icmp_code", "icmp_mtu", "icmp_q_proto", "icmp_q_sport", "icmp_q_dport", "dns_id",
    "dns_flags", "dns_qr", "dns_rcode", "dns_qtype", "dns_qdcount", "dns_ancount",
    "icmp_echo_id", "icmp_echo_seq", "arp_op",
)
(
    DIRECTION, SLL_IFINDEX, SLL_PKTTYPE, VLAN, L3_PROTO, TUNNEL, TUNNEL_DEPTH,
    OUTER_SPORT, OUTER_DPORT, VNI, IP_VERSION, IP_PROTO, IP_TTL, IP_ID, IP_LEN,
    IP_DF, IP_MF, IP_FRAG_OFFSET, SPORT, DPORT, TCP_FLAGS, TCP_SEQ, TCP_ACK,
    TCP_WIN, TCP_HDR_LEN, TCP_MSS, TCP_WSCALE, TCP_SACK_PERM, TCP_SACK_BLOCKS,
    TCP_SACK_LEFT, TCP_SACK_RIGHT, TCP_TS_VAL, TCP_TS_ECR, PAYLOAD_LEN, ICMP_TYPE,
    ICMP_CODE, ICMP_MTU, ICMP_Q_PROTO, ICMP_Q_SPORT, ICMP_Q_DPORT, DNS_ID,
    DNS_FLAGS, DNS_QR, DNS_RCODE, DNS_QTYPE, DNS_QDCOUNT, DNS_ANCOUNT,
    ICMP_ECHO_ID, ICMP_ECHO_SEQ, ARP_OP,
) = range(len(NUMERIC))

TEXT = ("outer_src", "outer_dst", "src", "dst", "icmp_q_src", "icmp_q_dst", "dns_qname",
        "icmp_nd_target", "arp_sender", "arp_target")
(
    OUTER_SRC, OUTER_DST, SRC, DST, ICMP_Q_SRC, ICMP_Q_DST, DNS_QNAME, ICMP_ND_TARGET,
    ARP_SENDER, ARP_TARGET,
) = range(len(TEXT))

WIDE = (pl.Int32, pl.UInt32)
#: each numeric column's width in bytes (booleans and enum codes: 1) and row in that matrix
WIDTH = np.array([4 if isinstance(PACKET_SCHEMA[c], WIDE) else
                  2 if isinstance(PACKET_SCHEMA[c], pl.UInt16) else 1 for c in NUMERIC], np.int64)
ROW = np.array([int((WIDTH[:i] == WIDTH[i]).sum()) for i in range(len(NUMERIC))], np.int64)

#: slots emptied when an encapsulation is removed (the reference decoder's PRIMARY columns)
PRIMARY_NUMERIC = np.array([i for i, c in enumerate(NUMERIC) if c in PRIMARY], np.int64)
PRIMARY_TEXT = np.array([i for i, c in enumerate(TEXT) if c in PRIMARY], np.int64)


class Out(NamedTuple):
    """The kernel's per-row output for `n` records."""

    v8: npt.NDArray[np.uint8]  #: the 1-byte NUMERIC columns × n
    v16: npt.NDArray[np.uint16]
    v32: npt.NDArray[np.uint32]
    valid: npt.NDArray[np.bool_]  #: NUMERIC × n
    text: npt.NDArray[np.int32]  #: TEXT × n, codes into `Texts`, -1: null
    status: npt.NDArray[np.uint8]  #: index in `Status`
    layer: npt.NDArray[np.uint8]  #: index in `Layer`, NO_LAYER when decoding did not stop
    deferred: npt.NDArray[np.bool_]  #: left to the reference decoder
    answered: npt.NDArray[np.bool_]  #: `dns_answers` is a list (the questions were read)
    ans_start: npt.NDArray[np.int64]  #: the row's first answer in `Texts.answers`
    ans_end: npt.NDArray[np.int64]

    @classmethod
    def allocate(cls, n: int) -> Out:
        rows = [int(np.count_nonzero(w == WIDTH)) for w in (1, 2, 4)]
        return cls(
            np.zeros((rows[0], n), np.uint8), np.zeros((rows[1], n), np.uint16),
            np.zeros((rows[2], n), np.uint32),
            np.zeros((len(NUMERIC), n), np.bool_),
            np.full((len(TEXT), n), -1, np.int32), np.zeros(n, np.uint8),
            np.full(n, NO_LAYER, np.uint8), np.zeros(n, np.bool_), np.zeros(n, np.bool_),
            np.zeros(n, np.int64), np.zeros(n, np.int64),
        )

    def values(self, slot: int) -> np.ndarray[Any, Any]:
        """Numeric column `slot` as the schema's numpy type."""
        matrix = (self.v8, self.v16, None, self.v32)[WIDTH[slot] - 1]
        assert matrix is not None
        column: np.ndarray[Any, Any] = matrix[ROW[slot]]
        dtype = PACKET_SCHEMA[NUMERIC[slot]]
        if isinstance(dtype, pl.Boolean):
            column = column.view(np.bool_)
        elif isinstance(dtype, pl.Int32):
            column = column.view(np.int32)
        return column

    def reset(self, i: int) -> None:
        """Forget what a row that ran out of room wrote, before it is decoded again."""
        self.valid[:, i] = False
        self.text[:, i] = -1
        self.status[i], self.layer[i] = 0, NO_LAYER
        self.deferred[i] = self.answered[i] = False


@inlined
def put(o: Out, slot: Int, i: Int, value: Int) -> None:
    """Numeric column `slot` of row `i` is `value`."""
    setv(o, slot, i, value)
    o.valid[slot, i] = True


@inlined
def setv(o: Out, slot: Int, i: Int, value: Int) -> None:
    """The value of numeric column `slot` of row `i`, its validity unchanged."""
    width, row = WIDTH[slot], ROW[slot]
    if width == 1:
        o.v8[row, i] = value
    elif width == 2:
        o.v16[row, i] = value
    else:
        o.v32[row, i] = value


@inlined
def get(o: Out, slot: Int, i: Int) -> Int:
    width, row = WIDTH[slot], ROW[slot]
    if width == 1:
        return np.int64(o.v8[row, i])
    if width == 2:
        return np.int64(o.v16[row, i])
    return np.int64(o.v32[row, i])

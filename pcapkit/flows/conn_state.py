"""Zeek's `conn_state` and `history` for each connection, by Zeek's own rules.

The endpoint state machine follows Zeek's TCP analyzer (`TCPSessionAdapter::UpdateStateMachine`
and its `Update*State` helpers: INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED,
RESET); `conn_state` is then Zeek's `conn_state()` of base/protocols/conn/main.zeek. The
originator is our client.

History letters are Zeek's `update_history`: a packet with more than one of SYN/FIN/RST adds
nothing here; one with SYN adds `s` (or `h` with ACK), FIN `f`, RST `r`; otherwise a packet
with payload adds `d` and an empty one with ACK `a`. Each letter is written the first time it
happens in its direction, and s/h/f/r again when the sequence number differs from the last one
of that kind (a new SYN, a FIN at a new place). Upper case for the client.

Deliberate differences: Zeek's other letters (`t` retransmission, `g` gap, `w` zero window,
`c` bad checksum, `i`/`q` odd flag mixes, `^` flipped roles) are not written — retransmissions
and zero windows have their own columns and detectors —; and Zeek's payload size (from sequence
numbers) is our payload byte count, which is the same unless the capture missed segments.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import numpy.typing as npt

from pcapkit.codes import TcpFlags
from pcapkit.flows.schema import ConnState

SYN, ACK, FIN, RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)


class Endpoint(IntEnum):
    """Zeek's TCP endpoint states."""

    INACTIVE = 0
    SYN_SENT = 1
    SYN_ACK_SENT = 2
    PARTIAL = 3
    ESTABLISHED = 4
    CLOSED = 5
    RESET = 6


INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = list(Endpoint)


class _Conn:
    """One connection's state while its packets are walked."""

    __slots__ = ("history", "last_fin", "last_rst", "last_syn", "prev", "seen", "size", "state")

    def __init__(self) -> None:
        self.state = [INACTIVE, INACTIVE]  # [responder, originator]: indexed by from_client
        self.prev = [INACTIVE, INACTIVE]
        self.history: list[str] = []
        self.seen: set[str] = set()
        self.last_syn: list[int | None] = [None, None]
        self.last_fin: list[int | None] = [None, None]
        self.last_rst: list[int | None] = [None, None]
        self.size = [0, 0]

    def set(self, side: int, state: Endpoint) -> None:
        self.prev[side] = self.state[side]
        self.state[side] = state

    def letter(self, side: int, code: str) -> bool:
        """Zeek's CheckHistory: write the letter if new; True if it had been seen before."""
        code = code if side else code.lower()
        if code in self.seen:
            return True
        self.seen.add(code)
        self.history.append(code)
        return False

    def history_for(self, side: int, code: str, seq: int, last: list[int | None]) -> None:
        if self.letter(side, code) and last[side] != seq:
            self.history.append(code if side else code.lower())
        last[side] = seq


def _update_history(c: _Conn, side: int, flags: int, seq: int, length: int) -> None:
    bits = ((flags & SYN) != 0) + ((flags & FIN) != 0) + ((flags & RST) != 0)
    if bits > 1:
        return
    if bits == 1:
        if flags & SYN:
            c.history_for(side, "H" if flags & ACK else "S", seq, c.last_syn)
        if flags & FIN:
            c.history_for(side, "F", (seq + length) & 0xFFFFFFFF, c.last_fin)
        if flags & RST:
            c.history_for(side, "R", seq, c.last_rst)
    elif length:
        c.letter(side, "D")
    elif flags & ACK:
        c.letter(side, "A")


def _update_state(c: _Conn, side: int, flags: int, length: int) -> None:
    """Zeek's UpdateStateMachine for one packet from `side` (1 originator, 0 responder)."""
    me, peer = c.state[side], c.state[1 - side]
    syn, fin, rst, ack = flags & SYN, flags & FIN, flags & RST, flags & ACK
    if me == INACTIVE:
        if syn:
            if side:
                c.set(side, SYN_ACK_SENT if ack else SYN_SENT)
            else:
                if peer == SYN_SENT:
                    c.set(1, ESTABLISHED)
                c.set(0, ESTABLISHED)
        if fin:
            c.set(side, CLOSED)
        if rst:
            c.set(side, RESET)
        if c.state[side] == INACTIVE:
            if side == 0 and length == 0 and peer == SYN_SENT:
                pass  # an ACK of the SYN before the SYN-ACK does not make a partial connection
            elif ack and c.state[1 - side] == ESTABLISHED:
                c.set(side, ESTABLISHED)  # a SYN-ACK then an ACK: the SYN was missed
            else:
                c.set(side, PARTIAL)
    elif me in (SYN_SENT, SYN_ACK_SENT):
        if fin:
            c.set(side, CLOSED)
        if rst:
            c.set(side, RESET)
    elif me in (ESTABLISHED, PARTIAL):
        if syn and me == PARTIAL and peer == INACTIVE and not ack:
            c.set(side, SYN_SENT)
        if fin and not rst:
            c.set(side, CLOSED)
            if peer == RESET and c.prev[1 - side] == CLOSED:
                # A FIN then an RST from the peer was a normal close after all.
                c.set(1 - side, CLOSED)
        if rst:
            c.set(side, RESET)
    elif me == CLOSED and rst and peer != CLOSED:
        c.set(side, RESET)


def _conn_state(c: _Conn) -> ConnState:
    """Zeek's conn_state() for TCP."""
    os, rs = c.state[1], c.state[0]
    o_inactive = os in (INACTIVE, PARTIAL)
    r_inactive = rs in (INACTIVE, PARTIAL)
    if rs == RESET:
        if os in (SYN_SENT, SYN_ACK_SENT) or (os == RESET and c.size == [0, 0]):
            return ConnState.REJ
        return ConnState.RSTRH if o_inactive else ConnState.RSTR
    if os == RESET:
        return ConnState.RSTOS0 if r_inactive else ConnState.RSTO
    if rs == CLOSED and os == CLOSED:
        return ConnState.SF
    if os == CLOSED:
        return ConnState.SH if r_inactive else ConnState.S2
    if rs == CLOSED:
        return ConnState.SHR if o_inactive else ConnState.S3
    if os == SYN_SENT and rs == INACTIVE:
        return ConnState.S0
    if os == ESTABLISHED and rs == ESTABLISHED:
        return ConnState.S1
    return ConnState.OTH


def zeek_state_and_history(
    lconn: npt.NDArray[np.uint32],
    from_client: npt.NDArray[np.bool_],
    flags: npt.NDArray[np.uint16],
    seq: npt.NDArray[np.uint32],
    payload: npt.NDArray[np.uint32],
    n_conns: int,
) -> tuple[list[str], list[str]]:
    """`conn_state` and `history` per connection, from its packets in frame order.

    The arrays are the TCP rows sorted by (lconn, frame order); lconn runs 0..n_conns-1.
    """
    conns = [_Conn() for _ in range(n_conns)]
    for k, side, f, s, n in zip(
        lconn.tolist(), from_client.astype(np.int8).tolist(), flags.tolist(), seq.tolist(),
        payload.tolist(), strict=True,
    ):
        c = conns[k]
        c.size[side] += n
        _update_history(c, side, f, s, n)
        _update_state(c, side, f, n)
    return [_conn_state(c).value for c in conns], ["".join(c.history) for c in conns]

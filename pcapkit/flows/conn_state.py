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
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from pcapkit.codes import TcpFlags
from pcapkit.flows.compiled import Ints, run
from pcapkit.flows.schema import ConnState

SYN, ACK, FIN, RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
M32 = 0xFFFFFFFF


class Endpoint(IntEnum):
    """Zeek's TCP endpoint states."""

    INACTIVE = 0
    SYN_SENT = 1
    SYN_ACK_SENT = 2
    PARTIAL = 3
    ESTABLISHED = 4
    CLOSED = 5
    RESET = 6


# The kernel sees plain ints (numba does not know our enums).
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = (int(e) for e in Endpoint)

#: conn_state codes written by the kernel: positions in this list
STATES = list(ConnState)
S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH = range(len(STATES))
#: each code's text, looked up for all connections at once (an enum's `.value` per connection
#: cost ~0.15 s of a 5M-packet run)
STATE_TEXT = np.array([s.value for s in STATES], dtype=object)

#: history letters in the order of their bit in the kernel's "seen" mask (upper case: client)
LETTERS = "SHADFR"
LETTER_CODES = tuple(ord(c) for c in LETTERS)
L_S, L_H, L_A, L_D, L_F, L_R = range(len(LETTERS))

# One connection's state while its packets are walked: offsets in the state array; the
# two-element fields are indexed by side (1 originator, 0 responder: `from_client`).
STATE = 0  #: [2] endpoint state
PREV = 2  #: [2] the state before the last change
SEEN = 4  #: bit 2 * letter + side: the letter was written
LAST_SYN = 5  #: [2] sequence of the last SYN / SYN-ACK letter, -1: none
LAST_FIN = 7  #: [2] sequence after the last FIN
LAST_RST = 9  #: [2] sequence of the last RST
SIZE = 11  #: [2] payload bytes
FIELDS = 13


def zeek_state_and_history(
    lconn: npt.NDArray[np.uint32],
    from_client: npt.NDArray[np.bool_],
    flags: npt.NDArray[np.uint16],
    seq: npt.NDArray[np.uint32],
    payload: npt.NDArray[np.uint32],
    n_conns: int,
    compiled: bool | None = None,
) -> tuple[list[str], list[str]]:
    """`conn_state` and `history` per connection, from its packets in frame order.

    The arrays are the TCP rows sorted by (lconn, frame order); lconn runs 0..n_conns-1.
    `compiled` as in `pcapkit.flows.tcp_analysis.analyse`.
    """
    walk = ZeekWalk(n_conns)
    histories = walk.histories(lconn, from_client, flags, seq, payload, compiled)
    return walk.states(), histories


class ZeekWalk:
    """Zeek's walk over connections' packets, resumable: one long connection's is walked a
    slice of its rows at a time (`pcapkit.flows.sliced`), its state carried between them."""

    def __init__(self, n_conns: int) -> None:
        self.codes = np.zeros(n_conns, np.uint8)  #: each connection's state once walked
        self.fields = np.zeros(FIELDS, np.int64)  #: the state of the connection walked last
        self.last = np.full(1, -1, np.int64)  #: that connection (-1: none yet)

    def histories(self, lconn: npt.NDArray[np.uint32], from_client: npt.NDArray[np.bool_],
                  flags: npt.NDArray[np.uint16], seq: npt.NDArray[np.uint32],
                  payload: npt.NDArray[np.uint32], compiled: bool | None = None) -> list[str]:
        """The history letters these rows add to each connection from `lconn`'s first to its
        last (every connection from 0 when the rows are all of them)."""
        letters = np.zeros(len(lconn), np.uint8)
        # the side indexes the state and shifts a bit; the payload is added to sequence numbers
        run(_zeek_kernel, [lconn, from_client.astype(np.int64), flags, seq,
                           payload.astype(np.int64)],
            [self.fields, self.last, letters, self.codes], compiled)
        # Each packet wrote at most one letter: a connection's history is its packets' letters.
        written = letters != 0
        text = letters[written].tobytes().decode("ascii")
        owner = lconn[written]
        first = int(lconn[0]) if len(lconn) else 0
        last = int(lconn[-1]) + 1 if len(lconn) else len(self.codes)
        bounds = np.searchsorted(owner, np.arange(first, last + 1)).tolist()
        return [text[a:b] for a, b in pairwise(bounds)]

    def states(self) -> list[str]:
        states: list[str] = STATE_TEXT[self.codes].tolist()
        return states


def _zeek_kernel(
    lconn: Ints, side_of: Ints, flags: Ints, seq: Ints, payload: Ints, st: Ints, walked: Ints,
    letters: npt.NDArray[np.uint8], states: npt.NDArray[np.uint8],
) -> None:
    """Zeek's history letter of each packet (ASCII, 0: none) and conn_state of each connection
    (written at its last packet here; a later slice of its rows writes it again), `st` the
    state of connection `walked[0]`, carried from the rows before and left for the rows after.

    One body, no helper calls, explicit `!= 0` tests: what numba compiles (`compiled.py`)."""
    n = len(lconn)
    for i in range(n):
        k = lconn[i]
        if k != walked[0]:
            walked[0] = k
            for j in range(FIELDS):
                st[j] = 0
            for j in range(2):
                st[LAST_SYN + j] = -1
                st[LAST_FIN + j] = -1
                st[LAST_RST + j] = -1
        side = side_of[i]
        f = flags[i]
        length = payload[i]
        st[SIZE + side] += length

        # --- update_history: at most one letter per packet ---
        syn, fin, rst, ack = f & SYN != 0, f & FIN != 0, f & RST != 0, f & ACK != 0
        code = -1  # the letter
        last = -1  # for s/h/f/r: the offset of its "last sequence" field, else -1
        at = 0  # ... and the sequence number compared with it
        if syn + fin + rst == 1:
            if syn:
                code, last, at = (L_H if ack else L_S), LAST_SYN, seq[i]
            elif fin:
                code, last, at = L_F, LAST_FIN, (seq[i] + length) & M32
            else:
                code, last, at = L_R, LAST_RST, seq[i]
        elif syn + fin + rst == 0:
            if length != 0:
                code = L_D
            elif ack:
                code = L_A
        if code >= 0:
            bit = 1 << (2 * code + side)
            letter = LETTER_CODES[code] + (0 if side != 0 else 32)
            if st[SEEN] & bit == 0:  # Zeek's CheckHistory: written the first time
                st[SEEN] |= bit
                letters[i] = letter
            elif last >= 0 and st[last + side] != at:  # s/h/f/r again at a new sequence
                letters[i] = letter
            if last >= 0:
                st[last + side] = at

        # --- UpdateStateMachine for this packet from `side` ---
        me, peer = st[STATE + side], st[STATE + 1 - side]
        if me in (INACTIVE, SYN_SENT, SYN_ACK_SENT):
            if me == INACTIVE and syn:
                if side != 0:
                    st[PREV + 1] = st[STATE + 1]
                    st[STATE + 1] = SYN_ACK_SENT if ack else SYN_SENT
                else:
                    if peer == SYN_SENT:
                        st[PREV + 1] = st[STATE + 1]
                        st[STATE + 1] = ESTABLISHED
                    st[PREV] = st[STATE]
                    st[STATE] = ESTABLISHED
            if fin:
                st[PREV + side] = st[STATE + side]
                st[STATE + side] = CLOSED
            if rst:
                st[PREV + side] = st[STATE + side]
                st[STATE + side] = RESET
            if me == INACTIVE and st[STATE + side] == INACTIVE:
                if side == 0 and length == 0 and peer == SYN_SENT:
                    pass  # an ACK of the SYN before the SYN-ACK does not make a partial connection
                elif ack and st[STATE + 1 - side] == ESTABLISHED:
                    st[PREV + side] = st[STATE + side]  # a SYN-ACK then an ACK: SYN missed
                    st[STATE + side] = ESTABLISHED
                else:
                    st[PREV + side] = st[STATE + side]
                    st[STATE + side] = PARTIAL
        elif me in (ESTABLISHED, PARTIAL):
            if syn and me == PARTIAL and peer == INACTIVE and not ack:
                st[PREV + side] = st[STATE + side]
                st[STATE + side] = SYN_SENT
            if fin and not rst:
                st[PREV + side] = st[STATE + side]
                st[STATE + side] = CLOSED
                if peer == RESET and st[PREV + 1 - side] == CLOSED:
                    # A FIN then an RST from the peer was a normal close after all.
                    st[PREV + 1 - side] = st[STATE + 1 - side]
                    st[STATE + 1 - side] = CLOSED
            if rst:
                st[PREV + side] = st[STATE + side]
                st[STATE + side] = RESET
        elif me == CLOSED and rst and peer != CLOSED:
            st[PREV + side] = st[STATE + side]
            st[STATE + side] = RESET

        # --- Zeek's conn_state(), after the connection's last packet ---
        if i + 1 < n and lconn[i + 1] == k:
            continue
        os, rs = st[STATE + 1], st[STATE]
        o_inactive = os in (INACTIVE, PARTIAL)
        r_inactive = rs in (INACTIVE, PARTIAL)
        if rs == RESET:
            if os in (SYN_SENT, SYN_ACK_SENT) or (
                os == RESET and st[SIZE] == 0 and st[SIZE + 1] == 0
            ):
                states[k] = REJ
            else:
                states[k] = RSTRH if o_inactive else RSTR
        elif os == RESET:
            states[k] = RSTOS0 if r_inactive else RSTO
        elif rs == CLOSED and os == CLOSED:
            states[k] = SF
        elif os == CLOSED:
            states[k] = SH if r_inactive else S2
        elif rs == CLOSED:
            states[k] = SHR if o_inactive else S3
        elif os == SYN_SENT and rs == INACTIVE:
            states[k] = S0
        elif os == ESTABLISHED and rs == ESTABLISHED:
            states[k] = S1
        else:
            states[k] = OTH

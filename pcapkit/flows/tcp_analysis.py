"""Wireshark's per-segment TCP analysis (`tcp.analysis.*`), per connection and view.

This follows `tcp_analyze_sequence_number` of Wireshark's epan/dissectors/packet-tcp.c (4.0)
with relative sequence numbers, checked frame for frame against tshark on every capture we
have (tests/flows/test_tcp_analysis.py). Per direction it keeps the next expected sequence
number (`nextseq`, the highest seq + len seen, SYN and FIN counting one), when it was reached,
the last ACK sent and when, the window, and the duplicate-ACK count. Then, in Wireshark's order:

- zero-window probe: 1 byte at `nextseq` while the peer's window is 0 (skips the ACK checks);
- zero window: window 0 on a segment without SYN/FIN/RST;
- lost segment: seq beyond `nextseq` (not on RST);
- keep-alive: 0 or 1 byte at `nextseq - 1`, no SYN/FIN/RST;
- window update: empty, same seq/ack as before, new non-zero window;
- keep-alive ACK / zero-window-probe ACK: the reply to one (skips the duplicate-ACK check);
- duplicate ACK: empty, same seq/ack/non-zero window as the previous segment of that direction;
- then, for a segment with data, SYN or FIN whose seq is below `nextseq` and that is not a
  keep-alive: **fast retransmission** if the peer sent ≥ 2 duplicate ACKs for exactly this seq
  and its last ACK is < 20 ms old; else **out-of-order** if `nextseq` was reached less than the
  initial RTT ago (SYN → handshake ACK; 3 ms when unknown) and the segment does not end at
  `nextseq`; else **spurious retransmission** if the peer has already acknowledged all of it;
  else **retransmission**.

Relative sequence numbers matter because Wireshark treats 0 as "not known yet": the base is
the SYN's seq, or the first segment's seq − 1 mid-stream, or the peer's first ACK − 1,
whichever comes first. Window values are scaled when both SYNs carried a window-scale option.

Sizes do not matter: a TSO/GSO super-segment of 64 KB is one segment with a long `len`, and a
capture that starts mid-stream starts with `nextseq` unknown, so nothing is flagged before the
first segment of each direction has been seen.

Deliberate difference: Wireshark analyses a conversation over every interface of a capture,
so a node's `-i any` copies of one segment (veth, cni0, flannel.1…) look like retransmissions
of each other; we analyse each view apart and do not flag them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pcapkit.codes import TcpFlags
from pcapkit.flows.compiled import Ints, run
from pcapkit.flows.schema import TcpAnalysis

SYN, ACK, FIN, RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
M32 = 0xFFFFFFFF
HALF = 0x80000000  #: Wireshark's LT_SEQ(a, b): ((a - b) & M32) >= HALF, a before b modulo 2³²
FAST_RETRANSMISSION_WINDOW_NS = 20_000_000  #: Wireshark: retransmission ≤ 20 ms after dup ACK
DEFAULT_OOO_THRESHOLD_NS = 3_000_000  #: Wireshark: out-of-order threshold without an iRTT

# The kernel sees the flags as plain ints (numba does not know our enums), in `TcpAnalysis` order.
(
    RETRANSMISSION, FAST_RETRANSMISSION, SPURIOUS_RETRANSMISSION, OUT_OF_ORDER, KEEP_ALIVE,
    KEEP_ALIVE_ACK, WINDOW_UPDATE, ZERO_WINDOW, ZERO_WINDOW_PROBE, ZERO_WINDOW_PROBE_ACK,
    DUPLICATE_ACK, LOST_SEGMENT, ACK_LOST_SEGMENT,
) = (int(flag) for flag in TcpAnalysis)

# Wireshark's per-direction state (`tcp_flow_t` + `tcp_analyze_seq_info`): field offsets in a
# direction's block of the state array; direction d (1: from the client) starts at d * FIELDS.
BASE_KNOWN = 0  #: 1 once the relative-sequence base is known (Wireshark's "0: not yet")
BASE = 1
NEXTSEQ = 2
NEXTSEQTIME = 3
LASTACK = 4
LASTACKTIME = 5
WINDOW = 6
DUPACKNUM = 7
MAXSEQTOBEACKED = 8
LASTFLAGS = 9
SCALE = 10
FIELDS = 11


def analyse(
    lconn: npt.NDArray[np.uint32],
    from_client: npt.NDArray[np.bool_],
    ts_ns: npt.NDArray[np.int64],
    flags: npt.NDArray[np.uint16],
    seq: npt.NDArray[np.uint32],
    ack: npt.NDArray[np.uint32],
    win: npt.NDArray[np.int64],
    scales: npt.NDArray[np.int64],
    seglen: npt.NDArray[np.uint32],
    compiled: bool | None = None,
    carried: Carried | None = None,
) -> npt.NDArray[np.uint16]:
    """`TcpAnalysis` flags for each TCP row; rows sorted by (lconn, frame order).

    `scales` is `window_scales` of the connections (indexed by lconn). `compiled`: run the
    compiled kernel (True), the Python one (False), or choose by size (None,
    `pcapkit.flows.compiled`). `carried`: the state the walk of the rows before these left
    (`pcapkit.flows.sliced` walks one long connection a slice of its rows at a time), updated
    for the rows after; None: these rows are all there is.
    """
    out = np.zeros(len(lconn), np.uint16)
    state = carried or Carried()
    run(
        _analyse_kernel,
        [lconn, from_client, ts_ns, flags, seq, ack, win, scales[1], scales[0], seglen],
        [state.fields, state.walk, out],
        compiled,
    )
    return out


class Carried:
    """Where the walk stopped: both directions' state, and the connection it was in with its
    last SYN's time and its initial RTT (`WALK`)."""

    def __init__(self) -> None:
        self.fields = np.zeros(2 * FIELDS, np.int64)
        self.walk = np.array([-1, 0, 0], np.int64)


#: `Carried.walk`: the connection walked last (-1: none), its last SYN's time, its first RTT
WALK = ("current", "mru_syn", "first_rtt")


def window_scales(lconn: npt.NDArray[np.uint32], from_client: npt.NDArray[np.bool_],
                  flags: npt.NDArray[np.uint16], wscale: npt.NDArray[np.int16],
                  conns: int) -> npt.NDArray[np.int64]:
    """Each connection's window scale shifts, [0] the server's and [1] the client's (0 for
    both unless both sides' first SYN carried the option: RFC 7323, as Wireshark has it),
    from its rows (sorted by lconn, frame order; `wscale` -1 where absent)."""
    first = np.full((2, conns), -2, np.int64)  # -2: no SYN seen from that side
    syn = np.flatnonzero(flags & SYN)
    for side in (0, 1):
        rows = syn[from_client[syn] == bool(side)]
        seen, at = np.unique(lconn[rows], return_index=True)
        first[side, seen] = wscale[rows[at]]
    both = (first >= 0).all(axis=0)
    return np.where(both, np.minimum(first, 14), 0)


def _analyse_kernel(
    lconn: Ints, side_of: Ints, ts: Ints, flags: Ints, seq_raw: Ints, ack_raw: Ints,
    win_raw: Ints, scale_c: Ints, scale_s: Ints, seglen: Ints, st: Ints, walk: Ints,
    out: npt.NDArray[np.uint16],
) -> None:
    """tcp_analyze_sequence_number for every segment, `st` holding both directions' state and
    `walk` where it stopped (`Carried`), both carried from the rows before and left for the
    rows after.

    One body, no helper calls, explicit `!= 0` tests: what numba compiles (`compiled.py`)."""
    n = len(lconn)
    current = walk[0]
    mru_syn = walk[1]
    first_rtt = walk[2]
    for i in range(n):
        k = lconn[i]
        if k != current:
            current = k
            mru_syn = 0
            first_rtt = 0
            for j in range(2 * FIELDS):
                st[j] = 0
            st[WINDOW] = -1
            st[FIELDS + WINDOW] = -1
            st[FIELDS + SCALE] = scale_c[k]
            st[SCALE] = scale_s[k]
        f = flags[i]
        t = ts[i]
        length = seglen[i]
        fw = FIELDS if side_of[i] != 0 else 0
        rv = FIELDS - fw
        # Relative sequence numbers (dissect_tcp, before the analysis).
        if st[fw + BASE_KNOWN] == 0:
            st[fw + BASE] = seq_raw[i] if f & SYN != 0 else (seq_raw[i] - 1) & M32
            st[fw + BASE_KNOWN] = 1
        if st[rv + BASE_KNOWN] == 0 and f & ACK != 0:
            st[rv + BASE] = (ack_raw[i] - 1) & M32
            st[rv + BASE_KNOWN] = 1
        seq = (seq_raw[i] - st[fw + BASE]) & M32
        ack = (ack_raw[i] - st[rv + BASE]) & M32 if f & ACK != 0 else ack_raw[i]
        window = win_raw[i] if f & SYN != 0 else win_raw[i] << st[fw + SCALE]
        # The initial RTT: most recent SYN to the first ACK of the handshake.
        if f & (SYN | ACK) == SYN:
            mru_syn = t
        elif f & (SYN | ACK) == ACK and first_rtt == 0 and mru_syn != 0:
            first_rtt = t - mru_syn

        # --- tcp_analyze_sequence_number for this segment ---
        nextseq = st[fw + NEXTSEQ]
        lastack = st[fw + LASTACK]
        res = 0
        ctl = f & (SYN | FIN | RST)
        if length == 1 and seq == nextseq and st[rv + WINDOW] == 0:
            res |= ZERO_WINDOW_PROBE
        else:
            if window == 0 and ctl == 0:
                res |= ZERO_WINDOW
            # nextseq && GT_SEQ(seq, nextseq)
            if nextseq != 0 and ((nextseq - seq) & M32) >= HALF and f & RST == 0:
                res |= LOST_SEGMENT
            if length <= 1 and seq == (nextseq - 1) & M32 and ctl == 0:
                res |= KEEP_ALIVE
            same = length == 0 and seq == nextseq and ack == lastack and ctl == 0
            if same and window != 0 and window != st[fw + WINDOW]:
                res |= WINDOW_UPDATE
            if (
                same and window != 0 and window == st[fw + WINDOW]
                and st[rv + LASTFLAGS] & KEEP_ALIVE != 0
            ):
                res |= KEEP_ALIVE_ACK
            elif (
                length == 0 and window == 0 and window == st[fw + WINDOW] and seq == nextseq
                and (ack == lastack or ack == (lastack + 1) & M32) and ctl == 0
                and st[rv + LASTFLAGS] & ZERO_WINDOW_PROBE != 0
            ):
                res |= ZERO_WINDOW_PROBE_ACK
            elif same and window != 0 and window == st[fw + WINDOW]:
                st[fw + DUPACKNUM] += 1
                res |= DUPLICATE_ACK
        if ack != lastack:
            st[fw + DUPACKNUM] = 0
        # rev.maxseqtobeacked && GT_SEQ(ack, rev.maxseqtobeacked) && ACK
        rmax = st[rv + MAXSEQTOBEACKED]
        if rmax != 0 and ((rmax - ack) & M32) >= HALF and f & ACK != 0:
            res |= ACK_LOST_SEGMENT
            st[rv + MAXSEQTOBEACKED] = st[rv + NEXTSEQ]
        end = (seq + length + (1 if f & (SYN | FIN) != 0 else 0)) & M32
        if (length > 0 or f & (SYN | FIN) != 0) and res & KEEP_ALIVE == 0:
            # Fast retransmission, out-of-order, spurious or plain retransmission, or none.
            # A data segment starting one byte before `nextseq` is not taken for a
            # retransmission (tshark 4.0 does so; such segments carry a keep-alive's byte
            # followed by new data).
            not_advanced = (
                nextseq != 0 and ((seq - nextseq) & M32) >= HALF
                and not (length > 0 and seq == (nextseq - 1) & M32)
            )
            rlastack = st[rv + LASTACK]
            ooo_threshold = DEFAULT_OOO_THRESHOLD_NS if first_rtt == 0 else first_rtt
            if (
                not_advanced and st[rv + DUPACKNUM] >= 2 and rlastack == seq
                and t - st[rv + LASTACKTIME] < FAST_RETRANSMISSION_WINDOW_NS
            ):
                res |= FAST_RETRANSMISSION
            elif (
                not_advanced and t - st[fw + NEXTSEQTIME] < ooo_threshold
                and nextseq != end
            ):
                res |= OUT_OF_ORDER
            # Already acknowledged in full: spurious, even when the capture missed the original.
            elif (
                length > 0 and rlastack != 0
                and not (rlastack - ((seq + length) & M32)) & M32 >= HALF
            ):
                res |= SPURIOUS_RETRANSMISSION
            elif not_advanced:
                res |= RETRANSMISSION
        # GT_SEQ(end, nextseq) || !nextseq
        if (((nextseq - end) & M32) >= HALF or nextseq == 0) and res & ZERO_WINDOW_PROBE == 0:
            st[fw + NEXTSEQ] = end
            st[fw + NEXTSEQTIME] = t
        if (seq == st[fw + MAXSEQTOBEACKED] or st[fw + MAXSEQTOBEACKED] == 0) and (
            res & ZERO_WINDOW_PROBE == 0
        ):
            st[fw + MAXSEQTOBEACKED] = st[fw + NEXTSEQ]
        st[fw + WINDOW] = window
        st[fw + LASTACK] = ack
        st[fw + LASTACKTIME] = t
        st[fw + LASTFLAGS] = res
        out[i] = res
    walk[0] = current
    walk[1] = mru_syn
    walk[2] = first_rtt

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
from pcapkit.flows.schema import TcpAnalysis

SYN, ACK, FIN, RST = int(TcpFlags.SYN), int(TcpFlags.ACK), int(TcpFlags.FIN), int(TcpFlags.RST)
M32 = 0xFFFFFFFF
FAST_RETRANSMISSION_WINDOW_NS = 20_000_000  #: Wireshark: retransmission ≤ 20 ms after dup ACK
DEFAULT_OOO_THRESHOLD_NS = 3_000_000  #: Wireshark: out-of-order threshold without an iRTT


def _lt(a: int, b: int) -> bool:
    """Wireshark's LT_SEQ: a before b, modulo 2³²."""
    return ((a - b) & M32) >= 0x80000000


def _gt(a: int, b: int) -> bool:
    return _lt(b, a)


class _Dir:
    """Wireshark's per-direction analysis state (`tcp_flow_t` + `tcp_analyze_seq_info`)."""

    __slots__ = (
        "base",
        "dupacknum",
        "lastack",
        "lastacktime",
        "lastflags",
        "maxseqtobeacked",
        "nextseq",
        "nextseqtime",
        "scale",
        "window",
    )

    def __init__(self) -> None:
        self.base: int | None = None
        self.nextseq = 0
        self.nextseqtime = 0
        self.lastack = 0
        self.lastacktime = 0
        self.window = -1
        self.dupacknum = 0
        self.maxseqtobeacked = 0
        self.lastflags = 0
        self.scale = 0


def analyse(
    lconn: npt.NDArray[np.uint32],
    from_client: npt.NDArray[np.bool_],
    ts_ns: npt.NDArray[np.int64],
    flags: npt.NDArray[np.uint16],
    seq: npt.NDArray[np.uint32],
    ack: npt.NDArray[np.uint32],
    win: npt.NDArray[np.uint16],
    wscale: npt.NDArray[np.int16],
    seglen: npt.NDArray[np.uint32],
) -> npt.NDArray[np.uint16]:
    """`TcpAnalysis` flags for each TCP row; rows sorted by (lconn, frame order).

    `wscale` is the window-scale option's shift, -1 where absent.
    """
    out = np.zeros(len(lconn), np.uint16)
    scales = _window_scales(lconn, from_client, flags, wscale)
    current = -1
    dirs = (_Dir(), _Dir())
    mru_syn = 0
    first_rtt = 0
    for i, (k, side, t, f, s_raw, a_raw, w_raw, n) in enumerate(
        zip(
            lconn.tolist(), from_client.astype(np.int8).tolist(), ts_ns.tolist(),
            flags.tolist(), seq.tolist(), ack.tolist(), win.tolist(), seglen.tolist(),
            strict=True,
        )
    ):
        if k != current:
            current, dirs, mru_syn, first_rtt = k, (_Dir(), _Dir()), 0, 0
            dirs[1].scale, dirs[0].scale = scales.get(k, (0, 0))
        fwd, rev = dirs[side], dirs[1 - side]
        # Relative sequence numbers (dissect_tcp, before the analysis).
        if fwd.base is None:
            fwd.base = s_raw if f & SYN else (s_raw - 1) & M32
        if rev.base is None and f & ACK:
            rev.base = (a_raw - 1) & M32
        s = (s_raw - fwd.base) & M32
        a = (a_raw - rev.base) & M32 if f & ACK and rev.base is not None else a_raw
        w = w_raw if f & SYN else w_raw << fwd.scale
        # The initial RTT: most recent SYN to the first ACK of the handshake.
        if f & (SYN | ACK) == SYN:
            mru_syn = t
        elif f & (SYN | ACK) == ACK and first_rtt == 0 and mru_syn:
            first_rtt = t - mru_syn
        out[i] = _analyse_one(fwd, rev, t, f, s, a, w, n, first_rtt)
    return out


def _analyse_one(
    fwd: _Dir, rev: _Dir, t: int, f: int, seq: int, ack: int, window: int, seglen: int,
    first_rtt: int,
) -> int:
    """tcp_analyze_sequence_number for one segment: its flags, and the state updated."""
    flags = 0
    ctl = f & (SYN | FIN | RST)
    if seglen == 1 and seq == fwd.nextseq and rev.window == 0:
        flags |= TcpAnalysis.ZERO_WINDOW_PROBE
    else:
        if window == 0 and not ctl:
            flags |= TcpAnalysis.ZERO_WINDOW
        if fwd.nextseq and _gt(seq, fwd.nextseq) and not f & RST:
            flags |= TcpAnalysis.LOST_SEGMENT
        if seglen <= 1 and seq == (fwd.nextseq - 1) & M32 and not ctl:
            flags |= TcpAnalysis.KEEP_ALIVE
        same = seglen == 0 and seq == fwd.nextseq and ack == fwd.lastack and not ctl
        if same and window and window != fwd.window:
            flags |= TcpAnalysis.WINDOW_UPDATE
        if same and window and window == fwd.window and rev.lastflags & TcpAnalysis.KEEP_ALIVE:
            flags |= TcpAnalysis.KEEP_ALIVE_ACK
        elif (
            seglen == 0 and window == 0 and window == fwd.window and seq == fwd.nextseq
            and ack in (fwd.lastack, (fwd.lastack + 1) & M32) and not ctl
            and rev.lastflags & TcpAnalysis.ZERO_WINDOW_PROBE
        ):
            flags |= TcpAnalysis.ZERO_WINDOW_PROBE_ACK
        elif same and window and window == fwd.window:
            fwd.dupacknum += 1
            flags |= TcpAnalysis.DUPLICATE_ACK
    if ack != fwd.lastack:
        fwd.dupacknum = 0
    if rev.maxseqtobeacked and _gt(ack, rev.maxseqtobeacked) and f & ACK:
        flags |= TcpAnalysis.ACK_LOST_SEGMENT
        rev.maxseqtobeacked = rev.nextseq
    if (seglen > 0 or f & (SYN | FIN)) and not flags & TcpAnalysis.KEEP_ALIVE:
        flags |= _retransmission_class(fwd, rev, t, f, seq, seglen, first_rtt)
    nextseq = (seq + seglen + (1 if f & (SYN | FIN) else 0)) & M32
    if (_gt(nextseq, fwd.nextseq) or not fwd.nextseq) and not flags & TcpAnalysis.ZERO_WINDOW_PROBE:
        fwd.nextseq = nextseq
        fwd.nextseqtime = t
    if (seq == fwd.maxseqtobeacked or not fwd.maxseqtobeacked) and not (
        flags & TcpAnalysis.ZERO_WINDOW_PROBE
    ):
        fwd.maxseqtobeacked = fwd.nextseq
    fwd.window = window
    fwd.lastack = ack
    fwd.lastacktime = t
    fwd.lastflags = flags
    return flags


def _retransmission_class(
    fwd: _Dir, rev: _Dir, t: int, f: int, seq: int, seglen: int, first_rtt: int
) -> int:
    """Fast retransmission, out-of-order, spurious or plain retransmission, or 0."""
    # A data segment starting one byte before `nextseq` is not taken for a retransmission
    # (tshark 4.0 does so; such segments carry a keep-alive's byte followed by new data).
    not_advanced = (
        bool(fwd.nextseq) and _lt(seq, fwd.nextseq)
        and not (seglen > 0 and seq == (fwd.nextseq - 1) & M32)
    )
    if (
        not_advanced and rev.dupacknum >= 2 and rev.lastack == seq
        and t - rev.lastacktime < FAST_RETRANSMISSION_WINDOW_NS
    ):
        return TcpAnalysis.FAST_RETRANSMISSION
    ooo_threshold = first_rtt or DEFAULT_OOO_THRESHOLD_NS
    end = (seq + seglen + (1 if f & (SYN | FIN) else 0)) & M32
    if not_advanced and t - fwd.nextseqtime < ooo_threshold and fwd.nextseq != end:
        return TcpAnalysis.OUT_OF_ORDER
    # Already acknowledged in full: spurious, even when the capture missed the original.
    if seglen > 0 and rev.lastack and not _gt((seq + seglen) & M32, rev.lastack):
        return TcpAnalysis.SPURIOUS_RETRANSMISSION
    return TcpAnalysis.RETRANSMISSION if not_advanced else 0


def _window_scales(
    lconn: npt.NDArray[np.uint32],
    from_client: npt.NDArray[np.bool_],
    flags: npt.NDArray[np.uint16],
    wscale: npt.NDArray[np.int16],
) -> dict[int, tuple[int, int]]:
    """(client shift, server shift) per connection with SYNs: each side's first SYN's option,
    used only when both sides sent one (RFC 7323; Wireshark does the same)."""
    found: dict[int, list[int | None]] = {}
    for i in np.flatnonzero(flags & SYN).tolist():
        entry = found.setdefault(int(lconn[i]), [None, None])  # [server, client]
        side = int(from_client[i])
        if entry[side] is None:
            entry[side] = int(wscale[i])
    scales: dict[int, tuple[int, int]] = {}
    for k, (server, client) in found.items():
        if client is not None and server is not None and client >= 0 and server >= 0:
            scales[k] = (min(client, 14), min(server, 14))
    return scales

"""The TCP option walk, one option per step for all rows still walking.

A header has at most 40 option bytes, so at most 40 steps; most rows stop after 3 to 5
(NOP NOP timestamps; MSS, SACK-permitted, timestamps, NOP, window scale).
"""

from __future__ import annotations

import numpy as np

from pcapkit.decode.fast.columns import Columns, Ints
from pcapkit.decode.fast.gather import Headers

END, NOP, MSS, WSCALE, SACK_PERM, SACK, TIMESTAMPS = 0, 1, 2, 3, 4, 5, 8
SACK_LENGTHS = (10, 18, 26, 34)
MAX_STEPS = 40


def walk_options(hdr: Headers, cols: Columns, rows: Ints, pos: Ints, end: Ints) -> None:
    """Options between `pos` and the header's `end` in each row; the first of each kind counts."""
    seen = {kind: np.zeros(hdr.n, np.bool_) for kind in (MSS, WSCALE, SACK, TIMESTAMPS)}
    for _ in range(MAX_STEPS):
        going = pos < end
        rows, pos, end = rows[going], pos[going], end[going]
        if not len(rows):
            return
        kind = hdr.uint(rows, pos, 1)
        size = hdr.uint(rows, pos + 1, 1)
        nop = kind == NOP
        sized = ~nop & (kind != END) & (pos + 2 <= end)
        sized &= (size >= 2) & (pos + size <= end)
        _record(hdr, cols, seen, rows[sized], pos[sized], kind[sized], size[sized])
        step = np.where(nop, 1, size)
        keep = nop | sized
        rows, pos, end = rows[keep], pos[keep] + step[keep], end[keep]


def _record(hdr: Headers, cols: Columns, seen: dict[int, np.ndarray], rows: Ints, pos: Ints,
            kind: Ints, size: Ints) -> None:
    def first(option: int, length: bool | np.ndarray) -> tuple[Ints, Ints]:
        hit = (kind == option) & length
        hit[hit] = ~seen[option][rows[hit]]
        seen[option][rows[hit]] = True
        return rows[hit], pos[hit]

    r, p = first(MSS, size == 4)
    cols.put("tcp_mss", r, hdr.uint(r, p + 2, 2))
    r, p = first(WSCALE, size == 3)
    cols.put("tcp_wscale", r, hdr.uint(r, p + 2, 1))
    perm = (kind == SACK_PERM) & (size == 2)
    cols.put("tcp_sack_perm", rows[perm], True)
    r, p = first(SACK, np.isin(size, SACK_LENGTHS))
    cols.put("tcp_sack_blocks", r, (hdr.uint(r, p + 1, 1) - 2) // 8)
    cols.put("tcp_sack_left", r, hdr.uint(r, p + 2, 4))
    cols.put("tcp_sack_right", r, hdr.uint(r, p + 6, 4))
    r, p = first(TIMESTAMPS, size == 10)
    cols.put("tcp_ts_val", r, hdr.uint(r, p + 2, 4))
    cols.put("tcp_ts_ecr", r, hdr.uint(r, p + 6, 4))

"""The header bytes of every record of a chunk, gathered into one (n × K) uint8 matrix.

Row i holds the first K bytes of record i (K = `WIDTH`, or less when no record is that long);
bytes past a record's captured length are whatever follows it in the file, so every read is
guarded by the layer's length checks against `caplen`. Fields are read for a set of rows at a
per-row column with one flat gather per byte, which is what lets every layer offset (VLAN tags,
IPv4 IHL, TCP options, an inner frame) differ from row to row without a Python loop.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pcapkit.read.records import Records

#: bytes gathered per record: VXLAN + inner Ethernet + 2 tags + IPv6 + TCP with 40 option bytes
#: is 192; a header reaching past this is left to the reference decoder.
WIDTH = 256

Ints = npt.NDArray[np.int64]


class Headers:
    """The first `k` bytes of each record of a chunk, and each record's captured length."""

    def __init__(self, buffer: bytes | memoryview, records: Records, width: int = WIDTH) -> None:
        buf = np.frombuffer(buffer, np.uint8)
        n = len(records)
        self.caplen: Ints = records.caplen.astype(np.int64)
        self.k = k = int(min(width, self.caplen.max(initial=0))) or 1
        offset = records.offset.astype(np.int64)
        # The last records may end less than k bytes before the buffer does: read those from a
        # zero-padded copy of the tail, so that every row is a plain k-byte window.
        tail_from = len(buf) - k
        late = offset > tail_from
        matrix = np.empty((n, k), np.uint8)
        if not late.all():
            windows = np.lib.stride_tricks.as_strided(buf, (max(tail_from + 1, 0), k), (1, 1))
            matrix[~late] = windows[offset[~late]]
        if late.any():
            start = int(offset[late].min())
            padded = np.zeros(len(buf) - start + k, np.uint8)
            padded[: len(buf) - start] = buf[start:]
            windows = np.lib.stride_tricks.as_strided(padded, (len(buf) - start + 1, k), (1, 1))
            matrix[late] = windows[offset[late] - start]
        self.flat = flat = matrix.reshape(-1)
        self.n = n
        # Big-endian 16- and 32-bit views at every byte: one gather per field rather than one
        # per byte (numpy reads unaligned elements; the values are converted on the gather).
        self.wide = {
            size: np.ndarray((max(len(flat) - size + 1, 0),), f">u{size}", flat, strides=(1,))
            for size in (2, 4)
        }

    def uint(self, rows: Ints, col: Ints | int, width: int) -> Ints:
        """The big-endian unsigned field of `width` (1 to 4) bytes at column `col` of each row.

        A 3-byte field is read as 4 bytes: the byte after it must be in the same header."""
        if width == 1:
            return self.flat[rows * self.k + np.minimum(col, self.k - 1)].astype(np.int64)
        size = 2 if width == 2 else 4
        idx = rows * self.k + np.minimum(col, self.k - size)
        value = self.wide[size][idx].astype(np.int64)
        return value >> (8 * (size - width)) if width != size else value

    def block(self, rows: Ints, col: Ints | int, width: int) -> npt.NDArray[np.uint8]:
        """The `width` bytes at column `col` of each row, as a (rows × width) matrix."""
        idx = rows * self.k + np.minimum(col, self.k - width)
        matrix: npt.NDArray[np.uint8] = self.flat[idx[:, None] + np.arange(width)]
        return matrix

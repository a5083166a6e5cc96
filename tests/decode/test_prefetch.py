"""The kernel's prefetch hint: compiled, it reads nothing back and never faults; as Python,
it does nothing."""

import numba
import numpy as np

from pcapkit.read.prefetch import prefetch, teach_numba

teach_numba()  # as the walk and the kernel do before they are compiled


@numba.njit(cache=False)
def _sum_with_hints(buf: np.ndarray, offsets: np.ndarray, ahead: int) -> int:
    total = 0
    for i in range(len(offsets)):
        # hints far past the end of the buffer, and before its start: a load there would fault
        prefetch(buf, offsets[i] + ahead)
        prefetch(buf, -ahead)
        total += buf[offsets[i]]
    return total


def test_compiled_hints_change_nothing_and_never_fault() -> None:
    buf = np.arange(1 << 16, dtype=np.uint64).astype(np.uint8)
    offsets = np.arange(0, len(buf), 97, dtype=np.int64)
    expected = int(buf[offsets].astype(np.int64).sum())
    assert _sum_with_hints(buf, offsets, 1 << 40) == expected
    assert _sum_with_hints(buf, offsets, 0) == expected


def test_python_hint_does_nothing() -> None:
    buf = np.zeros(4, np.uint8)
    assert prefetch(buf, 10**12) is None
    assert not buf.any()

"""The prefetch hint: compiled, it reads nothing back and never faults; the record walk finds
the same records compiled with its guesses as it does as Python."""

from pathlib import Path

import numba
import numpy as np
import pytest

from pcapkit.read.prefetch import prefetch, teach_numba
from pcapkit.read.walk import find_records, walk_records, walker

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

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


@pytest.mark.parametrize("sample", ["stale_endpoint/node-worker-1-any.pcap",
                                    "stale_endpoint/node-worker-1-any-v1.pcap"])
def test_the_walk_finds_the_same_records_compiled_with_hints_and_as_python(sample: str) -> None:
    # the Python walk calls the hint as a no-op; the compiled one guesses records ahead
    data = np.fromfile(SAMPLES / sample, np.uint8)
    layout = (False, 16, 8, 262144)
    as_python = find_records(data, 24, *layout, walk=walk_records)
    compiled = find_records(data, 24, *layout, walk=walker(1 << 40))
    assert len(as_python[0]) > 100
    for mine, theirs in zip(as_python, compiled, strict=True):
        assert np.array_equal(mine, theirs)

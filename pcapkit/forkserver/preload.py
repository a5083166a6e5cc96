"""What the fork server loads before it forks a worker: numba, with its CPU target set up.

This module must never import polars, nor anything that does (`pcapkit.decode` does): polars
starts threads as it loads (jemalloc's, its pool's) that a fork does not copy, and whose locks
it may copy held. numba and numpy start none here (numpy's OpenBLAS none while
`OPENBLAS_NUM_THREADS` is 1, which the pool sets before the server starts).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt


@numba.njit(cache=True)
def _first(values: npt.NDArray[np.int64]) -> int:
    return int(values[0])


# Any kernel, loaded from numba's cache (compiled into it the first time), sets numba's CPU
# target up for every kernel a worker loads after it.
_first(np.zeros(1, np.int64))

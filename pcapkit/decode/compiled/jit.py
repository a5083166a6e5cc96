"""How every function of the kernel is compiled.

- `cache=True`: compiled once per install, into `__pycache__` beside these modules (numba falls
  back to compiling in memory when that directory is not writable).
- `nogil=True`: chunks of one capture, or several captures, may be decoded on threads.
- `_nrt=False`: without numba's reference-counting runtime. The layer functions take the output
  arrays (two named tuples of arrays); with the runtime on, every call between them increments
  and decrements every array's reference count, which measured ~5x slower than the decoding
  itself. The kernel allocates nothing, so it does not need the runtime: every array is
  allocated by the caller in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])
#: a scalar in the kernel: numba computes in int64, which numpy types as np.int64
Int = int | np.integer[Any]

_njit = numba.njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]


def kernel(function: F) -> F:
    """`function` compiled as above (the same signature to type checkers)."""
    return cast(F, _njit(function))

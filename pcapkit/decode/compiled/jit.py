"""How every function of the kernel is compiled.

- `cache=True`: compiled once per install, into `__pycache__` beside these modules (numba falls
  back to compiling in memory when that directory is not writable).
- `nogil=True`: chunks of one capture, or several captures, may be decoded on threads.
- `forceinline=True` (`inlined`, every function but the entry points): LLVM inlines the layer
  functions into the loop, so that no call passes the output arrays (two named tuples of
  ~17 arrays, ~130 machine words) on the stack; measured ~4x faster than calls.
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
_inline = numba.njit(cache=True, nogil=True, _nrt=False,  # type: ignore[call-overload]
                     forceinline=True)


def kernel(function: F) -> F:
    """An entry point of the kernel, compiled as above (the same signature to type checkers)."""
    return cast(F, _njit(function))


def inlined(function: F) -> F:
    """A function of the kernel inlined into its callers."""
    return cast(F, _inline(function))

"""How every function of the kernel is compiled.

- `cache=True`: compiled once per install (~1 min), into `__pycache__` beside these modules, or
  when that is not writable into numba's user-wide cache (`~/.cache/numba`, `NUMBA_CACHE_DIR`).
  When neither is writable numba refuses `cache=True` outright; the kernel is then compiled in
  memory, on every run.
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

from pcapkit.read.prefetch import teach_numba

F = TypeVar("F", bound=Callable[..., Any])
#: a scalar in the kernel: numba computes in int64, which numpy types as np.int64
Int = int | np.integer[Any]



def _jit(function: F, forceinline: bool) -> F:
    teach_numba()  # the kernel asks for records ahead of their decoding (`pcapkit.read.prefetch`)
    options: dict[str, Any] = {"nogil": True, "_nrt": False, "forceinline": forceinline}
    try:
        return cast(F, numba.njit(cache=True, **options)(function))
    except RuntimeError as e:  # "cannot cache function …: no locator available"
        if "cannot cache" not in str(e):
            raise
        return cast(F, numba.njit(cache=False, **options)(function))


def kernel(function: F) -> F:
    """An entry point of the kernel, compiled as above (the same signature to type checkers)."""
    return _jit(function, forceinline=False)


def inlined(function: F) -> F:
    """A function of the kernel inlined into its callers."""
    return _jit(function, forceinline=True)

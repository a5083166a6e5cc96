"""Per-packet state machines, compiled only when the input is large.

Wireshark's TCP analysis and Zeek's connection state are sequential walks over each
connection's packets, which numpy and polars cannot express. Each is one plain function over
integer sequences, written in the subset of Python numba compiles (no objects, no calls to
other functions of ours, its state in a flat integer array): small inputs run it as Python —
no numba import and no JIT start-up, which matters for a 600-packet incident capture — and
large ones run the very same source compiled (as `pcapkit/read/walk.py` does for the record
walk). `tests/flows/test_compiled_paths.py` checks that both give the same tables.

The compiled code is cached on disk (numba's `cache=True`: next to the source, else in
`NUMBA_CACHE_DIR` or the user's cache); numba writes its cache files under temporary names and
renames them, so processes compiling at once are safe. Where no cache directory is writable,
the kernel is compiled for this process only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

#: From this many rows on, kernels run compiled: below it Python is faster than loading numba
#: and its cached machine code (~0.4 s; a first compile takes seconds).
JIT_THRESHOLD_ROWS = 20_000

#: A kernel's integer sequence: an int64 array when compiled, a list of ints as Python.
Ints = npt.NDArray[np.int64] | list[int]

_compiled: dict[Callable[..., Any], Callable[..., Any]] = {}


def _compile(kernel: Callable[..., Any]) -> Callable[..., Any]:
    if kernel not in _compiled:
        import numba  # imported lazily: 0.3 s of start-up that small inputs do not need

        try:
            _compiled[kernel] = numba.njit(cache=True, nogil=True)(kernel)
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            _compiled[kernel] = numba.njit(cache=False, nogil=True)(kernel)
    return _compiled[kernel]


def run(
    kernel: Callable[..., None],
    inputs: Sequence[npt.NDArray[Any]],
    outputs: Sequence[npt.NDArray[Any]],
    compiled: bool | None = None,
) -> None:
    """`kernel(*inputs, *outputs)`: compiled when `compiled`, or when None and the first input
    has at least `JIT_THRESHOLD_ROWS` rows; else as Python.

    Inputs are passed to the compiled kernel in their own integer types (each mix of types
    compiled, and cached, once), and as lists of Python ints to the plain one (indexing a list
    is several times faster than indexing an array from Python). Made int64 here, the TCP
    analysis's inputs took 360 MB more for a 5M-packet connection. Numba types arithmetic on
    narrow unsigned integers as unsigned 64-bit (a uint32 minus a uint32 wraps at 2⁶⁴, and
    mixed with int64 becomes a float): a caller passes as int64 the inputs its kernel adds,
    subtracts or shifts with each other. The kernel writes its results into `outputs`.
    """
    rows = len(inputs[0]) if inputs else 0
    if compiled if compiled is not None else rows >= JIT_THRESHOLD_ROWS:
        _compile(kernel)(*(np.ascontiguousarray(a) for a in inputs), *outputs)
    else:
        kernel(*(np.asarray(a).astype(np.int64).tolist() for a in inputs), *outputs)

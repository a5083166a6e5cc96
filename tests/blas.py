"""The threads numpy's bundled OpenBLAS runs in this process: pcapkit's processes start it with
one (`OPENBLAS_NUM_THREADS`), since pcapkit does no linear algebra."""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np


def blas_threads(_: object = None) -> int | None:
    """OpenBLAS's thread count here (None: numpy has no OpenBLAS bundled). The argument is
    ignored: a pool maps this over a range, once per job."""
    for lib in sorted((Path(np.__file__).parent.parent / "numpy.libs").glob("*openblas*.so")):
        for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                     "openblas_get_num_threads"):
            if hasattr(blas := ctypes.CDLL(str(lib)), name):
                return int(getattr(blas, name)())
    return None

"""pytest-xdist's worker processes share the cores as pcapkit's own workers do
(`pcapkit.engine.executor.worker_env`): polars sizes its thread pool to every core when it is
imported, so that each of N test processes on the same cores would hand work between threads
that run no faster, spinning and yielding. Run here, before anything imports polars (this
package is imported before its conftest), and only for that import: the tests themselves see
the environment the user gave."""

from __future__ import annotations

import os

_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
if _workers > 1 and "POLARS_MAX_THREADS" not in os.environ:
    os.environ["POLARS_MAX_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // _workers))
    import polars

    polars.thread_pool_size()  # sized now, from the variable
    del os.environ["POLARS_MAX_THREADS"]

"""polars' memory allocator (jemalloc), told to give freed pages back to the system.

polars sets jemalloc to let pages go 0.5 s after they are freed, but only lazily
(`MADV_FREE`: they count as resident until the system runs short of memory), and only as the
process goes on allocating. So a process's resident memory is its live tables plus what it
freed lately: sorting a table of a few hundred MB left ~450 MB more resident, and a worker
idle between stages, or this process waiting on them, kept its last job's pages the while.
Here jemalloc's own thread returns them, for good, whether the process allocates or not.

jemalloc reads its settings once, as polars loads, from `_RJEM_MALLOC_CONF` (polars adds them
after its own): so this module sets them on import, and `pcapkit` imports it first. A setting
the user made is kept. Worker processes import `pcapkit` too, and inherit the environment.
"""

import os

#: jemalloc's `malloc_conf`: a background thread purges freed pages, without a lazy stage
SETTINGS = "background_thread:true,muzzy_decay_ms:0"

os.environ.setdefault("_RJEM_MALLOC_CONF", SETTINGS)

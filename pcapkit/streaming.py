"""When an analysis streams: the size of captures from which `pcapkit.analyze` streams them
through the engine's worker pool, their size on disk, and the console script's guess, from its
command line alone, that it is about to.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from itertools import pairwise
from pathlib import Path

#: bytes of capture from which `analyze` streams the captures rather than holding them whole:
#: ~1M packets, where the whole packet table (~180 bytes a packet) starts to cost more memory
#: than a chunked run, and the workers' start-up is repaid
STREAM_FROM_BYTES = 150 << 20
#: packets from which `pcapkit.load` reads a store's packet table a part at a time: about as
#: many as `STREAM_FROM_BYTES` of capture holds, for the same reason
STREAM_FROM_PACKETS = 1_000_000

#: the commands that analyse captures
_ANALYSING = {"analyze", "convert"}


def likely(args: Sequence[str]) -> bool:
    """Whether `pcapkit ARGS` reads as a streamed analysis on this machine's worker pool: a
    command that analyses captures, files of `STREAM_FROM_BYTES` or more on disk among its
    arguments, more than one core, and neither `--scheduler` nor one worker asked for. Read
    before the command's options are parsed, so that the pool's fork server starts while this
    process imports the pipeline (`pcapkit.forkserver.start`). A wrong guess costs little: a
    server started for nothing costs ~0.4 s of CPU beside a run of a capture this large; one
    not started ahead (a gzip-compressed capture, small on disk) starts with the pool."""
    if not args or args[0] not in _ANALYSING or cores() < 2:
        return False
    one = {"--workers=1", "-j1", "--workers 1", "-j 1"}
    pairs = {f"{a} {b}" for a, b in pairwise(args)}
    if one & (set(args) | pairs) or os.environ.get("PCAPKIT_WORKERS") == "1":
        return False
    if any(a == "--scheduler" or a.startswith("--scheduler=") for a in args):
        return False
    return disk_size(args[1:]) >= STREAM_FROM_BYTES


def cores() -> int:
    """The cores this process may run on: the local pool's workers, unless told."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def disk_size(paths: Iterable[str | Path]) -> int:
    """Bytes on disk of the regular files among `paths` (0 for anything else: a URL, a folder,
    an option's value, a file that cannot be read, whose reading will say why)."""
    total = 0
    for p in paths:
        with contextlib.suppress(OSError, ValueError):  # ValueError: not a path at all
            total += os.stat(p).st_size if os.path.isfile(p) else 0
    return total

"""The `pcapkit` console script's entry point, which imports the CLI only when it is called.

A worker process that Python starts afresh, or forks from a fork server (as pcapkit's pools
do), first runs the script its parent was started from, so that what the script defines exists
there too. The console script imports its entry point's module; had that been
`pcapkit.cli.app`, every worker would import typer, rich and every command's module for nothing:
~0.1 s of CPU each, at the start of every streamed run.

The pool's fork server starts here, ahead of the CLI's imports (~0.4 s), when the command line
reads as a streamed run (`pcapkit.streaming.likely`): the workers are forked from it as soon as
the analysis starts its pool.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

from pcapkit import forkserver
from pcapkit.streaming import likely


def main() -> None:
    """`pcapkit.cli.app.main`."""
    # numpy's OpenBLAS, as numpy is imported, starts a thread per core that spins ~0.1 s of CPU
    # before it sleeps: a fifth of the CPU a small capture's analysis takes. pcapkit does no
    # linear algebra. (A library cannot choose this for the process it is imported into; the
    # command can.)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        if likely(sys.argv[1:]):
            forkserver.start()
        from pcapkit.cli.app import main as cli
    except KeyboardInterrupt:
        _interrupted_early()
    cli()


def _interrupted_early() -> NoReturn:
    """Ctrl-C while the fork server starts or the CLI is still being imported (~0.4 s;
    seconds on a loaded machine), before its command watches for it (`pcapkit.cli.interrupt`):
    the command's one line and exit 130 all the same, not a traceback of the import, and the
    fork server ended."""
    from pcapkit.cli import interrupt

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C changes nothing
    interrupt.end_children(tracker_too=False)
    interrupt.remove_socket_folder()
    sys.stderr.write("pcapkit: interrupted\n")
    sys.stderr.flush()
    os._exit(130)

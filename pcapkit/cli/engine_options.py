"""The options `analyze` and `convert` share for how a large capture is streamed: worker
processes or a Dask cluster, where rows spill, and the progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Workers = Annotated[int | None, typer.Option(
    "--workers", "-j", min=1, envvar="PCAPKIT_WORKERS",
    help="Worker processes for large captures (from 150 MB in all, which are streamed chunk "
         "by chunk in bounded memory). Default: every core; 1: this process only. Also "
         "the PCAPKIT_WORKERS environment variable.",
    show_default=False)]

Scheduler = Annotated[str | None, typer.Option(
    "--scheduler", metavar="ADDRESS",
    help="Run on a Dask cluster instead: tcp://HOST:8786 (its workers must read the "
         "captures and --spill-dir at the same paths), or local:N to start N local Dask "
         "workers. Needs pip install 'pcapkit\\[dask]'.")]

SpillDir = Annotated[Path | None, typer.Option(
    "--spill-dir", help="Where a streamed analysis keeps its intermediate rows (a "
                        "temporary folder, removed after; default: the system's temp "
                        "folder). With --scheduler tcp://..., a folder every worker shares.",
    show_default=False)]

Quiet = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress bar (it shows on a terminal after a second).")]

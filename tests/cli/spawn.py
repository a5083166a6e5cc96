"""Running the `pcapkit` console script as a real subprocess, on this checkout's code.

The console script is the virtualenv's, whose editable install may point at another checkout
(a git worktree's tests would then run the main tree's pcapkit): `PYTHONPATH` puts this
checkout first. The environment is otherwise empty, as on a fresh machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.conftest import REPO

PCAPKIT = str(Path(sys.executable).with_name("pcapkit"))


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """PATH, HOME and PYTHONPATH (this checkout), plus `extra`."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "PYTHONPATH": str(REPO),
            **extra}

"""What recording the lab needs: root and a few tools. Tests that record carry `LAB`."""

from __future__ import annotations

import os
import shutil

import pytest

TOOLS = ("ip", "iptables", "tcpdump", "dumpcap")

LAB = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="lab needs root to create network namespaces"),
    pytest.mark.skipif(
        any(shutil.which(t) is None for t in TOOLS),
        reason=f"lab needs {', '.join(TOOLS)} (make system-deps installs them)",
    ),
]

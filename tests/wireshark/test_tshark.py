"""pcapkit.wireshark.tshark: pyshark's dissection leaves the process's signals as it found them."""

from __future__ import annotations

import signal

from pcapkit.wireshark.tshark import dissect
from tests.conftest import SAMPLES, needs_tshark


def _signals() -> tuple[object, int]:
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    return signal.getsignal(signal.SIGCHLD), wakeup


@needs_tshark()
def test_dissecting_leaves_sigchld_and_the_wakeup_fd_as_they_were() -> None:
    """pyshark attaches a child watcher to its event loop (a SIGCHLD handler, the loop's socket
    as wakeup fd); after the frames are given, neither is left behind."""
    before = _signals()
    capture = sorted((SAMPLES / "lossy_underlay").glob("pod-*.pcap"))[0]
    frames = list(dissect(str(capture), "tcp.flags.syn==1", []))
    assert frames  # tshark ran and gave the handshakes
    assert _signals() == before

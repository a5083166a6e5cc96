"""pcapkit.wireshark.tshark: pyshark's dissection leaves the process's signals as it found them,
and reads a capture cut short up to its damage."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
from pathlib import Path

import pytest

from pcapkit.read import read_capture
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


@needs_tshark()
def test_a_capture_cut_short_gives_every_whole_frame_and_leaves_nothing_to_close(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tshark exits 2 on a capture cut mid-record, after dissecting the records before it: the
    frames pcapkit reads too. They are given, no error is raised, and no capture is left for
    pyshark's `__del__` to close later inside a running event loop."""
    whole = sorted((SAMPLES / "dns_timeout").glob("node-*.pcap"))[0]
    cut = tmp_path / "cut.pcap"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 9 // 10])
    records = read_capture(cut).records
    assert 0 < len(records) < len(read_capture(whole).records)
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    frames = [int(packet.number) for packet in dissect(str(cut), "", [])]
    assert frames == records.frame.tolist()

    async def collect() -> None:
        gc.collect()

    loop = asyncio.new_event_loop()  # one of its own: pyshark's stays as it was
    try:
        loop.run_until_complete(collect())
    finally:
        loop.close()
    assert unraisable == []

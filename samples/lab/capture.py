"""Captures taken the way engineers take them: tcpdump in a pod or on a node, dumpcap on several
NICs. A node's `-i any` is taken twice: as `tcpdump -i any` writes it (LINUX_SLL2, with each
packet's interface index) and as `dumpcap -i any`, `tshark -i any` and Wireshark write it
(LINUX_SLL, v1: no interface index).

Each capture runs inside one namespace with packet-buffered output, and is stopped with SIGINT and
waited for, so the file ends on a whole packet and the tool's own statistics line is kept.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from samples.lab.netns import Lab, stop


@dataclass(frozen=True)
class Vantage:
    """Where a capture is taken: a namespace, interfaces, and the file it writes."""

    ns: str
    interfaces: tuple[str, ...]
    file: str
    #: the link type asked for `any`: LINUX_SLL2 (tcpdump's default) or LINUX_SLL (v1)
    cooked: str = "LINUX_SLL2"

    @property
    def command(self) -> list[str]:
        if self.file.endswith(".pcapng"):
            # dumpcap writes one pcapng interface block per -i, each with its own link type.
            args = ["dumpcap", "-q"]
            for iface in self.interfaces:
                args += ["-i", iface] + (["-y", self.cooked] if iface == "any" else [])
            return args
        (iface,) = self.interfaces
        # -Z root: Debian's tcpdump drops to user tcpdump, who may not write into samples/.
        args = ["tcpdump", "-i", iface, "-s", "0", "-U", "-n", "-Z", "root"]
        return args + (["-y", self.cooked] if iface == "any" else [])


class Recording:
    """Captures running at several vantage points, started before the clients, stopped after."""

    def __init__(self, lab: Lab, folder: Path, vantages: list[Vantage]) -> None:
        self.lab, self.folder, self.vantages = lab, folder, vantages
        self.procs: list[subprocess.Popen[str]] = []

    def __enter__(self) -> Recording:
        for v in self.vantages:
            path = self.folder / v.file
            ready = "Capturing on" if v.file.endswith(".pcapng") else "listening on"
            self.procs.append(self.lab.spawn(v.ns, *v.command, "-w", str(path), ready=ready))
        return self

    def __exit__(self, *exc: object) -> None:
        for proc, vantage in zip(self.procs, self.vantages, strict=True):
            stop(proc, signal.SIGINT)
            assert proc.stderr is not None
            dropped = [line for line in proc.stderr if "dropped by" in line and line[0] != "0"]
            for line in dropped:  # a capture missing packets would make its truth unreliable
                print(f"warning: {vantage.file}: {line.strip()}", file=sys.stderr)
        for v in self.vantages:
            (self.folder / v.file).chmod(0o644)  # dumpcap creates its file 0600

"""Wireshark's own dissector, reached through pyshark: the frames of some captures as tshark
dissects them, with pcapkit's tunnel ports decoded (`decode_as`).

pyshark runs one tshark per capture and hands back its dissection (PDML) as objects; pcapkit
uses it where tshark knows more than pcapkit decodes (HTTP, TLS, gRPC over HTTP/2) and for
tshark's expert analysis, a second opinion on pcapkit's symptoms.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any

from pcapkit.errors import UsageError


def tshark_path() -> str:
    """The tshark to run; `UsageError` (exit 2) when there is none."""
    path = shutil.which("tshark")
    if path is None:
        raise UsageError("tshark not found: Wireshark's tshark is needed to show packets and "
                         "cross-check (Debian/Ubuntu: apt install tshark)")
    return path


def dissect(capture: str, display_filter: str, decode_as: Sequence[str]) -> Iterator[Any]:
    """tshark's dissection (pyshark packets) of the frames of `capture` that `display_filter`
    shows, with `decode_as` (`udp.port==8472,vxlan` each) applied."""
    import pyshark  # starts nothing until iterated; imported only by the commands that use it
    from pyshark.capture.capture import TSharkCrashException

    table = dict(flag.split(",", 1) for flag in decode_as)
    given = 0
    # tshark now and then exits 255 with nothing on stderr when many run at once (seen on a
    # loaded 2-core machine, not reproducible alone), and pyshark calls that a crash: run it
    # once more, skipping the packets already given. A second crash is a real one.
    for attempt in range(2):
        try:
            with closing(pyshark.FileCapture(
                    capture, keep_packets=False, display_filter=display_filter,
                    decode_as=table or None, tshark_path=tshark_path())) as cap:
                for seen, packet in enumerate(cap):
                    if seen >= given:
                        given += 1
                        yield packet
            return
        except TSharkCrashException:
            if attempt:
                raise


def layers(packet: Any, name: str) -> list[Any]:
    """Every `name` layer of a pyshark packet, outermost first (a tunnel's inner `ip` last)."""
    return list(packet.get_multiple_layers(name))


def field(layer: Any, name: str) -> str | None:
    """A field of a pyshark layer as text, or None when tshark did not show it."""
    return str(layer.get_field_value(name)) if name in layer.field_names else None

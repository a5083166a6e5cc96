"""`pcapkit extract CAPTURE... (--finding N | --flow 'tcp A:P B:P') [--k8s S]... [--output F]`:
one symptom's evidence packets, or one flow's, from every capture into one pcapng file."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from pcapkit.api import analyze, read_packets
from pcapkit.cli.analyze import register_vxlan_ports
from pcapkit.errors import UsageError
from pcapkit.wireshark.display_filter import PROTOCOL_NUMBERS
from pcapkit.wireshark.extract import Flow, extract_frames, flow_frames

#: `ip:port` or `[ipv6]:port`
ENDPOINT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+)):(?P<port>\d{1,5})$")


def parse_flow(text: str) -> Flow:
    """`tcp 10.244.1.10:40001 10.96.0.50:80` (or `udp`; `[v6]:port`) as a `Flow`."""
    parts = text.split()
    ends = [ENDPOINT.match(p) for p in parts[1:]]
    if len(parts) != 3 or parts[0] not in PROTOCOL_NUMBERS or not all(ends):
        raise UsageError(f"--flow {text!r}: expected 'tcp|udp CLIENT_IP:PORT SERVER_IP:PORT'")
    (a, b) = ends
    assert a is not None and b is not None

    def ip(m: re.Match[str]) -> str:
        return m["v6"] or m["v4"]

    return Flow(parts[0], ip(a), int(a["port"]), ip(b), int(b["port"]))


def extract_command(
    captures: Annotated[list[Path], typer.Argument(
        help="The incident's captures, as given to pcapkit analyze.", show_default=False,
        metavar="CAPTURE...")],
    finding: Annotated[int | None, typer.Option(
        "--finding", "-n", min=1, help="The symptom's number, as pcapkit analyze numbers them "
                                       "(1 = the first).")] = None,
    flow: Annotated[str | None, typer.Option(
        "--flow", metavar="'PROTO CLIENT SERVER'",
        help="A 5-tuple instead, as some capture saw it, e.g. 'tcp 10.244.1.10:40001 "
             "10.96.0.50:80': its packets both ways, in tunnels, and ICMP errors about it.",
    )] = None,
    k8s: Annotated[list[Path] | None, typer.Option(
        "--k8s", help="The snapshot given to pcapkit analyze (symptoms are numbered with it).",
    )] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The pcapng to write (default: symptom-N.pcapng or "
                               "flow.pcapng here).", show_default=False)] = None,
    vxlan_port: Annotated[list[int] | None, typer.Option(
        "--vxlan-port", help="Also decode VXLAN on this UDP port, as given to analyze.")] = None,
) -> None:
    """Write one symptom's evidence packets (or one flow's) from every capture to a pcapng."""
    if (finding is None) == (flow is None):
        raise UsageError("give either --finding N or --flow 'PROTO CLIENT SERVER'")
    register_vxlan_ports(vxlan_port or [])
    paths = [str(c) for c in captures]
    if flow is not None:
        wanted = parse_flow(flow)
        packets = pl.concat([read_packets(p).with_columns(capture=pl.lit(i, pl.UInt16))
                             for i, p in enumerate(paths)])
        frames = flow_frames(packets, wanted)
        if not frames:
            raise UsageError(f"--flow {flow!r}: no packet of that flow in the captures")
        out = output or Path("flow.pcapng")
        n = extract_frames(paths, frames, out, f"pcapkit flow {flow}")
        what = f"flow {flow}"
    else:
        assert finding is not None
        result = analyze(captures, k8s or [])
        row = result.symptom(finding)
        out = output or Path(f"symptom-{finding}.pcapng")
        n = result.extract(finding, out)
        flags = "".join(f" -d {d}" for d in row["wireshark_decode_as"] or [])
        what = f"symptom {finding} ({row['kind']})"
        hint = f"in the captures themselves:{flags} -Y '{row['wireshark_filter']}'"
    sys.stderr.write(f"pcapkit: wrote {n} packets of {what} to {out}\n")
    if finding is not None:
        sys.stderr.write(f"pcapkit: {hint}\n")

"""`pcapkit extract CAPTURE... (--finding N | --flow FLOW) [--k8s S]... [--output F]`: one
symptom's evidence packets, or one flow's (`wireshark.flows`), from every capture into one
pcapng file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pcapkit.api import analyze
from pcapkit.cli.analyze import register_vxlan_ports
from pcapkit.cli.selection import FindingOption, FlowOption
from pcapkit.errors import UsageError
from pcapkit.wireshark.extract import extract_frames
from pcapkit.wireshark.flows import capture_packets, parse_flow, select


def extract_command(
    captures: Annotated[list[Path], typer.Argument(
        help="The incident's captures, as given to pcapkit analyze.", show_default=False,
        metavar="CAPTURE...")],
    finding: FindingOption = None,
    flow: FlowOption = None,
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
        raise UsageError("give either --finding N or --flow FLOW")
    register_vxlan_ports(vxlan_port or [])
    paths = [str(c) for c in captures]
    if flow is not None:
        frames, _ = select(capture_packets(paths), [parse_flow(flow)], f"--flow {flow!r}")
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

"""`pcapkit extract CAPTURE... (--finding N | --flow FLOW | --conn ID) [--k8s S]...
[--output F]`: one symptom's evidence packets, or one conversation's (`wireshark.flows`), from
every capture into one pcapng file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pcapkit.api import analyze
from pcapkit.cli.analyze import register_vxlan_ports
from pcapkit.cli.selection import ConnOption, FindingOption, FlowOption, one_of, selected
from pcapkit.wireshark.extract import extract_frames


def extract_command(
    captures: Annotated[list[Path], typer.Argument(
        help="The incident's captures, as given to pcapkit analyze.", show_default=False,
        metavar="CAPTURE...")],
    finding: FindingOption = None,
    flow: FlowOption = None,
    conn: ConnOption = None,
    k8s: Annotated[list[Path] | None, typer.Option(
        "--k8s", help="The snapshot given to pcapkit analyze (symptoms are numbered with it).",
    )] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="The pcapng to write (default: symptom-N.pcapng or "
                               "flow.pcapng here).", show_default=False)] = None,
    vxlan_port: Annotated[list[int] | None, typer.Option(
        "--vxlan-port", help="Also decode VXLAN on this UDP port, as given to analyze.")] = None,
) -> None:
    """Write one symptom's evidence packets (or one conversation's) from every capture to a
    pcapng."""
    one_of(finding, flow, conn)
    register_vxlan_ports(vxlan_port or [])
    if finding is None:
        title, frames, _ = selected(captures, k8s or [], None, flow, conn)
        out = output or Path("flow.pcapng")
        n = extract_frames([str(c) for c in captures], frames, out, title)
        sys.stderr.write(f"pcapkit: wrote {n} packets of {title.removeprefix('pcapkit ')} "
                         f"to {out}\n")
        return
    result = analyze(captures, k8s or [])
    row = result.symptom(finding)
    out = output or Path(f"symptom-{finding}.pcapng")
    n = result.extract(finding, out)
    flags = "".join(f" -d {d}" for d in row["wireshark_decode_as"] or [])
    sys.stderr.write(f"pcapkit: wrote {n} packets of symptom {finding} ({row['kind']}) to "
                     f"{out}\npcapkit: in the captures themselves:{flags} "
                     f"-Y '{row['wireshark_filter']}'\n")

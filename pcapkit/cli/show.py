"""`pcapkit show CAPTURE... --finding N [--k8s S]...`: a symptom's evidence frames as Wireshark
dissects them (through pyshark), with pcapkit's tunnel ports decoded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pcapkit.api import analyze, symptom_label
from pcapkit.cli.analyze import register_vxlan_ports
from pcapkit.report.escape import printable
from pcapkit.wireshark.evidence import frames_of
from pcapkit.wireshark.show import show_frames
from pcapkit.wireshark.tshark import tshark_path


def show_command(
    captures: Annotated[list[Path], typer.Argument(
        help="The incident's captures, as given to pcapkit analyze.", show_default=False,
        metavar="CAPTURE...")],
    finding: Annotated[int, typer.Option(
        "--finding", "-n", min=1, help="The symptom's number, as pcapkit analyze numbers them "
                                       "(1 = the first).", show_default=False)],
    k8s: Annotated[list[Path] | None, typer.Option(
        "--k8s", help="The snapshot given to pcapkit analyze (symptoms are numbered with it).",
    )] = None,
    vxlan_port: Annotated[list[int] | None, typer.Option(
        "--vxlan-port", help="Also decode VXLAN on this UDP port, as given to analyze.")] = None,
) -> None:
    """Print Wireshark's dissection of one symptom's evidence frames: HTTP status codes, TLS
    alerts, gRPC status and tshark's expert messages, which pcapkit does not decode."""
    tshark_path()  # before the analysis: a missing tshark is said at once
    register_vxlan_ports(vxlan_port or [])
    result = analyze(captures, k8s or [])
    row = result.symptom(finding)
    typer.echo(printable(symptom_label(row, finding)))
    flags = row["wireshark_decode_as"] or []
    for line in show_frames([c.path for c in result.captures], frames_of(row), flags):
        typer.echo(line)

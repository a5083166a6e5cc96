"""`pcapkit show CAPTURE... --finding N [--k8s S]... [--dissector auto|tshark|dpkt]`: a symptom's
evidence frames as Wireshark dissects them (through pyshark), with pcapkit's tunnel ports
decoded; as dpkt does when tshark is absent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pcapkit.api import analyze, symptom_label
from pcapkit.cli.analyze import register_vxlan_ports
from pcapkit.report.escape import printable
from pcapkit.wireshark.evidence import frames_of
from pcapkit.wireshark.show import Dissector, choose, dissect_frames


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
    dissector: Annotated[Dissector, typer.Option(
        "--dissector", help="tshark (through pyshark) or dpkt (HTTP, TLS and DNS only); auto: "
                            "tshark when it is installed.")] = "auto",
) -> None:
    """Print Wireshark's dissection of one symptom's evidence frames: HTTP status codes, TLS
    alerts, gRPC status and tshark's expert messages, which pcapkit does not decode. Without
    tshark, dpkt's: HTTP request lines and status, TLS records and alerts, DNS."""
    name, said = choose(dissector)  # before the analysis: a tshark asked for and missing
    register_vxlan_ports(vxlan_port or [])
    result = analyze(captures, k8s or [])
    row = result.symptom(finding)
    typer.echo(printable(symptom_label(row, finding)))
    typer.echo(said)
    flags = row["wireshark_decode_as"] or []
    for line in dissect_frames(name, [c.path for c in result.captures], frames_of(row), flags):
        typer.echo(line)

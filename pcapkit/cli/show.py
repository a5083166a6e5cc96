"""`pcapkit show CAPTURE... (--finding N | --flow FLOW | --conn ID) [--k8s S]...
[--dissector auto|tshark|dpkt]`: a symptom's evidence frames, or a whole conversation's, as
Wireshark dissects them (through pyshark), with pcapkit's tunnel ports decoded; as dpkt does
when tshark is absent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pcapkit.cli.analyze import register_vxlan_ports
from pcapkit.cli.selection import ConnOption, FindingOption, FlowOption, selected
from pcapkit.kube import load_snapshot
from pcapkit.kube.app_protocols import h2c_sockets
from pcapkit.report.escape import printable
from pcapkit.wireshark.tshark import Dissector


def show_command(
    captures: Annotated[list[Path], typer.Argument(
        help="The incident's captures, as given to pcapkit analyze.", show_default=False,
        metavar="CAPTURE...")],
    finding: FindingOption = None,
    flow: FlowOption = None,
    conn: ConnOption = None,
    k8s: Annotated[list[Path] | None, typer.Option(
        "--k8s", help="The snapshot given to pcapkit analyze (symptoms are numbered with it; "
                      "a Service port's appProtocol h2c or grpc is decoded as HTTP/2).",
    )] = None,
    vxlan_port: Annotated[list[int] | None, typer.Option(
        "--vxlan-port", help="Also decode VXLAN on this UDP port, as given to analyze.")] = None,
    dissector: Annotated[Dissector, typer.Option(
        "--dissector", help="tshark (through pyshark) or dpkt (HTTP, HTTP/2 and gRPC status, "
                            "TLS and DNS only); auto: tshark when it is installed.")] = "auto",
) -> None:
    """Print Wireshark's dissection of one symptom's evidence frames, or of one conversation:
    HTTP status codes, HTTP/2 and gRPC status, TLS alerts and tshark's expert messages, which
    pcapkit does not decode. Without tshark, dpkt's: HTTP request lines and status, HTTP/2
    frames with :method :path :status, grpc-status and RST_STREAM/GOAWAY error codes, TLS
    records and alerts, DNS. Each capture's frames in file order, every copy of a packet
    (each interface of an -i any capture) on its own line."""
    # Here, not at the top: dpkt and the HTTP/2 decoder are ~50 ms of every command's start-up.
    from pcapkit.wireshark.show import choose, dissect_frames

    name, said = choose(dissector)  # before the analysis: a tshark asked for and missing
    register_vxlan_ports(vxlan_port or [])
    title, frames, flags = selected(captures, k8s or [], finding, flow, conn)
    # HTTP/2 where the snapshot says so, even without the preface to tell it by
    h2c = h2c_sockets(load_snapshot(k8s)) if k8s else frozenset()
    typer.echo(printable(title))
    typer.echo(said)
    for line in dissect_frames(name, [str(c) for c in captures], frames, flags, h2c):
        typer.echo(line)

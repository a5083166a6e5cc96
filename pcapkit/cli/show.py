"""`pcapkit show CAPTURE... (--finding N | --flow FLOW | --conn ID) [--k8s S]...
[--dissector auto|tshark|dpkt]`: a symptom's evidence frames, or a whole conversation's, as
Wireshark dissects them (through pyshark), with pcapkit's tunnel ports decoded; as dpkt does
when tshark is absent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pcapkit.api import analyze, symptom_label
from pcapkit.cli.analyze import register_vxlan_ports
from pcapkit.cli.selection import FindingOption, FlowOption
from pcapkit.errors import UsageError
from pcapkit.report.escape import printable
from pcapkit.wireshark.evidence import frames_of
from pcapkit.wireshark.flows import capture_packets, connection_flows, parse_flow, select
from pcapkit.wireshark.show import Dissector, choose, dissect_frames


def show_command(
    captures: Annotated[list[Path], typer.Argument(
        help="The incident's captures, as given to pcapkit analyze.", show_default=False,
        metavar="CAPTURE...")],
    finding: FindingOption = None,
    flow: FlowOption = None,
    conn: Annotated[int | None, typer.Option(
        "--conn", min=0, help="A whole TCP connection instead, by its id (`conn` in the HTML "
                              "report's connection table, Analysis.tables.connections): every "
                              "NAT leg pcapkit joined into it.")] = None,
    k8s: Annotated[list[Path] | None, typer.Option(
        "--k8s", help="The snapshot given to pcapkit analyze (symptoms are numbered with it).",
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
    if sum(x is not None for x in (finding, flow, conn)) != 1:
        raise UsageError("give one of --finding N, --flow FLOW or --conn ID")
    name, said = choose(dissector)  # before the analysis: a tshark asked for and missing
    register_vxlan_ports(vxlan_port or [])
    paths = [str(c) for c in captures]
    if finding is not None:
        result = analyze(captures, k8s or [])
        row = result.symptom(finding)
        title, frames = symptom_label(row, finding), frames_of(row)
        flags = list(row["wireshark_decode_as"] or [])
    elif flow is not None:
        wanted = parse_flow(flow)
        frames, flags = select(capture_packets(paths), [wanted], f"--flow {flow!r}")
        title = f"pcapkit flow {wanted}"
    else:
        assert conn is not None
        result = analyze(captures, k8s or [])
        legs = connection_flows(result.tables.connections, conn)
        frames, flags = select(result.packets, legs, f"--conn {conn}")
        title = f"pcapkit connection {conn}: {', '.join(map(str, legs))}"
    typer.echo(printable(title))
    typer.echo(said)
    for line in dissect_frames(name, paths, frames, flags):
        typer.echo(line)

"""The options that choose packets, shared by `pcapkit show` and `pcapkit extract`: one
symptom's evidence (`--finding N`) or one conversation (`--flow FLOW`, `--conn ID`:
`wireshark.flows`), and the frames they choose."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from pcapkit.api import analyze, symptom_label
from pcapkit.errors import UsageError
from pcapkit.wireshark.evidence import frames_of
from pcapkit.wireshark.flows import capture_packets, connection_flows, parse_flow, select

FindingOption = Annotated[int | None, typer.Option(
    "--finding", "-n", min=1, help="The symptom's number, as pcapkit analyze numbers them "
                                   "(1 = the first): its evidence frames.")]
FlowOption = Annotated[str | None, typer.Option(
    "--flow", metavar="FLOW",
    help="A whole conversation instead, by its 5-tuple as some capture saw it, client first: "
         "'10.244.1.10:40001-10.96.0.92:50051/tcp' or 'tcp 10.244.1.10:40001 "
         "10.96.0.92:50051'. Both directions, every capture and interface, inside tunnels, "
         "the ICMP errors about it, and the client socket's legs past DNAT.")]
ConnOption = Annotated[int | None, typer.Option(
    "--conn", min=0, help="A whole TCP connection instead, by its id (`conn` in the HTML "
                          "report's connection table, Analysis.tables.connections): every NAT "
                          "leg pcapkit joined into it.")]


def one_of(finding: int | None, flow: str | None, conn: int | None) -> None:
    """`UsageError` (exit 2) unless exactly one selection was given."""
    if sum(x is not None for x in (finding, flow, conn)) != 1:
        raise UsageError("give one of --finding N, --flow FLOW or --conn ID")


def selected(captures: Sequence[Path], k8s: Sequence[Path], finding: int | None,
             flow: str | None, conn: int | None) -> tuple[str, dict[int, list[int]], list[str]]:
    """What one of `--finding`, `--flow`, `--conn` chose: a title naming it, its frames by
    capture index, and the decode-as flags Wireshark needs for them."""
    one_of(finding, flow, conn)
    if flow is not None:
        wanted = parse_flow(flow)
        frames, flags = select(capture_packets([str(c) for c in captures]), [wanted],
                               f"--flow {flow!r}")
        return f"pcapkit flow {wanted}", frames, flags
    result = analyze(captures, k8s)
    if finding is not None:
        row = result.symptom(finding)
        return symptom_label(row, finding), frames_of(row), list(row["wireshark_decode_as"] or [])
    assert conn is not None
    legs = connection_flows(result.tables.connections, conn)
    frames, flags = select(result.packets, legs, f"--conn {conn}")
    return f"pcapkit connection {conn}: {', '.join(map(str, legs))}", frames, flags

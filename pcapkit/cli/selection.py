"""The options that choose packets, shared by `pcapkit show` and `pcapkit extract`: one
symptom's evidence (`--finding N`) or one conversation (`--flow FLOW`, `wireshark.flows`)."""

from __future__ import annotations

from typing import Annotated

import typer

FindingOption = Annotated[int | None, typer.Option(
    "--finding", "-n", min=1, help="The symptom's number, as pcapkit analyze numbers them "
                                   "(1 = the first): its evidence frames.")]
FlowOption = Annotated[str | None, typer.Option(
    "--flow", metavar="FLOW",
    help="A whole conversation instead, by its 5-tuple as some capture saw it, client first: "
         "'10.244.1.10:40001-10.96.0.92:50051/tcp' or 'tcp 10.244.1.10:40001 "
         "10.96.0.92:50051'. Both directions, every capture and interface, inside tunnels, "
         "the ICMP errors about it, and the client socket's legs past DNAT.")]

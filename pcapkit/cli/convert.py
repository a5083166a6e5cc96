"""`pcapkit convert CAPTURE... --to DIR [--k8s SNAPSHOT]... [--vxlan-port P]... [--overwrite]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pcapkit.cli import interrupt
from pcapkit.cli.analyze import spill_folder
from pcapkit.cli.progress import progress_display
from pcapkit.decode.schema import Tunnel
from pcapkit.decode.tunnels import register
from pcapkit.errors import UsageError
from pcapkit.store import convert
from pcapkit.store.layout import staging_folder


def convert_command(
    captures: Annotated[list[Path], typer.Argument(
        help="pcap/pcapng files (optionally .gz) of one incident.", show_default=False,
        metavar="CAPTURE...")],
    to: Annotated[Path, typer.Option(
        "--to", help="Directory to write the store to (new or empty).", show_default=False)],
    k8s: Annotated[list[Path] | None, typer.Option(
        "--k8s", help="Cluster snapshot to store with it (file or directory; repeatable).",
    )] = None,
    vxlan_port: Annotated[list[int] | None, typer.Option(
        "--vxlan-port", help="Also decode VXLAN on this UDP port (8472 and 4789 always are).",
    )] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace the pcapkit store already in DIR.")] = False,
) -> None:
    """Decode captures once into Parquet tables (packets, connections, DNS, ICMP, findings)
    that `pcapkit analyze DIR`, pcapkit.load(DIR), polars or DuckDB read back."""
    for port in vxlan_port or []:
        if not 0 < port < 65536:
            raise UsageError(f"--vxlan-port {port}: not a UDP port")
        register(port, Tunnel.VXLAN)
    interrupt.remove_on_interrupt(str(staging_folder(to)))
    with progress_display(enabled=True) as progress, spill_folder(None) as spill:
        result = convert(captures, to, k8s or [], overwrite=overwrite, spill_dir=spill,
                         progress=progress)
    t = result.tables
    typer.echo(f"{to}: {len(result.captures)} captures, {result.counts.packets} packets, "
               f"{t.connections['conn'].n_unique()} TCP connections, {t.dns.height} DNS "
               f"transactions, {t.icmp_errors.height} ICMP errors, {result.symptoms.height} "
               "symptoms", err=True)

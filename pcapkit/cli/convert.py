"""`pcapkit convert CAPTURE... --to DIR [--k8s SNAPSHOT]... [--vxlan-port P]... [--overwrite]
[--workers N | --scheduler ADDRESS] [--spill-dir DIR] [--quiet]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pcapkit.cli import interrupt
from pcapkit.cli.analyze import register_vxlan_ports, spill_folder
from pcapkit.cli.engine_options import Quiet, Scheduler, SpillDir, Workers
from pcapkit.cli.progress import progress_display
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
    workers: Workers = None,
    scheduler: Scheduler = None,
    spill_dir: SpillDir = None,
    quiet: Quiet = False,
) -> None:
    """Decode captures once into Parquet tables (packets, connections, DNS, ICMP, findings)
    that `pcapkit analyze DIR`, pcapkit.load(DIR), polars or DuckDB read back. Large captures
    are streamed as `analyze` streams them (with --scheduler tcp://..., DIR's parent folder
    must be one the workers share: they write the packet table)."""
    register_vxlan_ports(vxlan_port or [])
    interrupt.remove_on_interrupt(str(staging_folder(to)))
    with (progress_display(enabled=not quiet) as progress,
          spill_folder(spill_dir) as spill):
        result = convert(captures, to, k8s or [], overwrite=overwrite, workers=workers,
                         scheduler=scheduler, spill_dir=spill, progress=progress)
    t = result.tables
    typer.echo(f"{to}: {len(result.captures)} captures, {result.counts.packets} packets, "
               f"{t.connections['conn'].n_unique()} TCP connections, {t.dns.height} DNS "
               f"transactions, {t.icmp_errors.height} ICMP errors, {result.symptoms.height} "
               "symptoms", err=True)

"""`pcapkit analyze CAPTURE... [--k8s SNAPSHOT]... [--format F] [--output FILE] [--quiet]`.

`pcapkit analyze DIR` reads a store `pcapkit convert` wrote, instead of captures."""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from pcapkit.api import analyze
from pcapkit.cli import interrupt
from pcapkit.cli.engine_options import Quiet, Scheduler, SpillDir, Workers
from pcapkit.cli.progress import progress_display
from pcapkit.decode.schema import Tunnel
from pcapkit.decode.tunnels import register
from pcapkit.detect.config import DEFAULT, with_settings
from pcapkit.errors import UsageError
from pcapkit.report import RENDERERS, write_json
from pcapkit.report.text import render_text
from pcapkit.store.load import load, store_argument
from pcapkit.wireshark.tshark import tshark_path


@contextmanager
def spill_folder(parent: Path | None) -> Iterator[str]:
    """A folder of this run's own for a streamed analysis's spill, removed when the command
    ends, interrupted or not."""
    try:
        folder = tempfile.mkdtemp(prefix="pcapkit-", dir=parent)
    except OSError as e:
        raise UsageError(f"--spill-dir {parent}: cannot create a folder there: "
                         f"{e.strerror or e}") from None
    interrupt.remove_on_interrupt(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def command_line(captures: list[Path], k8s: list[Path], fmt: Format, settings: list[str],
                 vxlan_ports: list[int], cross_check: bool) -> str:
    """The command as a report quotes it (`How this report was made`): what decides the
    result, in a form to paste into a shell; not where the report went nor how fast."""
    words = ["pcapkit", "analyze", *map(str, captures)]
    words += [w for p in k8s for w in ("--k8s", str(p))]
    words += [w for p in vxlan_ports for w in ("--vxlan-port", str(p))]
    words += [w for s in settings for w in ("--set", s)]
    words += ["--cross-check"] if cross_check else []
    return shlex.join([*words, "--format", fmt.value])


def register_vxlan_ports(ports: list[int]) -> None:
    """`--vxlan-port`: decode VXLAN on these UDP ports too."""
    for port in ports:
        if not 0 < port < 65536:
            raise UsageError(f"--vxlan-port {port}: not a UDP port")
        register(port, Tunnel.VXLAN)


class Format(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"
    html = "html"


def analyze_command(
    captures: Annotated[list[Path], typer.Argument(
        help="pcap/pcapng files (optionally .gz) of one incident: pod, node -i any, underlay; "
             "or one directory written by pcapkit convert.",
        show_default=False, metavar="CAPTURE...")],
    k8s: Annotated[list[Path] | None, typer.Option(
        "--k8s", help="kubectl get pods,services,endpointslices,nodes -A -o json|yaml output "
                      "(file or directory; repeatable).")] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Report format.")] = Format.text,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write the report here, not stdout.")] = None,
    vxlan_port: Annotated[list[int] | None, typer.Option(
        "--vxlan-port", help="Also decode VXLAN on this UDP port (8472 and 4789 always are).",
    )] = None,
    settings: Annotated[list[str] | None, typer.Option(
        "--set", metavar="NAME=VALUE",
        help="Change a detector threshold (see pcapkit/detect/config.py), e.g. "
             "--set nxdomain_min=10.")] = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    spill_dir: SpillDir = None,
    chunk_records: Annotated[int | None, typer.Option(
        "--chunk-records", min=1, hidden=True,
        help="Records per decoded chunk (tuning and tests).")] = None,
    cross_check: Annotated[bool, typer.Option(
        "--cross-check", help="Ask Wireshark too: tshark's expert analysis (through pyshark) "
                              "on each symptom's packets; says per symptom whether it agrees, "
                              "and why not. Needs tshark.")] = False,
    quiet: Quiet = False,
) -> None:
    """Analyse captures of one incident and report what went wrong, and where."""
    register_vxlan_ports(vxlan_port or [])
    if cross_check:
        tshark_path()  # before the analysis: a missing tshark is said at once
    config = with_settings(DEFAULT, settings or [])
    store = store_argument(captures, vxlan_port)  # a directory `pcapkit convert` wrote
    if store is not None:
        result = load(store, k8s or [], config)
    else:
        with (progress_display(enabled=not quiet and sys.stderr.isatty()) as progress,
              spill_folder(spill_dir) as spill):
            result = analyze(captures, k8s or [], config, workers=workers,
                             scheduler=scheduler, chunk_records=chunk_records,
                             spill_dir=spill, progress=progress)
    result.command = command_line(captures, k8s or [], fmt, settings or [], vxlan_port or [],
                                  cross_check)
    if cross_check:
        result.cross_check()
    if fmt is Format.json:  # written as it is encoded: a large document is never held whole
        _write(output, lambda out: write_json(result, out))
        return
    if fmt is Format.text and output is None and sys.stdout.isatty():
        text = render_text(result, width=shutil.get_terminal_size().columns, color=True)
    else:
        text = RENDERERS[fmt.value](result)
    _write(output, lambda out: out.write(text))


def _write(output: Path | None, write: Callable[[TextIO], object]) -> None:
    """`write` the report to `output`, or to stdout without one."""
    if output is None:
        write(sys.stdout)
        return
    try:
        with output.open("w", encoding="utf-8") as out:
            write(out)
    except OSError as e:
        raise UsageError(f"{output}: cannot write report: {e.strerror or e}") from None

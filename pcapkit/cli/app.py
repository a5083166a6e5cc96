"""The `pcapkit` command. Commands parse arguments, call the API and render; no analysis here.

Exit status (the outside contract): 0 analysed, 2 unusable input or arguments (one line on
stderr naming the file and the problem), 1 an internal error, 130 interrupted (Ctrl-C: the
line `pcapkit: interrupted`, no traceback, no worker process left running).
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

import typer

from pcapkit.cli import interrupt
from pcapkit.cli.analyze import analyze_command
from pcapkit.cli.convert import convert_command
from pcapkit.cli.extract import extract_command
from pcapkit.cli.progress import close_displays
from pcapkit.cli.show import show_command
from pcapkit.errors import PcapkitError, WorkerLost
from pcapkit.version import __version__

#: The exit status of an interrupted run (128 + SIGINT, as shells report it).
INTERRUPTED = 130

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Kubernetes-aware analysis of tcpdump captures.")
app.command("analyze")(analyze_command)
app.command("convert")(convert_command)
app.command("extract")(extract_command)
app.command("show")(show_command)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"pcapkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Kubernetes-aware analysis of tcpdump captures."""


def _fail(status: int, message: str) -> int:
    sys.stderr.write(f"pcapkit: {' '.join(message.split())}\n")
    return status


def _say_interrupted() -> None:
    close_displays()
    _fail(INTERRUPTED, "interrupted")


def _interrupted() -> int:
    if not interrupt.claim():
        interrupt.wait_for_exit()  # the watchdog has it: it reports and ends the process
    _say_interrupted()
    return INTERRUPTED


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status instead of exiting (for tests and `main`)."""
    try:
        status = app(args=argv, prog_name="pcapkit", standalone_mode=False)
        if status == INTERRUPTED:  # click turns KeyboardInterrupt into Exit(130) and returns
            return _interrupted()
    except KeyboardInterrupt:
        return _interrupted()
    except PcapkitError as e:
        return _fail(2, str(e))
    except typer.Exit as e:
        return int(e.exit_code or 0)
    except typer.Abort:
        return _interrupted()
    except typer.TyperException as e:  # usage errors: exit_code 2
        if type(e).__name__ == "NoArgsIsHelpError":  # bare `pcapkit`: the help is the answer
            sys.stderr.write(e.format_message() + "\n")
            return 2
        return _fail(e.exit_code, e.format_message())
    except BrokenPipeError:
        return 0
    except WorkerLost as e:  # the contract's exit 1, in words that say what to do
        return _fail(1, str(e))
    except Exception as e:  # the contract's exit 1: say what broke in one line
        if os.environ.get("PCAPKIT_DEBUG"):
            traceback.print_exc()
        return _fail(1, f"internal error: {type(e).__name__}: {e} (set PCAPKIT_DEBUG=1 "
                        "for the traceback)")
    return 0


def main() -> None:
    """The console script: `run()`, with Ctrl-C handled wherever it lands (`interrupt`) and the
    children of this process (worker pools) ended before it exits."""
    interrupt.watch_interrupts(_say_interrupted, INTERRUPTED)
    try:
        status = run()
    except KeyboardInterrupt:  # between run()'s handlers and here
        status = _interrupted()
    finally:
        interrupt.ending()  # from here on Ctrl-C changes nothing (or waits for the watchdog)
    interrupt.end_children(tracker_too=False)
    interrupt.remove_socket_folder()
    _exit(status)


def _exit(status: int) -> None:
    """Exit now, without the interpreter's teardown: freeing every object of a large analysis
    one by one (its frames, the compiled decoder) took ~0.3 s, 8 % of a 1.3M-packet run, and
    there is nothing left for it to do: the workers are ended, the spill folder removed, the
    report written. Only what is buffered for stdout and stderr is left, flushed here."""
    for stream in (sys.stdout, sys.stderr):
        # a reader that went away (`| head`), a closed stream: nothing more can reach them
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)

"""The `pcapkit` command as users' automation sees it: exit codes, one-line errors, JSON keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pcapkit
from pcapkit.cli.app import run
from tests.blas import blas_threads
from tests.cli.spawn import PCAPKIT, cli_env
from tests.conftest import SAMPLES, sample_captures

SAMPLE = next(iter(sample_captures()), None)
needs_sample = pytest.mark.skipif(SAMPLE is None, reason="no lab samples recorded yet")


def _cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a real subprocess, with an empty environment."""
    return subprocess.run([PCAPKIT, *args], capture_output=True, text=True,
                          env=cli_env(tmp_path), timeout=120, cwd=tmp_path)


def _one_error_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0]


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "empty file"),
    (b"hello, this is not a capture at all\n", "not a pcap or pcapng capture"),
    (b"\x1f\x8b\x08\x00garbage", "gzip"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "pcap file header cut short"),
])
def test_unusable_capture_exits_2_with_one_line(tmp_path: Path, content: bytes,
                                                problem: str) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    _one_error_line(_cli(["analyze", str(bad)], tmp_path), str(bad), problem)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    _one_error_line(_cli(["analyze", str(tmp_path / "nope.pcap")], tmp_path), "nope.pcap",
                    "no such file")
    _one_error_line(_cli(["analyze", str(tmp_path)], tmp_path), str(tmp_path), "directory")


def test_bad_arguments_exit_2_with_one_line(tmp_path: Path) -> None:
    _one_error_line(_cli(["analyze", "x.pcap", "--format", "pdf"], tmp_path), "pdf")
    _one_error_line(_cli(["analyze"], tmp_path), "CAPTURE")
    _one_error_line(_cli(["frobnicate"], tmp_path), "frobnicate")


@needs_sample
def test_bad_snapshot_exits_2(tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text("{nope")
    _one_error_line(_cli(["analyze", str(SAMPLE), "--k8s", str(snap)], tmp_path), str(snap))


@needs_sample
def test_json_document_has_the_contract_keys(tmp_path: Path) -> None:
    assert SAMPLE is not None
    proc = _cli(["analyze", str(SAMPLE), "--format", "json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) >= {"pcapkit_version", "captures", "summary", "symptoms"}
    cap = doc["captures"][0]
    assert set(cap) >= {"path", "format", "link_types", "packets", "first_ts", "last_ts",
                        "vantage", "warnings"}
    assert set(doc["summary"]) >= {"packets", "flows", "symptoms"}
    assert doc["summary"]["packets"] == cap["packets"] > 0


@needs_sample
def test_cut_short_capture_is_analysed_with_a_warning(tmp_path: Path) -> None:
    assert SAMPLE is not None
    data = SAMPLE.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 7])  # tcpdump killed mid-record
    whole = json.loads(_cli(["analyze", str(SAMPLE), "-f", "json"], tmp_path).stdout)
    proc = _cli(["analyze", str(cut), "-f", "json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["captures"][0]["packets"] == whole["captures"][0]["packets"] - 1
    assert any("cut short" in w for w in doc["captures"][0]["warnings"])


@needs_sample
@pytest.mark.parametrize("fmt", ["text", "json", "markdown", "html"])
def test_every_format_renders_in_process(tmp_path: Path, fmt: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"report.{fmt}"
    snaps = [str(p) for p in SAMPLES.glob("*/snapshot.json")][:1]
    args = ["analyze", str(SAMPLE), "--format", fmt, "--output", str(out)]
    for s in snaps:
        args += ["--k8s", s]
    assert run(args) == 0
    text = out.read_text()
    assert text.strip()
    if fmt == "json":
        json.loads(text)


@needs_sample
def test_json_written_as_encoded_is_the_whole_dumps(tmp_path: Path) -> None:
    """The command writes the JSON as it encodes it: byte for byte what the standard library's
    `json.dumps` of the whole document gives, on stdout and to `--output`."""
    assert SAMPLE is not None
    snap = SAMPLE.parent / "snapshot.json"
    args = ["analyze", str(SAMPLE), "-f", "json", "--k8s", str(snap)]
    expected = json.dumps(pcapkit.analyze([SAMPLE], [snap]).to_dict(), indent=2) + "\n"
    proc = _cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "report.json"
    assert _cli([*args, "--output", str(out)], tmp_path).returncode == 0
    assert proc.stdout == out.read_text() == expected


def test_version(tmp_path: Path) -> None:
    proc = _cli(["--version"], tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("pcapkit ")


def test_set_changes_a_threshold(tmp_path: Path) -> None:
    pod = next((SAMPLES / "nxdomain_storm").glob("pod-*.pcap"))
    default = json.loads(_cli(["analyze", str(pod), "-f", "json"], tmp_path).stdout)
    (storm,) = [s for s in default["symptoms"] if s["kind"] == "nxdomain_storm"]
    # One more NXDOMAIN than the storm had is needed now: the same capture is no storm.
    raised = _cli(["analyze", str(pod), "-f", "json", "--set",
                   f"nxdomain_min={storm['nxdomain'] + 1}"], tmp_path)
    assert raised.returncode == 0, raised.stderr
    assert not [s for s in json.loads(raised.stdout)["symptoms"] if s["kind"] == "nxdomain_storm"]
    _one_error_line(_cli(["analyze", str(pod), "--set", "nxdomain_min=many"], tmp_path),
                    "nxdomain_min=many")
    _one_error_line(_cli(["analyze", str(pod), "--set", "no_such=1"], tmp_path), "no_such")


@needs_sample
def test_workers_do_not_import_the_cli(tmp_path: Path) -> None:
    # A worker runs the console script first: the CLI's modules are the main process's.
    proc = subprocess.run(
        [PCAPKIT, "analyze", str(SAMPLE), "--workers", "2", "--chunk-records", "50",
         "--format", "json", "-o", str(tmp_path / "out.json")],
        capture_output=True, text=True, env=cli_env(tmp_path, PYTHONPROFILEIMPORTTIME="1"),
        timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")]
    # this process and the two workers; not their fork server, which must not (pcapkit.forkserver)
    assert imported.count("polars") == 3
    assert imported.count("pcapkit.forkserver.preload") == 1
    assert imported.count("typer") == imported.count("pcapkit.cli.app") == 1


@needs_sample
@pytest.mark.skipif(blas_threads() is None, reason="numpy has no bundled OpenBLAS")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: OpenBLAS starts one thread anyway")
def test_the_command_starts_no_blas_threads(tmp_path: Path) -> None:
    """The console script (run as written, in a process that reports OpenBLAS's threads as
    the script ends it) sets `OPENBLAS_NUM_THREADS` before anything it imports loads numpy: each
    thread OpenBLAS starts spins ~0.1 s of CPU as numpy loads, for linear algebra pcapkit never
    does."""
    out = tmp_path / "out.json"
    code = (f"import os, runpy, sys\n"
            f"end = os._exit\n"
            f"def report(status):\n"
            f"    from tests.blas import blas_threads\n"
            f"    print('exit', status, 'threads', blas_threads(), flush=True)\n"
            f"    end(status)\n"
            f"os._exit = report\n"
            f"sys.argv = [{PCAPKIT!r}, 'analyze', {str(SAMPLE)!r}, '--format', 'json',\n"
            f"            '-o', {str(out)!r}]\n"
            f"runpy.run_path({PCAPKIT!r}, run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=cli_env(tmp_path), timeout=120, cwd=tmp_path)
    assert proc.stdout.split() == ["exit", "0", "threads", "1"], proc.stderr[-2000:]
    assert json.loads(out.read_text())["captures"]

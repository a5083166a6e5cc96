"""The console script's guess that its command line is a streamed run on the local pool, which
starts the pool's fork server ahead of the script's own imports."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pcapkit.streaming import STREAM_FROM_BYTES, cores, likely
from tests.cli.spawn import PCAPKIT, cli_env

needs_cores = pytest.mark.skipif(cores() < 2, reason="one core: the pool is this process")


@pytest.fixture
def large(tmp_path: Path) -> str:
    """A file as large as a streamed capture, of no disk space (sparse), and no capture."""
    path = tmp_path / "large.pcap"
    with path.open("wb") as f:
        f.truncate(STREAM_FROM_BYTES)
    return str(path)


@needs_cores
def test_a_large_capture_analysed_on_the_local_pool_is_guessed(large: str, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.delenv("PCAPKIT_WORKERS", raising=False)
    small = tmp_path / "small.pcap"
    small.write_bytes(b"\0" * 100)
    assert likely(["analyze", large])
    assert likely(["convert", large, "--to", str(tmp_path / "out")])
    assert likely(["analyze", "-f", "json", str(small), large, "--workers", "2"])
    assert not likely(["analyze", str(small)])
    assert not likely(["show", large])
    assert not likely([])
    for one in (["--workers", "1"], ["-j", "1"], ["--workers=1"], ["-j1"],
                ["--scheduler", "local:2"], ["--scheduler=tcp://h:8786"]):
        assert not likely(["analyze", large, *one]), one
    monkeypatch.setenv("PCAPKIT_WORKERS", "1")
    assert not likely(["analyze", large])


@needs_cores
def test_the_command_starts_the_fork_server_before_its_imports(large: str, tmp_path: Path
                                                               ) -> None:
    """The server starts as the script does: before the command has read a byte of the file,
    which here is no capture at all (exit 2 with one line, the server ended with the run)."""
    proc = subprocess.run([PCAPKIT, "analyze", large], capture_output=True, text=True,
                          env=cli_env(tmp_path, PYTHONPROFILEIMPORTTIME="1"), timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    imported = [line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import")]
    assert "pcapkit.forkserver.preload" in imported
    said = [line for line in lines if not line.startswith("import time:")]
    assert len(said) == 1 and "large.pcap" in said[0], said


def test_python_m_pcapkit_is_the_console_script() -> None:
    """`python -m pcapkit` runs the console script's entry point, and so starts the fork server
    ahead of its imports as the script does (through `pcapkit.cli.app` it did not: 1.3M
    DNS-heavy packets in 4.3-4.5 s rather than the script's 3.75 s)."""
    import pcapkit.__main__ as as_module
    from pcapkit.cli import script

    assert as_module.main is script.main

"""Dask distributed: a real `LocalCluster` of two worker processes runs the decoding, per-shard
flow and detector work, and `analyze` gathers the same document as the local run; the CLI's
`--scheduler` (an existing cluster's address, and `local:N`) as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pcapkit
from tests.conftest import REPO, SAMPLES, gzipped, planned_chunks

distributed = pytest.importorskip("distributed", reason="pip install 'pcapkit[dask]'")

SCENARIOS = ["stale_endpoint", "nxdomain_storm", "hairpin", "lossy_underlay"]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def _captures(name: str) -> list[Path]:
    return sorted(p for p in (SAMPLES / name).iterdir() if p.suffix in {".pcap", ".pcapng"})


def _document(captures: list[Path], snapshots: list[Path], **kw: object) -> str:
    return json.dumps(pcapkit.analyze(captures, snapshots, **kw).to_dict(),  # type: ignore[arg-type]
                      sort_keys=True)


@pytest.mark.parametrize("name", SCENARIOS)
def test_cluster_gives_the_local_document(scheduler: str, name: str) -> None:
    """A multi-capture incident (pod, nodes' -i any, underlay, pcapng) with its snapshot."""
    captures, snapshot = _captures(name), [SAMPLES / name / "snapshot.json"]
    on_cluster = _document(captures, snapshot, scheduler=scheduler, chunk_records=301, shards=3)
    assert on_cluster == _document(captures, snapshot)


@pytest.mark.parametrize("cluster", ["address", "local:2"])
def test_a_gzip_capture_s_bytes_go_to_workers_elsewhere_only(
        cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    """Workers reached at an address may be on other machines: they cannot open this process's
    decompressed copy, and each chunk carries its bytes. A `local:N` cluster's workers map the
    copy, as local worker processes do."""
    captures = gzipped(_captures("lossy_underlay"), tmp_path)
    chunks = planned_chunks(monkeypatch)
    scheduler = request.getfixturevalue("scheduler") if cluster == "address" else cluster
    on_cluster = _document(captures, [], scheduler=scheduler, chunk_records=40, shards=3)
    assert len(chunks) > len(captures)
    carried = cluster == "address"
    assert all((c.data is not None, c.spool is None) == (carried, carried) for c in chunks)
    assert on_cluster == _document(captures, [])


def test_cli_local_cluster(tmp_path: Path) -> None:
    name = "no_endpoints"
    captures = [str(p) for p in _captures(name)]
    snapshot = str(SAMPLES / name / "snapshot.json")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-m", "pcapkit", "analyze", *captures, "--k8s", snapshot,
         "--format", "json", "--scheduler", "local:2"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == json.loads(_document([Path(c) for c in captures],
                                                          [Path(snapshot)]))


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:9", "no-port-here"])
def test_unreachable_scheduler_is_a_usage_error(address: str) -> None:
    with pytest.raises(pcapkit.UsageError, match="cannot connect"):
        pcapkit.analyze(_captures("no_endpoints"), scheduler=address)

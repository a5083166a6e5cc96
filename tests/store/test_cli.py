"""`pcapkit convert` and `pcapkit analyze DIR` as users' automation runs them: a real
subprocess, the same JSON document as from the captures, one-line errors with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pcapkit
from pcapkit.cli.app import run
from pcapkit.store.layout import MANIFEST, partition_parts
from tests.cli.test_cli import _one_error_line as one_error_line
from tests.store.scenarios import SCENARIOS, captures, cli, needs_scenarios, snapshot


@needs_scenarios
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_analyze_dir_gives_the_captures_document(tmp_path: Path, scenario: str) -> None:
    """Every scenario: `convert --k8s` then `analyze DIR` prints the document `analyze
    CAPTURES --k8s` prints (capture paths included: the store keeps them as given)."""
    caps, snap = captures(scenario), snapshot(scenario)
    proc = cli(["convert", *caps, "--to", tmp_path / "store", "--k8s", snap], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and "packets" in proc.stderr
    proc = cli(["analyze", tmp_path / "store", "--format", "json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    want = json.loads(json.dumps(pcapkit.analyze(caps, [snap]).to_dict()))
    assert json.loads(proc.stdout) == want


@needs_scenarios
def test_analyze_dir_with_k8s_and_set(tmp_path: Path) -> None:
    """A snapshot and thresholds given to `analyze DIR` apply as they do to captures."""
    caps, snap = captures("nxdomain_storm"), snapshot("nxdomain_storm")
    assert cli(["convert", *caps, "--to", tmp_path / "s", "-j", "1", "-q"],
               tmp_path).returncode == 0
    args = ["--k8s", snap, "--set", "nxdomain_min=2", "-f", "json"]
    from_dir = cli(["analyze", tmp_path / "s", *args], tmp_path)
    from_captures = cli(["analyze", *caps, *args], tmp_path)
    assert from_dir.returncode == 0, from_dir.stderr
    assert json.loads(from_dir.stdout) == json.loads(from_captures.stdout)
    assert any(s.get("k8s") for s in json.loads(from_dir.stdout)["symptoms"])


def test_convert_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    caps = captures("no_endpoints")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    one_error_line(cli(["convert", *caps, "--to", busy], tmp_path), str(busy), "not empty")
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    one_error_line(cli(["convert", bad, "--to", tmp_path / "s"], tmp_path), str(bad))
    assert not (tmp_path / "s").exists()
    one_error_line(cli(["convert", *caps], tmp_path), "--to")
    afile = tmp_path / "afile"
    afile.write_text("")
    one_error_line(cli(["convert", *caps, "--to", afile], tmp_path), str(afile),
                   "not a directory")


def test_convert_refuses_to_replace_a_store_unless_told(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    caps = [str(c) for c in captures("no_endpoints")]
    store = str(tmp_path / "s")
    assert run(["convert", *caps, "--to", store]) == 0
    capsys.readouterr()
    assert run(["convert", *caps, "--to", store]) == 2
    assert "already holds a pcapkit store; --overwrite" in capsys.readouterr().err
    assert run(["convert", *caps, "--to", store, "--overwrite"]) == 0
    # A convert cut short leaves tables without a manifest: not a store, but pcapkit's own.
    (tmp_path / "s" / MANIFEST).unlink()
    capsys.readouterr()
    assert run(["analyze", store]) == 2
    assert "not a pcapkit store" in capsys.readouterr().err
    assert run(["convert", *caps, "--to", store]) == 2
    assert "unfinished pcapkit store" in capsys.readouterr().err
    assert run(["convert", *caps, "--to", store, "--overwrite"]) == 0


def test_analyze_dir_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    caps = captures("no_endpoints")
    plain = tmp_path / "plain"
    plain.mkdir()
    one_error_line(cli(["analyze", plain], tmp_path), str(plain), "not a pcapkit store")
    store = tmp_path / "store"
    pcapkit.store.convert(caps, store)
    one_error_line(cli(["analyze", store, caps[0]], tmp_path), str(store), "alone")
    one_error_line(cli(["analyze", store, "--vxlan-port", "9999"], tmp_path), "--vxlan-port")
    one_error_line(cli(["analyze", store, "--k8s", tmp_path / "nope.json"], tmp_path),
                   "nope.json")


@pytest.mark.parametrize("damage", ["manifest", "version", "tables", "partition", "parquet"])
def test_damaged_store_exits_2_with_one_line(tmp_path: Path, damage: str) -> None:
    store = tmp_path / "store"
    pcapkit.store.convert(captures("no_endpoints"), store)
    manifest = store / MANIFEST
    part = partition_parts(store, "packets", 1)[0]
    if damage == "manifest":
        manifest.write_text("{")
        needles = [str(manifest), "manifest"]
    elif damage == "version":
        doc = json.loads(manifest.read_text())
        manifest.write_text(json.dumps({**doc, "format_version": 99}))
        needles = [str(store), "format 99"]
    elif damage == "tables":
        doc = json.loads(manifest.read_text())
        del doc["tables"]["packets"]["columns"]
        manifest.write_text(json.dumps(doc))
        needles = [str(manifest), "damaged"]
    elif damage == "partition":
        part.unlink()
        needles = [str(part.parent), "missing"]
    else:
        part.write_bytes(part.read_bytes()[:100])
        needles = [str(part), "Parquet"]
    one_error_line(cli(["analyze", store], tmp_path), *needles)

"""A long connection's digest (`pcapkit.detect.digest`) gives the per-connection detectors the
findings its every row gives: on the connections of every lab scenario (all its captures and
its snapshot together) and of every public corpus capture (ports reused, connections begun
mid-stream, SYNs re-sent, resets, zero windows), cut in slices of one row (a slice boundary
between every two rows: between a SYN-ACK and its ACK, a stall and its end, a FIN and its
ACK), of a few rows, and whole. Through the engine, every lab scenario's connections of more
than a few rows: `tests/engine/test_streaming.py`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pcapkit
from pcapkit.detect import digest as digest_module
from pcapkit.detect import tcp_conn, zero_window
from pcapkit.detect.config import DEFAULT, Config, for_snapshot
from pcapkit.detect.digest import digest
from pcapkit.engine import shards
from pcapkit.engine.tasks import per_connection
from pcapkit.errors import CaptureError
from pcapkit.flows import Tables
from tests.conftest import SAMPLES, corpus_captures, needs_corpus
from tests.flows.tcp_oracles import Seg, write_pcap

#: the lab's, and the late FIN `rst` passes over (an orderly close, then a reset)
SCENARIOS = [*sorted(p for p in SAMPLES.iterdir() if (p / "snapshot.json").is_file()),
             Path(__file__).parent / "late_fin"]
SYN, FIN, RST, ACK = 0x02, 0x01, 0x04, 0x10
#: slices of one row up to this many rows (each slice costs a few ms); of `SIZES` past it
ROW_BY_ROW = 400
SIZES = (3, 64)
#: the corpora's captures with more TCP rows than this are left to the lab's
CORPUS_ROWS = 5_000


@pytest.fixture
def few_cited(monkeypatch: pytest.MonkeyPatch) -> None:
    """Findings cite two frames of each capture (`EVIDENCE_FRAMES`), and the digest keeps the
    first two rows of each view: most rows of a lab connection are then left out, as in a long
    one (the first thousand are all of most lab connections' rows)."""
    monkeypatch.setattr(tcp_conn, "EVIDENCE_FRAMES", 2)
    monkeypatch.setattr(digest_module, "EVIDENCE_FRAMES", 2)


def _checked(analysis: pcapkit.Analysis, most: int | None = None, config: Config = DEFAULT,
             sizes: tuple[int, ...] = SIZES) -> int:
    """Checks the digest of the analysis's connections in slices of each size, the detectors
    run with `config` and the snapshot's; their rows."""
    tables = analysis.tables
    packets = tables.packets.filter(pl.col("conn").is_not_null()).select(
        "conn", *shards.DETECT_COLUMNS)
    if packets.is_empty() or (most is not None and packets.height > most):
        return 0
    config = for_snapshot(config, analysis.snapshot)
    whole = per_connection(tables, packets, config)
    others = Tables(packets=packets.clear(), connections=tables.connections, dns=tables.dns,
                    icmp_errors=tables.icmp_errors, views=tables.views, spans=tables.spans)
    for size in [*((1,) if packets.height <= ROW_BY_ROW else ()), *sizes, packets.height]:
        def slices(size: int = size) -> list[pl.DataFrame]:
            return [packets.slice(at, size) for at in range(0, packets.height, size)]
        digested = digest(slices, others, config)
        assert digested.height <= packets.height
        assert_frame_equal(per_connection(tables, digested, config), whole)
    return packets.height


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.name)
@pytest.mark.usefixtures("few_cited")
def test_lab_digest_gives_every_rows_findings(scenario: Path) -> None:
    captures = sorted(p for p in scenario.iterdir() if p.suffix in {".pcap", ".pcapng"})
    _checked(pcapkit.analyze(captures, [scenario / "snapshot.json"]))


@pytest.mark.usefixtures("few_cited")
def test_stalls_cut_from_their_ends(tmp_path: Path) -> None:
    """Zero windows (none in the lab): a stall's end in the slice after it, and in the same."""
    stalls = [
        Seg(0.0, True, SYN, 1000), Seg(0.001, False, SYN | ACK, 5000, 1001),
        Seg(0.002, True, ACK, 1001, 5001), Seg(0.01, True, ACK, 1001, 5001, 100),
        Seg(0.011, False, ACK, 5001, 1101, win=0), Seg(0.3, False, ACK, 5001, 1101, win=0),
        Seg(0.5, False, ACK, 5001, 1101, win=400), Seg(0.51, True, ACK, 1101, 5001, 100),
        Seg(0.52, False, ACK, 5001, 1201, 200), Seg(0.53, True, ACK, 1201, 5201, win=0),
        Seg(0.9, True, ACK, 1201, 5201, win=300), Seg(0.91, True, FIN | ACK, 1201, 5201),
        Seg(0.92, False, FIN | ACK, 5201, 1202), Seg(0.93, True, ACK, 1202, 5202),
    ]
    _checked(pcapkit.analyze([write_pcap(tmp_path / "z.pcap", stalls)]),
             config=replace(DEFAULT, zero_window_min_count=1))
    assert zero_window.detect(pcapkit.analyze([tmp_path / "z.pcap"]).tables, replace(
        DEFAULT, zero_window_min_count=1)).height == 1


@pytest.mark.usefixtures("few_cited")
def test_resets_and_a_door_cut_from_what_places_them(tmp_path: Path) -> None:
    """What only the digest's placed rows tell: a reset after the handshake (the client's ACK
    of the SYN-ACK), a reset after an orderly close (a pure ACK of the peer's FIN), and the
    evidence of a connection to a door without endpoints (its first and last rows)."""
    established = [
        Seg(0.0, True, SYN, 1000), Seg(0.001, False, SYN | ACK, 5000, 1001),
        Seg(0.002, True, ACK, 1001, 5001), Seg(0.01, True, ACK, 1001, 5001, 100),
        Seg(0.02, False, ACK, 5001, 1101, 100), Seg(0.03, True, ACK, 1101, 5101),
        Seg(0.04, False, RST | ACK, 5101, 1101)]
    closed = [
        Seg(0.0, True, SYN, 1000), Seg(0.001, False, SYN | ACK, 5000, 1001),
        Seg(0.002, True, ACK, 1001, 5001), Seg(0.01, True, ACK, 1001, 5001, 100),
        Seg(0.02, False, ACK, 5001, 1101), Seg(0.03, True, FIN | ACK, 1101, 5001),
        Seg(0.04, False, ACK, 5001, 1102), Seg(0.05, False, ACK, 5001, 1102, 50),
        Seg(0.06, True, ACK, 1102, 5051), Seg(0.07, False, FIN | ACK, 5051, 1102),
        Seg(0.08, True, ACK, 1102, 5052), Seg(0.3, False, FIN | ACK, 5051, 1102),
        Seg(0.31, True, RST, 1102, 0)]
    door = ("10.0.0.2", 30080)
    midstream = [Seg(0.1 * i, True, ACK, 1000 + 100 * i, 5000, 100, server=door)
                 for i in range(8)]
    captures = [write_pcap(tmp_path / f"{name}.pcap", segs) for name, segs in
                [("established", established), ("closed", closed), ("door", midstream)]]
    config = replace(DEFAULT, local_node_ports=("10.0.0.2:30080|node-a|default/web|",))
    analysis = pcapkit.analyze(captures, config=config)
    kinds = dict(analysis.symptoms.select("kind", "extra").rows())
    # the late FIN is re-sent (a retransmission), and its reset passed over
    assert sorted(kinds) == ["external_traffic_local", "retransmission", "rst"]
    assert json.loads(kinds["rst"])["phase"] == "established"
    _checked(analysis, config=config)


def test_digest_of_a_long_connection_is_small(tmp_path: Path) -> None:
    """A long download's digest keeps its handshake, its close, its retransmission and the
    first rows of its view, and stands for the rest: a few of its rows, the same finding."""
    segs = [Seg(0.0, True, SYN, 1000), Seg(0.001, False, SYN | ACK, 5000, 1001),
            Seg(0.002, True, ACK, 1001, 5001)]
    for i in range(10_000):
        seq = 5001 + 100 * i
        segs += [Seg(0.003 + i * 1e-4, False, ACK, seq, 1001, 100),
                 Seg(0.003 + i * 1e-4 + 5e-5, True, ACK, 1001, seq + 100)]
    for i in range(5):  # sent again, after 2,000 segments more (not copies)
        again = segs[3 + 2 * (2_000 + i)]
        segs.insert(3 + 2 * (4_000 + i), replace(again, t=segs[3 + 2 * (4_000 + i)].t - 1e-5))
    end = 5001 + 100 * 10_000
    segs += [Seg(1.1, False, FIN | ACK, end, 1001), Seg(1.2, True, FIN | ACK, 1001, end + 1),
             Seg(1.3, False, ACK, end + 1, 1002)]
    analysis = pcapkit.analyze([write_pcap(tmp_path / "long.pcap", segs)])
    assert analysis.symptoms["kind"].to_list() == ["retransmission"]
    assert _checked(analysis, sizes=(997,)) == len(segs)
    packets = analysis.tables.packets.select("conn", *shards.DETECT_COLUMNS)
    digested = digest(lambda: [packets], analysis.tables, DEFAULT)
    assert digested.height < len(segs) / 10
    assert digested["segments"].sum() == 1 + 1 + 10_005 + 2


CORPUS = corpus_captures()
BATCH = 100


@needs_corpus()
@pytest.mark.usefixtures("few_cited")
@pytest.mark.parametrize("start", range(0, max(len(CORPUS), 1), BATCH))
def test_corpus_digest_gives_every_rows_findings(start: int) -> None:
    checked = 0
    for path in CORPUS[start:start + BATCH]:
        try:
            checked += _checked(pcapkit.analyze([path]), CORPUS_ROWS)
        except CaptureError:
            continue
    assert checked

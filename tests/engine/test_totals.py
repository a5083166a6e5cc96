"""The chunks' facts added up (`pcapkit.engine.totals`), on real chunks of lab captures: the
sockets kept are exactly those the ICMP errors quote, and they tie the errors to their flows as
every socket did."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pcapkit.decode import decode
from pcapkit.engine import shards, tasks
from pcapkit.engine.chunks import plan
from pcapkit.engine.totals import totals
from pcapkit.flows.icmp import SOCKET, error_copies, merge_socket_counts, tied
from pcapkit.read import read_capture
from tests.conftest import SAMPLES
from tests.detect.samples import needs_sample


def _facts(path: Path, tmp_path: Path) -> list[tasks.ChunkFacts]:
    """The facts of the capture's chunks of 50 records, each decoded as a worker decodes it."""
    capture = read_capture(path)
    return [f for chunk in plan(capture, 0, [capture.records], 50)
            for f in tasks.decode_chunk(tasks.DecodeJob(chunk, str(tmp_path), 2, "auto", False,
                                                        False, 50)).facts]


@pytest.mark.parametrize("scenario", [
    pytest.param(name, marks=needs_sample(name)) for name in ["no_endpoints", "mtu_blackhole"]])
def test_the_sockets_kept_are_those_the_errors_quote(scenario: str, tmp_path: Path) -> None:
    path = SAMPLES / scenario / "node-worker-1-any.pcap"
    facts = _facts(path, tmp_path)
    assert len(facts) > 2  # the sockets of several chunks added up
    every = merge_socket_counts([f.sockets for f in facts])
    icmp = shards.icmp_rows(decode(read_capture(path)))
    assert icmp.height > 0
    kept = totals(facts, 1, icmp).sockets
    quoted = {(r["icmp_q_src"], r["icmp_q_sport"], r["icmp_q_proto"])
              for r in icmp.iter_rows(named=True)}
    assert set(kept.select(SOCKET).iter_rows()) == quoted & set(every.select(SOCKET).iter_rows())
    assert 0 < kept.height < every.height
    errors = error_copies(icmp)
    assert tied(errors, kept, None).equals(tied(errors, every, None))
    assert tied(errors, kept, None)["flow_packets"].is_not_null().all()
    assert totals(facts, 1, icmp.clear()).sockets.is_empty()


def test_totals_of_no_chunk_are_empty() -> None:
    empty = totals([], 2, pl.DataFrame(schema=tasks.ICMP_SCHEMA))
    assert empty.counts.packets == 0 and empty.views.is_empty() and empty.sockets.is_empty()
    assert len(empty.addresses) == 2 and empty.tuples is None

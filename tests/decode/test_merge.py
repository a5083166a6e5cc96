"""Rows the compiled decoder defers are decoded by the reference decoder and put back in
place: a few runs of them by slicing, many by a gather; both give the same table."""

from __future__ import annotations

import numpy as np
import pytest

from pcapkit.decode import decode
from pcapkit.decode.fast import assemble
from pcapkit.read import read_capture
from tests.conftest import SAMPLES


@pytest.mark.parametrize("seed", range(6))
def test_sliced_merge_equals_gathered(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    capture = read_capture(SAMPLES / "dns_timeout" / "node-worker-1-any.pcap")
    table = decode(capture, 0, engine="compiled")
    rng = np.random.default_rng(seed)
    # runs of every length, at the first and last rows too
    picks = rng.choice(table.height, size=min(60, table.height // 4), replace=False)
    deferred = np.unique(np.concatenate([picks, picks + 1, [0, table.height - 1]]))
    deferred = deferred[deferred < table.height]
    # the replacement rows: other rows of the same table, so that a misplaced one shows
    decoded = table[rng.permutation(table.height)[:len(deferred)]]
    sliced = assemble.merge(table, deferred, decoded)
    monkeypatch.setattr(assemble, "MERGE_SLICED_RUNS", 0)
    gathered = assemble.merge(table, deferred, decoded)
    assert sliced.equals(gathered)
    assert sliced.height == table.height
    assert sliced[deferred.tolist()].equals(decoded)
    kept = np.setdiff1d(np.arange(table.height), deferred)
    assert sliced[kept.tolist()].equals(table[kept.tolist()])

"""The streaming engine gives the in-memory pipeline's document exactly on every capture of the
public corpora, in chunks of 13 packets (a prime) over 3 shards: captures pcapkit was not
built on, many malformed on purpose."""

from __future__ import annotations

import pytest

from pcapkit.errors import CaptureError
from tests.conftest import corpus_captures, document, needs_corpus

CORPUS = corpus_captures()
#: captures per test (a batch is ~30 s on 2 cores)
BATCH = 40


@needs_corpus()
@pytest.mark.parametrize("start", range(0, max(len(CORPUS), 1), BATCH))
def test_corpus_streamed_equals_in_memory(start: int) -> None:
    for path in CORPUS[start:start + BATCH]:
        try:
            whole = document([path], [])
        except CaptureError:
            continue
        assert document([path], [], workers=1, chunk_records=13, shards=3) == whole, path

"""IP fragment and DNS-over-TCP reassembly (`pcapkit.decode.reassembly`): its rules on plain
bytes (overlaps, lengths past 64 KiB, cut data, duplicates, the bounds on what is held), and on
every capture of both corpora (hundreds malformed on purpose): no exception, and every message
it reads is one tshark reads, with its reassembly on, in the same frame
(tests/flows/test_dns_oracles.py holds it to tshark and Zeek on the DNS captures).
"""

from __future__ import annotations

import struct

import polars as pl
import pytest

from pcapkit.codes import TcpFlags
from pcapkit.decode import decode, dns_stream, fragments
from pcapkit.decode.dns_stream import Streams
from pcapkit.decode.fragments import Fragments
from pcapkit.decode.reassembly import dns_messages, pieces
from pcapkit.decode.schema import DNS_MESSAGES
from pcapkit.errors import CaptureError
from pcapkit.read import read_capture
from tests.conftest import corpus_captures, needs_corpus

ACK, PSH, SYN, FIN, RST = TcpFlags.ACK, TcpFlags.PSH, TcpFlags.SYN, TcpFlags.FIN, TcpFlags.RST
DATA = bytes(range(256)) * 12  # 3,072 bytes, no two 8-byte blocks alike at the same offset


def _frags(*spans: tuple[int, int, bool]) -> list[tuple[int, bool, bytes]]:
    return [(start, more, DATA[start:end]) for start, end, more in spans]


def _feed(pending: Fragments, parts: list[tuple[int, bool, bytes]], key: object = "k",
          ts: int = 0) -> list[bytes | None]:
    return [pending.add(key, ts, offset, more, data, False) for offset, more, data in parts]


def test_fragments_in_any_order() -> None:
    parts = _frags((0, 1480, True), (1480, 2960, True), (2960, 3072, False))
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        got = _feed(Fragments(), [parts[i] for i in order])
        assert got[:-1] == [None, None] and got[-1] == DATA


def test_duplicate_fragment_is_ignored_overlap_drops_the_datagram() -> None:
    parts = _frags((0, 1480, True), (1480, 3072, False))
    assert _feed(Fragments(), [parts[0], parts[0], parts[1]])[-1] == DATA
    pending = Fragments()
    assert _feed(pending, _frags((0, 1480, True), (1472, 2000, True))) == [None, None]
    assert not pending.pending and pending.held == 0
    # what comes after starts a datagram of its own, which the rest does not complete
    assert _feed(pending, _frags((1480, 2000, True), (2000, 3072, False))) == [None, None]
    assert pending.held == 3072 - 1480


def test_lengths_past_64k_and_cut_data_drop_the_datagram() -> None:
    pending = Fragments()
    assert pending.add("k", 0, 65_528, False, DATA[:16], False) is None
    assert not pending.pending
    assert pending.add("k", 0, 0, True, DATA[:8], True) is None  # cut by the snapshot length
    assert not pending.pending
    # two last fragments that disagree on the length
    assert _feed(pending, _frags((1480, 3072, False), (1480, 2000, False))) == [None, None]
    assert not pending.pending
    # a fragment past the length the last one gave
    assert _feed(pending, _frags((8, 1480, False), (2000, 2008, True))) == [None, None]
    assert not pending.pending


def test_pending_fragments_are_bounded() -> None:
    pending = Fragments()
    for i in range(fragments.MAX_DATAGRAMS + 50):
        pending.add(i, 0, 0, True, DATA[:1480], False)
    assert len(pending.pending) == fragments.MAX_DATAGRAMS
    assert pending.held <= fragments.MAX_BYTES
    assert 0 not in pending.pending  # the oldest went first
    late = fragments.TIMEOUT_NS + 1
    pending.add("new", late, 0, True, DATA[:8], False)
    assert list(pending.pending) == ["new"] and pending.held == 8


def _message(dns_id: int, size: int) -> bytes:
    body = struct.pack(">HHHHHH", dns_id, 0x0100, 0, 0, 0, 0) + bytes(size - 12)
    return struct.pack(">H", size) + body


def _stream(segments: list[tuple[int, int, bytes]], streams: Streams | None = None,
            cut: int = -1) -> list[list[int]]:
    """The ids of the messages each segment completes."""
    streams = streams or Streams()
    return [[int.from_bytes(m[:2], "big") for m in
             streams.add("k", flags, seq, data, i == cut)]
            for i, (flags, seq, data) in enumerate(segments)]


def test_messages_across_segments_and_several_in_one() -> None:
    a, b, c = _message(1, 3000), _message(2, 40), _message(3, 50)
    stream = a + b + c
    isn = 2**32 - 1000  # the sequence numbers wrap within the message
    segments = [(SYN, isn - 1, b""), (ACK, isn, stream[:1448]),
                (ACK, isn + 1448, stream[1448:2896]), (PSH, isn + 2896, stream[2896:3010]),
                (PSH | FIN, isn + 3010, stream[3010:])]
    assert _stream(segments) == [[], [], [], [1], [2, 3]]


def test_retransmitted_copied_and_reordered_segments() -> None:
    a, b = _message(1, 2000), _message(2, 100)
    stream = a + b
    segments = [(SYN, 99, b""), (ACK, 100, stream[:1000]),
                (ACK, 100, stream[:1000]),  # a copy on another interface
                (ACK, 2100, stream[2000:]),  # after a gap: waits
                (ACK, 600, stream[500:2000]),  # retransmitted, overlapping what came
                (ACK, 2100, stream[2000:])]  # the late one again
    assert _stream(segments) == [[], [], [], [], [1, 2], []]


def test_a_stream_without_its_syn_starts_at_its_first_segment() -> None:
    stream = _message(7, 30) + _message(8, 30)
    assert _stream([(ACK, 5, stream[:40]), (ACK, 45, stream[40:])]) == [[7], [8]]


def test_a_stream_picked_up_mid_message_is_dropped_until_in_step() -> None:
    """The first segment seen continues a message: its bytes read as a length no DNS message
    has (0), so the stream restarts, in step at the next message."""
    stream = bytes(40) + _message(9, 30)
    assert _stream([(ACK, 5, stream[:40]), (ACK, 45, stream[40:])]) == [[], [9]]


def test_cut_segment_reads_what_was_captured_and_restarts() -> None:
    first, second = _message(1, 300), _message(2, 30)
    segments = [(SYN, 0, b""), (ACK, 1, first[:100]), (ACK, 301, second)]
    got = _stream(segments, cut=1)
    assert got == [[], [1], [2]]


def test_rst_ends_a_stream_and_what_it_held() -> None:
    streams = Streams()
    msg = _message(1, 100)
    assert _stream([(SYN, 0, b""), (ACK, 1, msg[:50]), (RST, 51, b""), (ACK, 51, msg[50:])],
                   streams) == [[], [], [], []]


def test_streams_are_bounded() -> None:
    streams = Streams()
    msg = _message(1, 60_000)
    for i in range(400):  # each holds a message begun, 50 kB
        streams.add(i, ACK, 0, msg[:50_000], False)
    assert streams.held <= dns_stream.MAX_BYTES
    assert len(streams.streams) < 400 and 0 not in streams.streams


@needs_corpus()
@pytest.mark.corpus
def test_every_corpus_capture_reassembles() -> None:
    """No capture of either corpus (overlapping fragments, offsets past 64 KiB, negative
    lengths, cut packets) makes reassembly fail; its rows have their schema."""
    found = 0
    for path in corpus_captures():
        try:
            capture = read_capture(path)
        except CaptureError:
            continue
        table = decode(capture, engine="fast")
        assert pieces(capture, table).height <= table.height
        messages = dns_messages(capture, table)
        assert messages.schema == DNS_MESSAGES, path
        found += messages.filter(pl.col("ip_proto") == 17).height
    assert found  # a fragmented response or more is read

"""DNS over TCP: the messages of one direction of a connection, read from its byte stream.

Each message is preceded by its length, two bytes (RFC 1035 4.2.2, RFC 7766), and may span
segments or share one with others. Segments are put in sequence order:

- the stream starts after the SYN's sequence number, or, when the capture holds no SYN, at the
  first segment with data (taken to start a message);
- bytes already taken (a retransmission, a duplicate, a capture's copy of the segment on
  another interface of the same view) are left out;
- a segment after a gap waits for the gap to fill, at most `MAX_EARLY` of them per stream; past
  that the stream is given up, and restarts at its next segment as above;
- a segment the capture cut short (snapshot length) ends what can be read: the messages
  complete before it, and the one it starts, read as far as it was captured (as the packet
  table reads it, `truncated`); the stream restarts at its next segment;
- a length below 12 (no DNS header fits) says the stream is read out of step (picked up
  mid-message): what it holds is dropped, and it restarts at its next segment;
- FIN and RST end the stream; messages begun and never completed are dropped.

At most `MAX_STREAMS` streams and `MAX_BYTES` bytes are held: past either, the stream idle the
longest is dropped. A stream holds one message in progress (at most 65,535 bytes, whatever
length it declares is only compared with the bytes that came) and its waiting segments.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from pcapkit.codes import TcpFlags
from pcapkit.decode.dns_message import HEADER_LEN

PREFIX = 2  #: the length before each message
SEQ_SPACE = 1 << 32
MAX_EARLY = 16
MAX_STREAMS = 4096
MAX_BYTES = 16 << 20


@dataclass
class _Stream:
    next: int | None = None  #: the sequence number of the next byte; None: the next segment's
    buffer: bytearray = field(default_factory=bytearray)  #: bytes of messages not yet whole
    early: dict[int, bytes] = field(default_factory=dict)  #: segments after a gap, by sequence

    def restart(self) -> None:
        """Drop what is held: the next segment starts a message."""
        self.next, self.buffer, self.early = None, bytearray(), {}

    @property
    def held(self) -> int:
        return len(self.buffer) + sum(len(d) for d in self.early.values())


def _after(seq: int, ref: int) -> int:
    """How far `seq` lies after `ref` in sequence space (negative: before)."""
    return (seq - ref + SEQ_SPACE // 2) % SEQ_SPACE - SEQ_SPACE // 2


class Streams:
    """The DNS-over-TCP streams of one capture in progress."""

    def __init__(self) -> None:
        self.streams: OrderedDict[Hashable, _Stream] = OrderedDict()  # idle longest first
        self.held = 0

    def add(self, key: Hashable, flags: int, seq: int, data: bytes, cut: bool) -> list[bytes]:
        """Take one segment (`cut`: the capture holds less of its payload than its IP header
        says); the messages it completes, in order."""
        if flags & TcpFlags.RST:
            self._drop(key)
            return []
        if flags & TcpFlags.SYN:
            self._drop(key)
            self._keep(key, _Stream(next=(seq + 1) % SEQ_SPACE), 0)
            return []
        stream = self.streams.get(key)
        if stream is None and not data:
            return []
        stream = stream or _Stream()
        before = stream.held
        messages = self._take(stream, seq, data, cut) if data else []
        if flags & TcpFlags.FIN:
            self._drop(key)
        else:
            self._keep(key, stream, before)
        return messages

    def _take(self, stream: _Stream, seq: int, data: bytes, cut: bool) -> list[bytes]:
        if stream.next is None:
            stream.next = seq
        ahead = _after(seq, stream.next)
        if ahead > 0:
            if len(stream.early) >= MAX_EARLY:
                stream.restart()
            elif not cut:
                stream.early[seq] = data
            return []
        fresh = data[-ahead:]
        if not fresh:  # every byte taken before: a retransmission or a copy
            return []
        self._append(stream, fresh)
        while stream.early:
            first = min(stream.early, key=lambda s: _after(s, stream.next or 0))
            ahead = _after(first, stream.next)
            if ahead > 0:
                break
            self._append(stream, stream.early.pop(first)[-ahead:])
        messages: list[bytes] = []
        buffer = stream.buffer
        at = 0
        while len(buffer) - at >= PREFIX:
            length = int.from_bytes(buffer[at : at + PREFIX], "big")
            if length < HEADER_LEN:  # read out of step: no DNS message is this short
                stream.restart()
                return messages
            if at + PREFIX + length > len(buffer):
                break
            messages.append(bytes(buffer[at + PREFIX : at + PREFIX + length]))
            at += PREFIX + length
        if cut:
            if len(buffer) > at + PREFIX:  # the message this segment left unfinished, as cut
                messages.append(bytes(buffer[at + PREFIX :]))
            stream.restart()
        else:
            del buffer[:at]
        return messages

    @staticmethod
    def _append(stream: _Stream, data: bytes) -> None:
        stream.buffer += data
        stream.next = ((stream.next or 0) + len(data)) % SEQ_SPACE

    def _keep(self, key: Hashable, stream: _Stream, before: int) -> None:
        self.streams[key] = stream
        self.streams.move_to_end(key)
        self.held += stream.held - before
        while self.streams and (self.held > MAX_BYTES or len(self.streams) > MAX_STREAMS):
            self._drop(next(iter(self.streams)))

    def _drop(self, key: Hashable) -> None:
        stream = self.streams.pop(key, None)
        if stream is not None:
            self.held -= stream.held

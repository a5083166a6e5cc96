"""IP fragment reassembly (IPv4 and IPv6 alike), in bounded memory.

A datagram's fragments share a key (where they were seen, the IP version, source, destination,
protocol and identification); each carries its data's offset and whether more follow (MF). The
datagram is whole once the last fragment (MF clear) has fixed its length and fragments cover
every byte before it. Rules, Linux's (`net/ipv4/ip_fragment.c`, RFC 5722 for IPv6) where it has
one:

- a fragment equal to one already held (same offset and bytes: a capture's copy of it on
  another interface, a duplicate) is ignored; any other overlap drops the datagram;
- a fragment ending past 65,535 bytes, a second last fragment that disagrees on the length,
  a fragment beyond that length, a fragment whose data the capture cut short, or more than
  `MAX_FRAGMENTS` fragments drop the datagram;
- a datagram not completed within `TIMEOUT_NS` of its first fragment is dropped (Linux's
  `ipfrag_time`);
- at most `MAX_DATAGRAMS` datagrams and `MAX_BYTES` bytes are pending: past either, the oldest
  datagram is dropped.

Memory grows only with the bytes captured, never with a length the packets declare. A dropped
or never completed datagram is simply not reassembled: no error.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

#: an IP datagram's largest size: its fragments may not reach past it
MAX_DATAGRAM = 65_535
#: fragments of one datagram: a 64 KiB datagram over IPv4's smallest common MTU (576) takes 117
MAX_FRAGMENTS = 128
MAX_DATAGRAMS = 256
MAX_BYTES = 4 << 20
TIMEOUT_NS = 30_000_000_000


@dataclass
class _Datagram:
    first_ns: int
    parts: dict[int, bytes] = field(default_factory=dict)  #: offset → data
    length: int | None = None  #: fixed by the last fragment
    held: int = 0


class Fragments:
    """The fragments pending reassembly in one capture."""

    def __init__(self) -> None:
        self.pending: OrderedDict[Hashable, _Datagram] = OrderedDict()  # oldest first
        self.held = 0

    def add(self, key: Hashable, ts_ns: int, offset: int, more: bool, data: bytes,
            cut: bool) -> bytes | None:
        """Take one fragment (`cut`: the capture holds less of it than its IP header says);
        the datagram's payload when this fragment completes it."""
        self._expire(ts_ns)
        datagram = self.pending.get(key)
        if datagram is None:
            datagram = self.pending[key] = _Datagram(ts_ns)
        end = offset + len(data)
        if datagram.parts.get(offset) == data and not cut:
            return None
        if (cut or end > MAX_DATAGRAM or len(datagram.parts) >= MAX_FRAGMENTS
                or (not more and datagram.length not in (None, end))
                or (datagram.length is not None and end > datagram.length)
                or any(offset < o + len(d) and o < end for o, d in datagram.parts.items())):
            self._drop(key)
            return None
        if not more:
            datagram.length = end
        datagram.parts[offset] = data
        datagram.held += len(data)
        self.held += len(data)
        if datagram.length is not None and datagram.held == datagram.length:
            # no overlaps and nothing past the length: the parts cover it exactly
            self._drop(key)
            return b"".join(d for _, d in sorted(datagram.parts.items()))
        while self.pending and (self.held > MAX_BYTES or len(self.pending) > MAX_DATAGRAMS):
            self._drop(next(iter(self.pending)))
        return None

    def _expire(self, ts_ns: int) -> None:
        while self.pending:
            key, oldest = next(iter(self.pending.items()))
            if ts_ns - oldest.first_ns <= TIMEOUT_NS:
                return
            self._drop(key)

    def _drop(self, key: Hashable) -> None:
        self.held -= self.pending.pop(key).held

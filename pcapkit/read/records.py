"""What the read stage hands to the decoder: the bytes of a capture and where each record is.

Records are columns of numpy arrays rather than a list of objects so that the decoder can
gather header bytes for every packet at once. Offsets point into `buffer`, which is the file
itself (memory-mapped) or its decompressed bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import IntEnum
from typing import BinaryIO

import numpy as np
import numpy.typing as npt


class Direction(IntEnum):
    """Which way a packet went on the interface it was captured on, when the capture says."""

    UNKNOWN = 0
    INBOUND = 1
    OUTBOUND = 2


@dataclass(frozen=True)
class Interface:
    """One capture interface: pcap files have one, pcapng files one per IDB."""

    index: int  #: position among all interfaces of the file (sections counted in order)
    link_type: int
    name: str | None = None
    snaplen: int = 0
    description: str | None = None


@dataclass
class Records:
    """The packet records of one capture, as parallel arrays."""

    frame: npt.NDArray[np.uint32]  #: 1-based, as Wireshark numbers frames
    ts_ns: npt.NDArray[np.int64]  #: nanoseconds since the Unix epoch
    iface: npt.NDArray[np.uint16]  #: index into `Capture.interfaces`
    offset: npt.NDArray[np.int64]  #: where the packet bytes start in the buffer
    caplen: npt.NDArray[np.uint32]  #: bytes present in the capture
    origlen: npt.NDArray[np.uint32]  #: bytes on the wire
    direction: npt.NDArray[np.uint8]  #: a `Direction`, from pcapng `epb_flags`

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def empty(cls) -> Records:
        return cls(
            frame=np.zeros(0, np.uint32),
            ts_ns=np.zeros(0, np.int64),
            iface=np.zeros(0, np.uint16),
            offset=np.zeros(0, np.int64),
            caplen=np.zeros(0, np.uint32),
            origlen=np.zeros(0, np.uint32),
            direction=np.zeros(0, np.uint8),
        )

    @classmethod
    def concat(cls, parts: list[Records]) -> Records:
        """The records of `parts`, one after the other."""
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                      for f in fields(cls)})

    def take(self, index: npt.NDArray[np.intp] | slice) -> Records:
        """A subset of the records, in the order given."""
        return Records(
            frame=self.frame[index],
            ts_ns=self.ts_ns[index],
            iface=self.iface[index],
            offset=self.offset[index],
            caplen=self.caplen[index],
            origlen=self.origlen[index],
            direction=self.direction[index],
        )


@dataclass
class Capture:
    """One capture file, read: its metadata, its bytes and its records."""

    path: str
    format: str  #: "pcap" or "pcapng"
    compressed: bool
    buffer: bytes | memoryview
    interfaces: list[Interface]
    records: Records
    warnings: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)  #: section and packet comments
    big_endian: bool = False  #: byte order of the file (the capturing host's for pcap)
    #: the temporary file `buffer` maps when it is a copy (`pcapkit.read.source.Source.spool`)
    spool: BinaryIO | None = field(default=None, repr=False, compare=False)

    @property
    def link_types(self) -> list[int]:
        """The distinct link types of the interfaces, in interface order."""
        return list(dict.fromkeys(i.link_type for i in self.interfaces))

    def packet(self, i: int) -> bytes:
        """The captured bytes of record `i` (0-based position, not frame number)."""
        start = int(self.records.offset[i])
        return bytes(self.buffer[start : start + int(self.records.caplen[i])])

"""Getting a capture's bytes: memory-mapped when plain, decompressed when gzip.

Compression is detected by content (the gzip magic), not by the file name, since captures
are renamed freely on their way into an incident ticket.
"""

from __future__ import annotations

import mmap
import zlib
from dataclasses import dataclass
from pathlib import Path

from pcapkit.errors import CaptureError

GZIP_MAGIC = b"\x1f\x8b"
_GZIP_CHUNK = 1 << 20


@dataclass
class Source:
    """The bytes of one capture file, ready to parse."""

    path: str
    data: bytes | memoryview
    compressed: bool
    warnings: list[str]


def open_source(path: str | Path) -> Source:
    """Read `path` into memory (mmap for plain files), decompressing gzip."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            head = f.read(4)
            if head[:2] == GZIP_MAGIC:
                f.seek(0)
                data, warnings = _gunzip(f.read())
                return Source(str(path), data, True, warnings)
            if not head:
                raise CaptureError(path, "empty file")
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise CaptureError(path, "no such file") from None
    except IsADirectoryError:
        raise CaptureError(path, "is a directory, not a capture file") from None
    except PermissionError:
        raise CaptureError(path, "permission denied") from None
    except OSError as e:
        raise CaptureError(path, f"cannot read: {e.strerror or e}") from None
    return Source(str(path), memoryview(mapped), False, [])


def _gunzip(raw: bytes) -> tuple[bytes, list[str]]:
    """Decompress every gzip member; a stream cut short yields what was whole, with a warning."""
    out: list[bytes] = []
    warnings: list[str] = []
    rest = raw
    while rest:
        d = zlib.decompressobj(wbits=47)
        try:
            out.append(d.decompress(rest))
        except zlib.error as e:
            warnings.append(f"gzip data corrupt ({e}); read up to that point")
            break
        if not d.eof:
            out.append(d.flush())
            warnings.append("gzip stream cut short; read up to that point")
            break
        # Concatenated members are valid gzip (e.g. `cat a.gz b.gz`); trailing junk is not.
        rest = d.unused_data
        if rest and rest[:2] != GZIP_MAGIC:
            warnings.append(f"{len(rest)} bytes of trailing data after the gzip stream ignored")
            break
    return b"".join(out), warnings


def release(buffer: bytes | memoryview, end: int | None = None) -> None:
    """Drop a memory-mapped capture's pages (up to byte `end`, or all) from this process's
    resident memory; they stay in the page cache, and are mapped again if touched again."""
    mapped = buffer.obj if isinstance(buffer, memoryview) else None
    if isinstance(mapped, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        size = len(mapped) if end is None else end - end % mmap.PAGESIZE
        if size > 0:
            mapped.madvise(mmap.MADV_DONTNEED, 0, size)

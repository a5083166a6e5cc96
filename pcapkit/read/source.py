"""Getting a capture's bytes: memory-mapped when plain, decompressed when gzip.

Compression is detected by content (the gzip magic), not by the file name, since captures
are renamed freely on their way into an incident ticket.
"""

from __future__ import annotations

import io
import mmap
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

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


def is_url(path: str | Path) -> bool:
    """An fsspec URL (`s3://bucket/key`, `gs://…`, `file://…`) rather than a local path."""
    return "://" in str(path)


def open_file(path: str | Path) -> BinaryIO:
    """The file at `path`, or at an fsspec URL (the optional `fsspec` package, which
    `pcapkit[dask]` brings, with the file system's own package: s3fs, gcsfs…)."""
    if not is_url(path):
        return Path(path).open("rb")
    try:
        import fsspec
    except ImportError:
        raise CaptureError(path, "a URL needs fsspec: pip install 'pcapkit[dask]'") from None
    try:
        return cast(BinaryIO, fsspec.open(str(path), "rb").open())
    except (ImportError, ValueError) as e:
        raise CaptureError(path, f"cannot open this URL: {e}") from None


def open_source(path: str | Path) -> Source:
    """Read `path` into memory (mmap for plain files), decompressing gzip."""
    if is_url(path):
        try:
            with open_file(path) as f:
                raw = f.read()
        except FileNotFoundError:
            raise CaptureError(path, "no such file") from None
        if raw[:2] == GZIP_MAGIC:
            data, warnings = _gunzip(raw)
            return Source(str(path), data, True, warnings)
        if not raw:
            raise CaptureError(path, "empty file")
        return Source(str(path), raw, False, [])
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


@contextmanager
def mapped_file(path: str, buffer: bytes | memoryview) -> Iterator[io.FileIO | None]:
    """The file at `path`, opened unbuffered, when `buffer` maps all of it (`open_source`), to
    read copies of its bytes from; else None."""
    if not isinstance(buffer, memoryview) or not isinstance(buffer.obj, mmap.mmap):
        yield None
        return
    try:
        file = open(path, "rb", buffering=0)  # noqa: SIM115 (closed below, once the walk ends)
    except OSError:
        yield None
        return
    with file:
        # the same length: the mapping starts at the file's start (a chunk's maps a part)
        yield file if os.fstat(file.fileno()).st_size == len(buffer) else None


def release(buffer: bytes | memoryview, end: int | None = None, start: int = 0) -> None:
    """Drop a memory-mapped capture's pages from this process's resident memory: from the one
    holding byte `start` to the last one wholly before byte `end` (or the end). They stay in
    the page cache, and are mapped again if touched again."""
    mapped = buffer.obj if isinstance(buffer, memoryview) else None
    if isinstance(mapped, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        first = start - start % mmap.PAGESIZE
        last = len(mapped) if end is None else end - end % mmap.PAGESIZE
        if last > first:
            mapped.madvise(mmap.MADV_DONTNEED, first, last - first)

"""Getting a capture's bytes: memory-mapped when plain, decompressed when gzip.

Compression is detected by content (the gzip magic), not by the file name, since captures
are renamed freely on their way into an incident ticket.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from zlib_ng import zlib_ng

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
    #: the unlinked temporary file `data` maps, when the bytes were copied (`_spooled`): kept
    #: open so that other processes of this machine can map it too (`shared_path`)
    spool: BinaryIO | None = None


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
    """`path`'s bytes, memory-mapped: a plain local file in place; a gzip-compressed file, or one
    at a URL, copied (decompressed) a piece at a time into a temporary file (`_spooled`)."""
    try:
        with open_file(path) as f:
            head = f.read(4)
            if not head:
                raise CaptureError(path, "empty file")
            f.seek(0)
            if head[:2] == GZIP_MAGIC:
                data, warnings, spool = _spooled(f, _gunzip)
                return Source(str(path), data, True, warnings, spool)
            if is_url(path):
                data, _, spool = _spooled(f, _copy)
                return Source(str(path), data, False, [], spool)
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


def content_size(path: str | Path, at_most: int) -> int:
    """Bytes of the capture at `path` as it is read (decompressed), counted up to about
    `at_most`: a gzip stream is decompressed that far, and no farther. 0 when it cannot be read
    (reading it will say why)."""
    try:
        with open_file(path) as f:
            if f.read(2) != GZIP_MAGIC:
                return f.seek(0, os.SEEK_END)
            f.seek(0)
            counted = _Counted(at_most)
            with contextlib.suppress(_Counted.Enough):
                _gunzip(f, cast(BinaryIO, counted))
            return counted.bytes
    except (OSError, CaptureError):
        return 0


class _Counted:
    """A sink counting the bytes written to it, which raises `Enough` at `at_most`."""

    class Enough(Exception):
        pass

    def __init__(self, at_most: int) -> None:
        self.at_most = at_most
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        if self.bytes >= self.at_most:
            raise _Counted.Enough
        return len(data)


def _spooled(f: BinaryIO, write: Callable[[BinaryIO, BinaryIO], list[str]]
             ) -> tuple[bytes | memoryview, list[str], BinaryIO | None]:
    """What `write` writes of `f` into a temporary file, mapped, its warnings, and the file
    (None when empty). The file is unlinked at once: its bytes live on disk (or in the page
    cache) as long as the mapping and the file, never in this process's memory, whatever their
    size (a 1 GB gzip of 5 GB of capture, read whole and decompressed in memory, needed ~10
    GB), and nothing is left behind however the process ends."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 (handed on, or closed below)
    try:
        warnings = write(f, cast(BinaryIO, out))
        if not out.tell():
            out.close()
            return b"", warnings, None
        out.flush()
        return memoryview(mmap.mmap(out.fileno(), 0, access=mmap.ACCESS_READ)), warnings, out
    except BaseException:
        out.close()
        raise


def shared_path(spool: BinaryIO | None) -> str | None:
    """A path by which another process of this machine opens `spool` (`Source.spool`, unlinked):
    this process's descriptor of it under /proc, where the system has one (Linux)."""
    if spool is None or spool.closed:
        return None
    path = f"/proc/{os.getpid()}/fd/{spool.fileno()}"
    return path if os.path.exists(path) else None


def bytes_path(path: str, compressed: bool, spool: BinaryIO | None) -> str | None:
    """A local file holding a capture's bytes as read: its spool (`shared_path`), else the
    capture's own file unless compressed. None when there is none (a compressed capture off
    Linux)."""
    if spool is not None:
        return shared_path(spool)
    return None if compressed else path


def _copy(f: BinaryIO, out: BinaryIO) -> list[str]:
    while piece := f.read(_GZIP_CHUNK):
        out.write(piece)
    return []


def _gunzip(f: BinaryIO, out: BinaryIO) -> list[str]:
    """Decompress every gzip member of `f` into `out`, `_GZIP_CHUNK` bytes at a time each way (a
    small file may decompress to a huge one); a stream cut short or corrupt yields what came
    before the damage, with a warning. By zlib-ng, the standard library's zlib API at 3-5x its
    speed (1.35 GB of bulk TCP from 28.7 MB of `gzip -6`: 0.16-0.23 s of CPU, zlib's 0.83 s),
    the output the same."""
    member = None  # the member being decompressed; None between members
    data = b""
    while True:
        if not data:
            data = f.read(_GZIP_CHUNK)
            if not data:
                if member is not None:
                    out.write(member.flush())  # what it holds back, if the stream ended there
                    if not member.eof:
                        return ["gzip stream cut short; read up to that point"]
                return []
        if member is None:
            # Concatenated members are valid gzip (e.g. `cat a.gz b.gz`); trailing junk is not.
            if len(data) < 2:
                data += f.read(1)
            if data[:2] != GZIP_MAGIC:
                junk = len(data) + sum(map(len, iter(lambda: f.read(_GZIP_CHUNK), b"")))
                return [f"{junk} bytes of trailing data after the gzip stream ignored"]
            member = zlib_ng.decompressobj(wbits=47)
        try:
            out.write(member.decompress(data, _GZIP_CHUNK))
        except zlib_ng.error as e:  # type: ignore[misc]  # the stub calls it an instance
            return [f"gzip data corrupt ({e}); read up to that point"]
        data = member.unconsumed_tail
        if member.eof:
            data, member = member.unused_data, None


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

"""The spill directory: each shard's rows, written by the chunks that hold them.

`DIR/FAMILY/SHARD/CAPTURE-SEQ.arrows`: a chunk's part of a shard, an Arrow IPC stream;
`DIR/FAMILY/SHARD/NAME.arrow`: a shard's rows written by its own job, an Arrow IPC file (`all`, or
one file per batch, `00000`, `00001`…). A shard's rows are read back in the order of the names
(capture, then chunk; batch), which for parts is the order of the whole packet table.

Parts are streams because they are many and small (a file per chunk and shard: thousands at 5M
packets): polars spends ~0.2 ms more writing each as an IPC file and ~0.5 ms more reading it
(~10 ms more reading one of its columns), a fixed cost per file; a large frame is written in
half the time as an IPC file, and read alike.

Parts are compressed (zstd), whole files are not. The parts are most of what a run writes (bulk
TCP, 5M packets: 380 MB of TCP segments uncompressed, 37 MB so), and each byte written is a
page the kernel allocates and fills in the page cache: on a 2-core VM the run's CPU time fell
~10 % (12.9 -> 11.5 s, median of four), the spill ten times smaller; a 64k-row part is written
in 4-5 ms either way once the pages come from the cache's free list. Whole files are read back
a column at a time (polars 2.1's `read_ipc` copies them into memory; `scan_ipc`, which
`read_sorted` uses, maps the fixed-width columns of an uncompressed file); compressing them
changed nothing measured.
"""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl


def _folder(root: str, family: str, shard: int) -> Path:
    """The shard's folder of `family`, made when missing."""
    folder = Path(root) / family / f"{shard:05d}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write(root: str, family: str, shard: int, name: str, frame: pl.DataFrame) -> None:
    folder = _folder(root, family, shard)
    # One record batch: read back in several chunks (polars writes 131,072 rows a batch), a
    # frame whose new columns are in one chunk is copied whole into one by the next query.
    frame.write_ipc(folder / f"{name}.arrow", compression="uncompressed",
                    record_batch_size=1 << 30)


def write_parts(root: str, family: str, name: str, frame: pl.DataFrame, shard: pl.Expr,
                shards: int) -> None:
    """Write the rows of `frame` into the shards `shard` (an expression of them) names."""
    if frame.is_empty():
        return
    if shards == 1:
        _write_part(root, family, 0, name, frame)
        return
    parts = frame.with_columns(shard.alias("_shard")).partition_by(
        "_shard", as_dict=True, maintain_order=True, include_key=False)
    for (key,), part in parts.items():
        _write_part(root, family, int(str(key)), name, part)


def _write_part(root: str, family: str, shard: int, name: str, frame: pl.DataFrame) -> None:
    frame.write_ipc_stream(_folder(root, family, shard) / f"{name}.arrows", compression="zstd")


#: whole files larger than this are read a column at a time: read at once, polars held about
#: twice the file while it read it (one busy client's 2.5M DNS transactions, a file of 683 MB:
#: a peak of 1,428 MB against 756, for the same 746 MB read, in 0.87 s against 0.76)
COLUMNWISE_BYTES = 64 << 20


def _read(file: Path, columns: list[str] | None = None, n_rows: int | None = None
          ) -> pl.DataFrame:
    """A spilled file's rows (of `columns`; the first `n_rows`), whichever it was written as;
    a part's frames numbered as in its capture (`number_frames`)."""
    if file.suffix != ".arrows":
        if columns is None and n_rows is None and file.stat().st_size > COLUMNWISE_BYTES:
            return pl.DataFrame([pl.read_ipc(file, columns=[name]).to_series()
                                 for name in pl.read_ipc_schema(file)])
        return pl.read_ipc(file, columns=columns, n_rows=n_rows)
    rows = pl.read_ipc_stream(file, columns=columns, n_rows=n_rows)
    if "frame" not in rows.columns:
        return rows
    before = _before(file.parents[2] / _FRAMES).get(file.stem.split(".")[0], 0)
    return _replaced(rows, {"frame": rows.get_column("frame") + before}) if before else rows


def _replaced(frame: pl.DataFrame, columns: dict[str, pl.Series]) -> pl.DataFrame:
    """`frame` with `columns` in place of its own of their names, built eagerly: a query
    (`with_columns`, `cast`) set up polars' lazy engine for each part, ~0.3 ms whatever its size:
    ~8 s of the flows stage's CPU at 40M DNS-heavy packets, when each of their 80 shards was
    160 parts of each of two families (64 since chunks grow with the captures)."""
    return pl.DataFrame([columns.get(s.name, s) for s in frame.get_columns()])


#: the file of a spill that says how the frames of each chunk's parts are numbered
_FRAMES = "frames.json"


def number_frames(root: str, before: dict[str, int]) -> None:
    """Says that each chunk named in `before` (`pcapkit.engine.chunks.name`) numbered the
    frames of its parts from 1, and that its first record is frame `before[name] + 1` of its
    capture: its parts are read numbered so. Written once every chunk is decoded, before any
    part is read."""
    (Path(root) / _FRAMES).write_text(json.dumps(before))


def _before(file: Path) -> dict[str, int]:
    """`number_frames`' numbers, read once a process (the file's identity in the key: a spill
    folder's name is taken again once it is removed)."""
    try:
        st = file.stat()
    except FileNotFoundError:
        return {}
    return _numbers(str(file), st.st_ino, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _numbers(file: str, _inode: int, _mtime_ns: int) -> dict[str, int]:
    numbers: dict[str, int] = json.loads(Path(file).read_text())
    return numbers


def remove(root: str, family: str, shard: int) -> None:
    """Removes a shard's files of `family`: read, and not to be read again."""
    shutil.rmtree(Path(root) / family / f"{shard:05d}", ignore_errors=True)


def drop_parts(root: str, name: str) -> None:
    """Removes the parts of the chunk `name` (`pcapkit.engine.chunks.name`) of every family and
    shard: rows it read from records its capture does not hold."""
    for part in Path(root).glob(f"*/*/{name}.*.arrows"):
        part.unlink()


def parts(root: str, family: str, shard: int, schema: pl.Schema, chunk: str | None = None
          ) -> Iterator[tuple[str, pl.DataFrame]]:
    """A shard's rows of `family` (those of one `chunk`'s parts, when given), one written part
    at a time, in packet order, with the names they were written under; their columns of
    `schema` alone."""
    for f in _files(root, family, shard):
        if chunk is not None and not f.stem.startswith(f"{chunk}."):
            continue
        rows = _read(f, columns=list(schema))
        have = rows.schema
        yield f.stem, _replaced(rows, {name: rows.get_column(name).cast(dtype)
                                       for name, dtype in schema.items() if have[name] != dtype})


def count(root: str, family: str, shard: int) -> int:
    """How many files a shard's rows of `family` are in."""
    return len(_files(root, family, shard))


def _files(root: str, family: str, shard: int) -> list[Path]:
    """A shard's files of `family`, in the order of their names (`.arrow` or `.arrows`)."""
    folder = Path(root) / family / f"{shard:05d}"
    return sorted(folder.glob("*.arrow*"), key=lambda f: f.stem) if folder.is_dir() else []


def shard_bytes(root: str, families: Sequence[str], shards: int) -> list[int]:
    """The bytes each shard's files of `families` take: how long its jobs take, about."""
    return [sum(f.stat().st_size for family in families for f in _files(root, family, s))
            for s in range(shards)]


def read(root: str, family: str, shard: int, schema: pl.Schema) -> pl.DataFrame:
    """A shard's rows, in packet order (an empty frame of `schema` when it has none)."""
    files = _files(root, family, shard)
    if not files:
        return pl.DataFrame(schema=schema)
    return pl.concat([_read(f) for f in files], rechunk=False)


def read_all(root: str, family: str, shards: int, schema: pl.Schema) -> pl.DataFrame:
    """Every shard's rows of `family`, shard after shard."""
    return pl.concat([read(root, family, s, schema) for s in range(shards)], rechunk=False)


#: files that `read_sorted` reads whole, each once, when their rows hold this much or less in
#: all (a part's counted at `PARTS_RATIO` times its size): a query per column and file cost
#: ~0.6 ms each, 0.2 s of the run's serial tail for the few transactions of bulk TCP (11 shards,
#: 25 columns)
WHOLE_BYTES = 32 << 20
#: how much larger a part's rows are than its compressed file, at most about (bulk TCP's 10x)
PARTS_RATIO = 10


def read_sorted(root: str, family: str, shards: Sequence[int], schema: pl.Schema,
                key: str | pl.Series) -> pl.DataFrame:
    """The rows of `family` in `shards`, their columns of `schema` alone, sorted by `key`: one
    of those columns, or a Series of a key for each row as `read` gives them, which comes
    after them.
    Gathered a column at a time: each column is read from the files, put in order and let go
    before the next, so that sorting a table of hundreds of MB holds it once, not twice; files
    of `WHOLE_BYTES` or less in all are read whole instead, each once."""
    files = [f for s in shards for f in _files(root, family, s)]
    if not files:
        empty = pl.DataFrame(schema=schema)
        return empty if isinstance(key, str) else empty.with_columns(key)
    held = sum(f.stat().st_size * (PARTS_RATIO if f.suffix == ".arrows" else 1) for f in files)
    names = list(schema)
    if held <= WHOLE_BYTES:
        rows = pl.concat([_read(f, columns=names) for f in files]).rechunk()
        rows = rows if isinstance(key, str) else rows.with_columns(key)
        return rows[rows[key if isinstance(key, str) else key.name].arg_sort()]

    keys = _column(files, key) if isinstance(key, str) else key
    order = keys.arg_sort()
    # in one chunk before it is gathered: a gather of a list of strings over several chunks
    # held ~25 times the column (700 MB for one of 21 MB)
    out = pl.DataFrame([_column(files, name).gather(order) for name in names])
    return out if isinstance(key, str) else out.with_columns(keys.gather(order))


def read_whole(root: str, family: str, shard: int, schema: pl.Schema) -> pl.DataFrame:
    """A shard's rows (`read`), each column in one chunk, read a column at a time. As `read`
    gives them, in a chunk per file, the first query of a column added to them copies every
    column into one chunk, and the pages let go stay resident a while (jemalloc's decay): one
    connection's 10M rows, read back from the 40 files of its batch, were held twice."""
    files = _files(root, family, shard)
    if not files:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame([_column(files, name) for name in schema])


def _column(files: list[Path], name: str) -> pl.Series:
    """The column `name` of `files`, in one chunk."""
    if all(f.suffix == ".arrow" for f in files):
        # one query over every file: a read per file and column cost ~1 ms each (the
        # transactions of 5M DNS-heavy packets, 31 columns of 11 files: 415 -> 179 ms)
        return pl.scan_ipc(files).select(name).collect().to_series().rechunk()
    return pl.concat([_read(f, columns=[name]) for f in files]).to_series().rechunk()


class Sweeper:
    """Removes the families of a spill that no stage reads any more, in a thread while the run
    goes on, then the rest at the end. The packet families hold a file per chunk and shard:
    tens of thousands of files at 20M packets, whose removal at the end cost the run's serial
    tail ~2 s (0.3 s at 5M)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._threads: list[threading.Thread] = []

    def drop(self, *families: str) -> None:
        """Remove `families`: every job that reads them is done."""
        folders = [Path(self.root) / family for family in families]

        def remove() -> None:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)

        # a daemon: an interrupted command leaves at once (its watchdog removes the spill)
        thread = threading.Thread(target=remove, name="pcapkit-sweeper", daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        """Wait for the removals under way, then remove the whole spill."""
        for thread in self._threads:
            thread.join()
        shutil.rmtree(self.root, ignore_errors=True)

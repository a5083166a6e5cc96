"""The search-path walk (`pcapkit.flows.search_path`) of many transactions, compiled.

The walk as Python keeps each open lookup as an object with its sets of names and DNS ids:
4-8 µs a transaction, 10-20 s for one busy client's 2.5M transactions (a pod looking up 625k names
through the `ndots:5` search path, or a NodeLocal DNSCache forwarding every miss to kube-dns).
Here the same walk runs over integer arrays: the transactions' lower-cased names as one byte
buffer, each lookup as the row that opened it and a list of its rows, and the client's latest
lookup of each name (`latest` of the Python walk) in one open-addressing table whose keys are
(client, bytes of the name), compared byte for byte.

The table holds a lookup per name and client, never removed: at most one per row, so at most
half of its slots are full. The Python walk lets idle lookups go (`PRUNE_FROM`) to bound its
objects; an idle lookup takes no more steps, so neither walk ever finds one again.

A lookup lists the rows that added a (name, type, DNS id) it had not asked: everything `takes`
asks of its names, types and ids is a scan of that list (a lookup asks a few names, each A and
AAAA). `tests/flows/test_dns_search_path.py` holds this walk identical to the Python one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from pcapkit.flows.compiled import run

#: a 64-bit odd constant (2^64 / golden ratio) that spreads a key's bits over its hash, as int64
_MIX = -7046029254386353131
_FNV_OFFSET = -3750763034362895579  #: FNV-1a's 64-bit offset basis, as int64
_FNV_PRIME = 1099511628211
_DOT = 46  #: "."
#: rows whose columns are worked out, and names copied into the walk's buffer, at once
SLICE_ROWS = 1 << 18
#: the kernel's columns of the rows, in its order of arguments, and their types
_COLUMNS = {"group": np.int32, "searched": np.uint8, "base_len": np.int32, "qtype": np.int32,
            "dns_id": np.int32, "ts_ns": np.int64, "end_ns": np.int64}


def walk(rows: pl.DataFrame, order: pl.Series, dotted: pl.Expr, gap_ns: int
         ) -> tuple[np.ndarray, pl.Series]:
    """`search_path._walk` of `rows` (client_ip, qname, qtype, dns_id, ts_ns, end_ns) taken in
    `order` (the indices of the rows by client, then time), each client's first search domain
    `dotted` (".NS.svc.DOMAIN", null when unknown), compiled: the lookup number of each row in
    that order, and per lookup the name searched for (null: not searched)."""
    name = pl.col("qname").fill_null("").str.to_lowercase()
    searched_row = (name.str.ends_with(dotted)).fill_null(False)
    length = name.str.len_bytes().cast(pl.Int64)
    n = rows.height
    # A client's identity, which is all the kernel compares of it: ranked over every row, as
    # a slice holds some of the clients.
    ranked = rows.select(
        "qname", "qtype", "dns_id", "ts_ns", "end_ns", "client_ip",
        pl.col("client_ip").rank("dense").fill_null(0).cast(pl.Int32).alias("group"))
    # Each column in `order`, worked out from a slice of the rows at a time, not the lower-cased
    # names and each row's search domain from every row at once, then the columns before and
    # after they were put in order (a busy pod's 2.5M rows: 77 MB less left resident after the
    # walk; its peak, the kernel's own arrays, ~140 bytes a row, did not move).
    cols = {c: np.empty(n, t) for c, t in _COLUMNS.items()}
    starts = np.zeros(n + 1, np.int64)
    for at in range(0, n, SLICE_ROWS):
        part = ranked[order.slice(at, SLICE_ROWS)].select(
            "group",
            searched_row.cast(pl.UInt8).alias("searched"),
            pl.when(searched_row).then(length - dotted.str.len_bytes()).otherwise(length)
            .cast(pl.Int32).alias("base_len"),
            pl.col("qtype").cast(pl.Int32).fill_null(-1),
            pl.col("dns_id").cast(pl.Int32).fill_null(-1),
            pl.col("ts_ns").cast(pl.Int64),
            pl.col("end_ns").cast(pl.Int64).fill_null(0),
            length.alias("length"),
        )
        for c, array in cols.items():
            array[at:at + part.height] = part[c].to_numpy()
        starts[at + 1:at + 1 + part.height] = part["length"].to_numpy()
    np.cumsum(starts, out=starts)
    # The names' bytes, copied in a slice of rows at a time: joined whole, polars' text and
    # its bytes were each as large again (a busy pod's 2.5M names: 90 MB each).
    data = np.empty(starts[-1], np.uint8)
    for at in range(0, n, SLICE_ROWS):
        part = ranked[order.slice(at, SLICE_ROWS)].select(
            name.str.join("").cast(pl.Binary)).item()
        data[starts[at]:starts[at] + len(part)] = np.frombuffer(part, np.uint8)
    numbers = np.empty(n, np.uint32)
    opened = np.empty(n, np.int32)  # per lookup, the row that opened it
    searched = np.zeros(n, np.uint8)  # per lookup, 1 once a step carried the first search domain
    count = np.zeros(1, np.int64)
    inputs: list[npt.NDArray[Any]] = [data, starts, *cols.values(), np.array([gap_ns, _MIX])]
    for array in inputs:  # read-only whatever polars hands over: one signature to compile
        array.setflags(write=False)
    run(_walk_kernel, inputs,
        [np.full(1 << max((2 * n - 1).bit_length(), 1), -1, np.int32), numbers, opened,
         searched, count], compiled=True)
    lookups = int(count[0])
    # Each searched lookup's base: the name of the row that opened it, less that row's first
    # search domain when it carried it.
    bases = ranked[order.to_numpy()[opened[:lookups]]].select(
        pl.when(pl.lit(pl.Series(searched[:lookups].astype(bool))))
        .then(pl.when(searched_row).then(name.str.strip_suffix(dotted)).otherwise(name))
    ).to_series()
    return numbers, bases


def _walk_kernel(data: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64],
                 group: npt.NDArray[np.int32], searched_row: npt.NDArray[np.uint8],
                 base_len: npt.NDArray[np.int32], qtype: npt.NDArray[np.int32],
                 dns_id: npt.NDArray[np.int32], ts: npt.NDArray[np.int64],
                 end: npt.NDArray[np.int64], constants: npt.NDArray[np.int64],
                 table: npt.NDArray[np.int32], numbers: npt.NDArray[np.uint32],
                 opened: npt.NDArray[np.int32], searched: npt.NDArray[np.uint8],
                 count: npt.NDArray[np.int64]) -> None:
    """`walk` over its arrays. Compiled only: int64 products wrap as numba computes them, not
    as Python's integers grow. The steps follow `search_path._step_of` and `_Lookup`."""
    n = len(starts) - 1
    gap, mix = constants[0], constants[1]
    mask = len(table) - 1
    name_hash = np.zeros(n, np.int64)
    following = np.full(n, -1, np.int32)  # the next row of the same lookup's list
    last_row = np.zeros(n, np.int32)  # per lookup, the last row it listed
    last_name = np.zeros(n, np.int32)  # per lookup, a row asking its latest name
    last_ns = np.zeros(n, np.int64)  # per lookup, its latest query or answer
    key_hash = np.zeros(n, np.int64)  # per lookup, the hash of its table key
    longest = 0
    for row in range(n):
        longest = max(longest, starts[row + 1] - starts[row])
    prefix = np.zeros(longest + 1, np.int64)  # the hash of each prefix of the row's name
    dots = np.zeros(longest + 1, np.int64)  # where the row's name has a dot
    lookups = 0
    for row in range(n):
        begin, length = starts[row], starts[row + 1] - starts[row]
        h, ndots = _FNV_OFFSET, 0
        for i in range(length):
            prefix[i] = h
            byte = data[begin + i]
            if byte == _DOT:
                dots[ndots] = i
                ndots += 1
            h = (h ^ byte) * _FNV_PRIME
        prefix[length] = h
        name_hash[row] = h
        # Candidates in `_step_of`'s order: the lookup of the row's base, then, longest first,
        # searched lookups of each name the row's name extends. `own` is the first's.
        own, own_slot, own_key, taken, buffered = -1, -1, 0, -1, False
        for c in range(ndots + 1):
            cut = base_len[row] if c == 0 else dots[ndots - c]
            key = (prefix[cut] ^ (group[row] * mix)) * mix
            key ^= key >> 29
            slot = key & mask
            lk = -1
            while table[slot] >= 0:
                other = table[slot]
                first = opened[other]
                if key_hash[other] == key and group[first] == group[row] and \
                        base_len[first] == cut and np.array_equal(
                            data[starts[first]:starts[first] + cut], data[begin:begin + cut]):
                    lk = other
                    break
                slot = (slot + 1) & mask
            if c == 0:
                own, own_slot, own_key = lk, slot, key
            elif lk < 0 or lk == own or searched[lk] == 0:
                continue
            if lk < 0 or ts[row] - last_ns[lk] > gap:
                continue
            # `_Lookup.takes`: a name it moved past is a new lookup; so is a (name, type)
            # it asked under another id
            seen, asked, buffered = False, False, False
            other = opened[lk]
            while other >= 0:
                if name_hash[other] == h and np.array_equal(
                        data[starts[other]:starts[other + 1]], data[begin:begin + length]):
                    seen = True
                    if qtype[other] == qtype[row]:
                        asked = True
                        if dns_id[other] == dns_id[row]:
                            buffered = True
                other = following[other]
            if seen:
                latest = last_name[lk]
                if name_hash[latest] != h or not np.array_equal(
                        data[starts[latest]:starts[latest + 1]], data[begin:begin + length]):
                    continue
            if buffered or not asked:
                taken = lk
                break
        if taken < 0:  # a new lookup, the client's latest of its base
            taken = lookups
            lookups += 1
            opened[taken] = row
            last_row[taken] = row
            key_hash[taken] = own_key
            table[own_slot] = taken
            buffered = False
        elif not buffered:  # a (name, type, id) the lookup had not asked
            following[last_row[taken]] = row
            last_row[taken] = row
        if searched_row[row]:
            searched[taken] = 1
        last_name[taken] = row
        done = end[row] if end[row] != 0 else ts[row]
        last_ns[taken] = max(last_ns[taken], max(ts[row], done))
        numbers[row] = taken
    count[0] = lookups

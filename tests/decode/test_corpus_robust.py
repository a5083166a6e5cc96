"""Every capture of both corpora (hundreds of them malformed on purpose) decodes with the
reference decoder: no exception, one row per record, the schema exactly; and where tcpdump wrote
down what it read (the `.out` files of the tunnel captures), our table says the same: the VNI and
the inner addresses of every frame tcpdump printed.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import polars as pl
import pytest

from pcapkit.decode import tunnels
from pcapkit.decode.reference import decode_reference
from pcapkit.decode.schema import PACKET_SCHEMA
from pcapkit.errors import CaptureError
from pcapkit.read import read_capture
from tests.conftest import TCPDUMP_CORPUS, corpus_captures, needs_corpus

pytestmark = [needs_corpus(), pytest.mark.corpus]

#: a frame's first line in tcpdump's output: its number and date
FRAME_LINE = re.compile(r"^\s+(\d+)\s+\d{4}-\d\d-\d\d ", re.M)
VNI = re.compile(r"\bvni (0x[0-9a-f]+|\d+)")
#: "a > b:" at a line's start (verbose) or after "length N: " (with -e): addresses, maybe ports
ENDPOINTS = re.compile(r"(?:^\s*|length \d+: )([0-9a-fA-F:.]+) > ([0-9a-fA-F:.]+?):", re.M)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(token: str) -> Address | None:
    """tcpdump's `10.0.0.1.80` or `fd00::1.80` (address and port) or a bare address."""
    for candidate in (token, token.rsplit(".", 1)[0]):
        try:
            return ipaddress.ip_address(candidate)
        except ValueError:
            continue
    return None


def tcpdump_frames(out: Path) -> dict[int, tuple[int, tuple[Address, Address] | None]]:
    """Frame number → (outer VNI, inner source and destination if tcpdump printed an IP)."""
    text = out.read_text()
    starts = list(FRAME_LINE.finditer(text))
    frames = {}
    for this, following in zip(starts, [*starts[1:], None], strict=True):
        record = text[this.start() : following.start() if following else len(text)]
        vni = VNI.search(record)
        if vni is None:
            continue
        inner = None
        for found in ENDPOINTS.finditer(record, vni.end()):
            src, dst = _address(found[1]), _address(found[2])
            if src is not None and dst is not None:
                inner = (src, dst)
                break
        frames[int(this[1])] = (int(vni[1], 0), inner)
    return frames


@pytest.fixture(scope="module")
def decoded() -> dict[Path, pl.DataFrame | None]:
    """Every corpus file's packet table; None for a file that is not a capture at all."""
    tables: dict[Path, pl.DataFrame | None] = {}
    for path in corpus_captures():
        try:
            capture = read_capture(path)
        except CaptureError:
            tables[path] = None
            continue
        table = decode_reference(capture)
        assert table.height == len(capture.records), path
        tables[path] = table
    return tables


def test_every_capture_decodes_to_the_schema(decoded: dict[Path, pl.DataFrame | None]) -> None:
    tables = [t for t in decoded.values() if t is not None]
    assert len(tables) > 0.9 * len(decoded)
    for table in tables:
        assert table.schema == PACKET_SCHEMA
        assert table["frame"].to_list() == list(range(1, table.height + 1))


def test_statuses_are_plausible(decoded: dict[Path, pl.DataFrame | None]) -> None:
    rows = pl.concat([t for t in decoded.values() if t is not None])
    ok = rows.filter(pl.col("status") == "ok")
    # A stop names its layer; ok rows name none.
    assert ok["status_layer"].null_count() == ok.height
    assert rows.filter(pl.col("status") != "ok")["status_layer"].null_count() == 0
    # IPv4/IPv6 rows that decoded have addresses of their version.
    ip = ok.filter(pl.col("ip_version").is_not_null())
    assert ip["src"].null_count() == 0
    assert all(ipaddress.ip_address(a).version == v
               for a, v in ip.select("src", "ip_version").unique().iter_rows())
    # Only link types pcapkit does not decode are unsupported.
    unsupported = rows.filter(pl.col("status") == "unsupported")
    assert set(unsupported["status_layer"].unique().to_list()) == {"link"}
    # Tunnel rows carry the underlay (but for a link-layer shim, outermost: there is none) and
    # a depth; the others none.
    tunnelled = rows.filter(pl.col("tunnel").is_not_null())
    assert tunnelled.height > 0
    shims = pl.col("tunnel").is_in([t.value for t in tunnels.ETHER_TUNNELS.values()])
    assert tunnelled.filter(~shims)["outer_src"].null_count() == 0
    assert tunnelled.filter(shims & pl.col("outer_src").is_null()).height > 0
    assert (tunnelled["tunnel_depth"] >= 1).all()
    assert (rows.filter(pl.col("tunnel").is_null())["tunnel_depth"] == 0).all()


OUT_FILES = sorted(p for p in TCPDUMP_CORPUS.glob("*.out") if p.stat().st_size)


@pytest.mark.parametrize("out", OUT_FILES, ids=[p.stem for p in OUT_FILES])
def test_tunnel_frames_as_tcpdump_printed_them(
    out: Path, decoded: dict[Path, pl.DataFrame | None]
) -> None:
    expected = tcpdump_frames(out)
    assert expected, f"no VXLAN/Geneve frame found in {out.name}"
    table = decoded[out.with_suffix(".pcap")]
    assert table is not None
    rows = {r["frame"]: r for r in table.iter_rows(named=True)}
    for frame, (vni, inner) in expected.items():
        row = rows[frame]
        assert row["vni"] == vni, frame
        if inner is not None:
            assert (ipaddress.ip_address(row["src"]), ipaddress.ip_address(row["dst"])) == inner

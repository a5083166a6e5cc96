"""The summary's packet counts (`protocol_counts`, `tunnel_counts`, taken over the packets'
`tally`) against a count made row by row in Python: a packet counts where its condition holds,
and a null condition (a column without a value) does not count."""

from __future__ import annotations

from collections import Counter

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pcapkit.decode.schema import PACKET_SCHEMA, empty_packets
from pcapkit.flows.tally import tally
from pcapkit.report.summary import PROTO_NAMES, protocol_counts, tunnel_counts

COLUMNS = ["ip_proto", "dns_id", "ip_version", "status", "tunnel", "outer_dport"]
row = st.tuples(
    st.one_of(st.none(), st.sampled_from([1, 6, 17, 58, 200])),
    st.one_of(st.none(), st.sampled_from([0, 53])),
    st.one_of(st.none(), st.sampled_from([4, 6])),
    st.one_of(st.none(), st.sampled_from(["ok", "truncated", "unsupported"])),
    st.one_of(st.none(), st.sampled_from(["vxlan", "geneve"])),
    st.one_of(st.none(), st.sampled_from([4789, 8472])),
)


def _packets(rows: list[tuple[object, ...]]) -> pl.DataFrame:
    """Packets with the values of `rows` in `COLUMNS`, the others null."""
    given = pl.DataFrame(rows, schema={c: PACKET_SCHEMA[c] for c in COLUMNS}, orient="row")
    return pl.concat([empty_packets(), given], how="diagonal")


@settings(max_examples=200, deadline=None)
@given(st.lists(row, max_size=30))
def test_counts_are_those_of_the_rows(rows: list[tuple[object, ...]]) -> None:
    protos: Counter[int] = Counter()
    expected: Counter[str] = Counter()
    tunnels: Counter[str] = Counter()
    for proto, dns_id, version, status, tunnel, port in rows:
        if proto is not None:
            protos[proto] += 1
        expected["dns"] += dns_id is not None
        expected["non-ip"] += version is None and status == "ok"
        expected["undecoded"] += status is not None and status != "ok"
        if tunnel is not None:
            tunnels[tunnel if port is None else f"{tunnel}/{port}"] += 1
    # in order: protocols by number, then the tail
    counts = [(PROTO_NAMES.get(p, f"ip-proto-{p}"), protos[p]) for p in sorted(protos)]
    counts += [(k, expected[k]) for k in ["dns", "non-ip", "undecoded"] if expected[k]]
    kinds = tally(_packets(rows))
    assert list(protocol_counts(kinds).items()) == counts
    assert list(tunnel_counts(kinds).items()) == sorted(tunnels.items())

"""docs/tables.md is generated from the schemas declared in code, so it cannot drift: this test
renders it and compares. After a deliberate schema change:
`PCAPKIT_UPDATE_GOLDEN=1 pytest tests/test_docs.py`."""

from __future__ import annotations

import os

import polars as pl

from pcapkit.decode.schema import COLUMNS
from pcapkit.detect.findings import FINDINGS_COLUMNS
from pcapkit.flows import schema as flows
from tests.conftest import REPO

DOC = REPO / "docs" / "tables.md"
TABLES: list[tuple[str, str, list[tuple[str, pl.DataType, str]]]] = [
    ("Packets", "`pcapkit.decode.schema.COLUMNS`: one row per captured packet "
     "(rules: [packet-table.md](packet-table.md))", COLUMNS),
    ("Packet columns added by the flow stage", "`pcapkit.flows.schema.PACKET_COLUMNS`",
     flows.PACKET_COLUMNS),
    ("Views", "`pcapkit.flows.schema.VIEW_COLUMNS`: one interface of one capture",
     flows.VIEW_COLUMNS),
    ("Capture spans", "`pcapkit.flows.schema.SPAN_COLUMNS`: one row per capture",
     flows.SPAN_COLUMNS),
    ("View sources", "`pcapkit.flows.schema.SOURCE_COLUMNS`: per view, direction, source and "
     "destination (what tells a veth, a bridge and an overlay device apart)",
     flows.SOURCE_COLUMNS),
    ("TCP connections", "`pcapkit.flows.schema.CONNECTION_COLUMNS`", flows.CONNECTION_COLUMNS),
    ("DNS transactions", "`pcapkit.flows.schema.DNS_COLUMNS`", flows.DNS_COLUMNS),
    ("DNS per view", "`pcapkit.flows.schema.DNS_VIEW_COLUMNS`: a DNS conversation's rows, one "
     "per view (what its path is made of)", flows.DNS_VIEW_COLUMNS),
    ("ICMP errors", "`pcapkit.flows.schema.ICMP_COLUMNS`", flows.ICMP_COLUMNS),
    ("Probes", "`pcapkit.flows.schema.PROBE_COLUMNS`: echo and neighbour requests, each with "
     "its answer or none", flows.PROBE_COLUMNS),
    ("Findings", "`pcapkit.detect.findings.FINDINGS_COLUMNS`: one row per symptom; the "
     "Python API adds `k8s_*` columns when a snapshot is given", FINDINGS_COLUMNS),
]


def render() -> str:
    out = ["# The tables between stages", "",
           "Generated from the schemas in the code (`tests/test_docs.py` keeps it current). "
           "Every stage takes and returns polars DataFrames with these columns. "
           "`pcapkit convert` stores them as Parquet: [store.md](store.md).", ""]
    for title, where, columns in TABLES:
        out += [f"## {title}", "", where, "", "| column | type | meaning |", "|---|---|---|"]
        out += [f"| `{name}` | {dtype} | {meaning.replace('|', '/')} |"
                for name, dtype, meaning in columns]
        out.append("")
    return "\n".join(out)


def test_tables_doc_is_current() -> None:
    text = render()
    if os.environ.get("PCAPKIT_UPDATE_GOLDEN") == "1":
        DOC.write_text(text)
    assert DOC.read_text() == text, "docs/tables.md is stale: see this module's docstring"

"""dns_error against Zeek's dns.log on the corpus: the SERVFAIL/REFUSED responses Zeek logs, by
client, server and rcode, are exactly pcapkit's findings."""

from __future__ import annotations

from collections import Counter

import pytest

from pcapkit.detect import dns_error
from pcapkit.detect.config import DEFAULT
from pcapkit.flows import build_tables
from tests.conftest import ZEEK_CORPUS, needs_corpus
from tests.detect.samples import extras, needs_sample, tables
from tests.flows.dns_oracles import decoded, zeek_dns_log
from tests.flows.test_dns_oracles import ZEEK_DNS, _capture


@needs_corpus()
@pytest.mark.parametrize("name", ZEEK_DNS)
def test_matches_zeek_rcodes(name: str) -> None:
    folder = ZEEK_CORPUS / name
    expected = Counter(
        (r["id.orig_h"], r["id.resp_h"], r["rcode_name"])
        for r in zeek_dns_log(folder / "dns.log") if r["rcode_name"] in DEFAULT.dns_error_rcodes
    )
    table, messages = decoded(_capture(folder))
    findings = dns_error.detect(build_tables(table, messages=messages), DEFAULT)
    found = Counter({
        (r["client_ip"], r["server_ip"], e["rcode"]): r["count"]
        for r, e in zip(findings.iter_rows(named=True), extras(findings), strict=True)
    })
    assert found == expected


@needs_corpus()
def test_the_corpus_has_refused_responses() -> None:
    """The comparison above is not vacuous: Zeek logs REFUSED in two of these captures."""
    logs = {n: zeek_dns_log(ZEEK_CORPUS / n / "dns.log") for n in ZEEK_DNS}
    refused = [n for n, rows in logs.items() if any(r["rcode_name"] == "REFUSED" for r in rows)]
    assert len(refused) >= 2


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=needs_sample(n)) for n in ("healthy", "dns_timeout")]
)
def test_no_error_from_the_lab_dns(name: str) -> None:
    assert dns_error.detect(tables(name), DEFAULT).is_empty()

"""icmp_echo_unanswered against tshark and the lab.

tshark pairs each echo request with its reply within one capture (`icmp.resp_not_found`,
`icmpv6.resp_not_found`, with two passes): on each capture alone, with no wait at the end, the
requests pcapkit finds unanswered are exactly those, wherever pcapkit decodes the echo (the
corpus captures chosen are the ones holding echo requests in stacks it decodes). On the lab, the
pings the truth logs unanswered are one finding each, from the pod, with every capture's copies
(the node's masqueraded ones too, whose identifier conntrack rewrote), and the healthy sample
has none.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import polars as pl
import pytest

from pcapkit.decode import decode
from pcapkit.detect import icmp_echo_unanswered
from pcapkit.detect.config import DEFAULT
from pcapkit.flows import build_tables
from pcapkit.read import read_capture
from tests.conftest import SAMPLES, TCPDUMP_CORPUS, ZEEK_CORPUS, needs_corpus, needs_tshark
from tests.detect.samples import needs_sample, tables, truth

NO_WAIT = dataclasses.replace(DEFAULT, probe_min_wait_s=0.0)
CORPUS = [TCPDUMP_CORPUS / name for name in (
    "erspan-type-i-4.pcap", "erspan-type-iii-ft-0.pcap", "icmp-length-zero.pcapng",
    "ipv6-routing-header.pcap", "ipv6-srh-ext-header.pcap", "ipv6_jumbogram_1.pcap",
    "geneve.pcap", "vxlan.pcap", "mpls-over-udp.pcap", "dhcp-rfc4388.pcap",
)] + [ZEEK_CORPUS / "core.tunnels.gre-in-gre" / "gre-within-gre.pcap"]
LAB = sorted((SAMPLES / "ping_unanswered").glob("*.pcap"))


def _tshark_unanswered(path: Path) -> set[int]:
    """Frames of echo requests (the frame's only ICMP header) tshark found no reply for."""
    out = subprocess.run(
        ["tshark", "-2", "-n", "-r", str(path), "-Y", "icmp.type == 8 || icmpv6.type == 128",
         "-T", "fields", "-e", "frame.number", "-e", "frame.protocols", "-e",
         "icmp.resp_not_found", "-e", "icmpv6.resp_not_found"],
        capture_output=True, text=True, check=True).stdout
    frames = set()
    for line in out.splitlines():
        number, layers, v4, v6 = line.split("\t")
        single = sum(layers.split(":").count(p) for p in ("icmp", "icmpv6")) == 1
        if single and (v4 or v6):
            frames.add(int(number))
    return frames


@needs_tshark()
@needs_corpus()
@pytest.mark.parametrize("path", CORPUS + LAB, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_unanswered_requests_are_tsharks(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not found")
    findings = icmp_echo_unanswered.detect(build_tables(decode(read_capture(path))), NO_WAIT)
    ours = {e["frame"] for evidence in findings["evidence"].to_list() for e in evidence}
    assert ours == _tshark_unanswered(path)


@needs_sample("ping_unanswered")
def test_each_unanswered_ping_is_one_finding_from_the_pod() -> None:
    pings = [t for t in truth("ping_unanswered") if t["kind"] == "ping"]
    assert pings and all(p["outcome"] == "unanswered" for p in pings)
    findings = icmp_echo_unanswered.detect(tables("ping_unanswered"), DEFAULT)
    found = {(r["client_ip"], r["server_ip"], r["extra"]) for r in findings.iter_rows(named=True)}
    assert {(c, s) for c, s, _ in found} == {(p["client"], p["target"]) for p in pings}
    (ping,) = pings
    row = findings.row(0, named=True)
    assert row["severity"] == "error"
    # the last request may fall within the minimum wait of the captures' end
    assert ping["sent"] - 1 <= row["count"] <= ping["sent"]
    assert f"id {ping['ident']}" in row["explanation"]
    # every capture on the way (the pod's, worker-1's) shows it; worker-2 is not on it
    captures = sorted(p for p in (SAMPLES / "ping_unanswered").iterdir()
                      if p.suffix in {".pcap", ".pcapng"})
    on_path = {i for i, p in enumerate(captures) if "worker-2" not in p.name}
    assert {e["capture"] for e in row["evidence"]} == on_path


@needs_sample("healthy")
def test_no_unanswered_echo_when_every_ping_is_answered() -> None:
    assert icmp_echo_unanswered.detect(tables("healthy"), DEFAULT).is_empty()
    assert tables("healthy").probes.filter(pl.col("probe") == "echo").is_empty() or all(
        tables("healthy").probes["answered"])

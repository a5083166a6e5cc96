"""rst against the lab's truth."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pcapkit.detect import rst
from tests.conftest import needs_tshark
from tests.detect.tcp_samples import SCENARIOS, attempts, clients, run
from tests.lab.findings import assert_findings_match_truth

#: a lossy_underlay run (kube-proxy nftables, recorded by the lab like the samples; the client
#: pod's capture and the server node's underlay NIC) whose client lost its FIN on the underlay:
#: the client sent it again, the server's FIN sent again crossed the server's ACK of it, and
#: reached a socket already closed, which answered with a reset
LATE_FIN = Path(__file__).parent / "late_fin"

#: the scenarios whose endpoint refuses: `nodeport`'s refused connections came from outside
#: the cluster to a NodePort and were DNATed and masqueraded on the way, and still each is
#: named by the external client and the node address and port it dialled
REFUSING = ["not_listening", "nodeport", "target_port_mismatch"]


@pytest.mark.parametrize("name", REFUSING)
def test_a_refusing_endpoint_is_refused_in_the_handshake(name: str) -> None:
    found = run(rst, name)
    refused = attempts(name, "refused")
    assert clients(found) == {a["client"] for a in refused}
    for extra, severity in found.select("extra", "severity").rows():
        assert json.loads(extra) == {"phase": "handshake", "sender": "server"}
        assert severity == "error"
    resolved = {a["client"]: a["resolved"] for a in refused}
    for ip, port, server_ip, server_port in found.select(
            "client_ip", "client_port", "server_ip", "server_port").rows():
        assert f"{server_ip}:{server_port}" == resolved[f"{ip}:{port}"]


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n not in REFUSING])
def test_no_reset_where_the_lab_made_none(name: str) -> None:
    """No other scenario's client was refused or aborted by a reset."""
    assert run(rst, name).is_empty()


def _resets_after_close(capture: Path) -> list[int]:
    """Frames, by tshark's reading, of resets whose sender had sent its FIN and acknowledged the
    peer's, at the sequence number of its FIN (or one past it)."""
    fields = ["frame.number", "tcp.stream", "tcp.srcport", "tcp.flags.fin", "tcp.flags.ack",
              "tcp.flags.reset", "tcp.seq_raw", "tcp.ack_raw", "tcp.len"]
    # flannel's VXLAN port, which tshark decodes only when told
    out = subprocess.run(["tshark", "-n", "-r", str(capture), "-d", "udp.port==8472,vxlan",
                          "-Y", "tcp", "-T", "fields",
                          *(x for f in fields for x in ("-e", f))],
                         capture_output=True, text=True, check=True).stdout
    fin_end: dict[tuple[str, str], int] = {}  # (stream, sender port) → what acknowledges its FIN
    fin_seq: dict[tuple[str, str], int] = {}
    acked_peer: set[tuple[str, str]] = set()
    found = []
    for line in out.splitlines():
        frame, stream, port, fin, ack, reset, seq, ack_no, length = line.split("\t")
        me = (stream, port)
        peer = next((k for k in fin_end if k[0] == stream and k[1] != port), None)
        closed = me in acked_peer and me in fin_seq
        if reset == "1" and closed and (int(seq) - fin_seq[me]) % 2**32 in (0, 1):
            found.append(int(frame))
        if ack == "1" and peer is not None and int(ack_no) == fin_end[peer]:
            acked_peer.add(me)
        if fin == "1":
            fin_seq[me] = int(seq)
            fin_end[me] = (int(seq) + int(length) + 1) % 2**32
    return found


@needs_tshark()
def test_a_reset_after_an_orderly_close_is_no_symptom() -> None:
    """The reset the late FIN drew is in both captures, as tshark reads them; the run's truth
    says every download completed, and pcapkit finds only the retransmissions."""
    captures = sorted(LATE_FIN.glob("*.pcap"))
    assert len(captures) == 2
    for capture in captures:
        assert _resets_after_close(capture), capture
    assert_findings_match_truth(LATE_FIN, "lossy_underlay")

"""kube-proxy's nftables mode (`record --kube-proxy nftables`), recorded afresh (root only): the
Services are carried by the `ip kube-proxy` table alone, and every scenario gives what its truth
says (read by tshark and by pcapkit) and what the iptables mode's committed sample gives: the same
symptom kinds, Services and endpoints. The `external_traffic_local` variant, which no committed
sample holds, is recorded in both modes and gives the same findings in each."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest

from samples.lab import netns, truth
from samples.lab.netns import Lab
from samples.lab.record import record, start
from samples.lab.scenarios import SCENARIOS, VARIANTS, compose
from tests.conftest import SAMPLES
from tests.lab.findings import assert_findings_match_truth, findings
from tests.lab.test_record import pytestmark as RECORDING  # root, ip, iptables, tcpdump
from tests.lab.test_samples import EVIDENCE

#: dns_timeout waits 5 s per unanswered query, 20 to 50 s a run: left to the iptables samples
SLOW = {"dns_timeout"}
#: faults that drop packets at random (`-m statistic --mode random`): a short run can drop none
#: that TCP had to send again (a quarter of lossy_underlay's runs: its downloads cross the
#: underlay in 40-60 datagrams, most of them ACKs or GSO batches)
RANDOM = {"lossy_underlay"}
#: runs of a random fault before its evidence is held missing (0.25**6: once in 4000)
RANDOM_RUNS = 6

pytestmark = [
    *RECORDING,
    pytest.mark.skipif(
        shutil.which("nft") is None,
        reason="kube-proxy's nftables mode needs nft (make system-deps installs nftables)",
    ),
]


def test_services_are_in_the_kube_proxy_table_only(tmp_path: Path) -> None:
    scenarios = [SCENARIOS["no_endpoints"], SCENARIOS["stale_endpoint"]]
    cluster = compose(scenarios, "nftables")
    with Lab() as lab:
        start(lab, cluster, scenarios, tmp_path / "truth.jsonl")
        tables = {n.name: lab.sh(n.name, "nft", "list", "table", "ip", "kube-proxy")
                  for n in cluster.nodes}
        for node in cluster.nodes:
            assert "KUBE-" not in lab.sh(node.name, "iptables-save")
    for node in cluster.nodes:
        table = tables[node.name]
        for service in cluster.services:
            assert f"{service.cluster_ip} . tcp" in table, service
        assert "numgen random mod 2 vmap" in table  # web's two endpoints
        assert "dnat to 10.244.2.99:8080" in table  # the terminating endpoint is still used
        assert node.underlay_ip in table  # nodeport-ips: the node's own address
    # The faults' truth quotes kube-proxy's commands that make them: each chain it names is
    # in that node's table, the orphan's ClusterIP in no-endpoint-services.
    faults = {t["fault"]: t["rules"] for t in truth.load(tmp_path)}
    assert any("no-endpoint-services { 10.96.0.40 . tcp . 80" in r for r in faults["no_endpoints"])
    quoted = [r for rules in faults.values() for r in rules]
    assert quoted and all(": nft " in r for r in quoted)
    for rule in quoted:
        node, _, command = rule.partition(": nft ")
        if command.startswith("add chain"):
            assert command.split()[4] in tables[node], rule
    assert netns.leftovers(lab.prefix) == []


def _summary(symptoms: list[dict[str, object]]) -> set[tuple[object, ...]]:
    return {
        (s["kind"], k8s.get("service"), k8s.get("endpoint"))
        for s in symptoms
        if isinstance(k8s := s.get("k8s", {}), dict)
    }


def _recorded(name: str, into: Path, run: int = 0) -> tuple[Path, list[dict[str, Any]]]:
    """One nftables run of the scenario, and its truth, checked against tshark; a scenario whose
    fault is random gets up to `RANDOM_RUNS` runs when one happened to show none of it (a loss
    on the underlay that only hit ACKs, or no loss at all), or more than its scenario expects."""
    run_id = secrets.token_hex(3)
    folder = record([SCENARIOS[name]], into / f"{name}-{run}", run_id, kube_proxy="nftables")
    assert netns.leftovers(netns.PREFIX + run_id + "-") == []
    lines = truth.load(folder)
    try:
        # A random fault's run may drop more than its scenario expects too (10 % loss: a
        # download's SYN lost three times running timed out, ~2 % of runs): a draw to run
        # again, as one that dropped nothing TCP sent again is.
        assert name not in RANDOM or truth.problems(lines) == []
        EVIDENCE[name](folder, lines)  # tshark sees in the captures what the truth says
    except AssertionError:
        if name not in RANDOM or run + 1 >= RANDOM_RUNS:
            raise
        return _recorded(name, into, run + 1)
    return folder, lines


@pytest.mark.parametrize("name", sorted(set(SCENARIOS) - SLOW))
def test_nftables_run_finds_what_the_truth_says(name: str, tmp_path: Path) -> None:
    folder, lines = _recorded(name, tmp_path)
    assert truth.problems(lines) == []
    assert "--kube-proxy nftables" in (folder / "README.md").read_text()
    assert_findings_match_truth(folder, name)
    assert _summary(findings(folder)) == _summary(findings(SAMPLES / name))


def _local_findings(folder: Path) -> set[tuple[object, ...]]:
    """What each failed connection got: kind, client, server, node, Service, NodePort, and the
    node `died_at` names."""
    return {
        (s["kind"], s["client"], s["server"], s["k8s"].get("service"), s["k8s"].get("node_port"),
         s["k8s"].get("external_client"), (s.get("died_at") or {}).get("node"))
        for s in findings(folder)
    }


def test_local_policy_drops_as_the_iptables_mode_does(tmp_path: Path) -> None:
    """externalTrafficPolicy Local (the `external_traffic_local` variant) in both modes, recorded
    afresh: worker-1 drops by its `no-endpoint-nodeports` element what the iptables mode drops in
    KUBE-EXTERNAL-SERVICES, worker-2 DNATs to its own pod through `local-…`, and the findings of
    the two runs are the same, each failed connection named by the truth's NodePort."""
    variant = VARIANTS["external_traffic_local"]
    folders = {}
    for mode in ("iptables", "nftables"):
        run_id = secrets.token_hex(3)
        folders[mode] = record([variant], tmp_path / mode, run_id, kube_proxy=mode)
        assert netns.leftovers(netns.PREFIX + run_id + "-") == []
        assert truth.problems(truth.load(folders[mode])) == []
    lines = truth.load(folders["nftables"])
    (fault,) = [t for t in lines if t["kind"] == "fault"]
    assert any("no-endpoint-nodeports" in r and ": drop }" in r for r in fault["rules"])
    node = fault["where"].split(",")[0]  # "node worker-1"
    assert all(r.startswith(f"{node.removeprefix('node ')}: nft ") for r in fault["rules"])
    failed = {t["client"]: t for t in lines if t["kind"] == "attempt" and t["outcome"] != "ok"}
    got = _local_findings(folders["nftables"])
    assert {(k, c) for k, c, *_ in got} == {(k, c) for c in failed for k in fault["symptoms"]}
    for _, client, server, service, node_port, external, died in got:
        attempt = failed[client]
        assert (server, service, node_port, external) == (
            attempt["resolved"], attempt["service"], attempt["node_port"],
            attempt["external_client"])
        assert f"node {died}" == node
    assert got == _local_findings(folders["iptables"])

"""One recorded run: build the cluster, inject the faults, capture while the clients run, write
captures + snapshot.json + truth.jsonl + README.md into one folder, tear everything down.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from samples.lab import dataplane
from samples.lab.capture import Recording, Vantage
from samples.lab.cluster import EXTERNAL_HOST_IP, Cluster
from samples.lab.netns import Lab
from samples.lab.proxymodes import MODES
from samples.lab.readme import readme
from samples.lab.scenarios import BENCH_LOADS, Client, Scenario, compose
from samples.lab.snapshot import snapshot

SERVER_MODULES = {"http": "servers", "blob": "servers", "grpc": "servers", "dns": "dns_server"}
BENCH_RATE = "100mbit"
RECORDED = ("*.pcap", "*.pcapng", "truth.jsonl", "snapshot.json", "README.md")


def vantages(cluster: Cluster, scenarios: Sequence[Scenario]) -> list[Vantage]:
    """Each client pod's eth0, each node's `-i any` (SLL2 and v1) and underlay eth0, and the
    dumpcap pcapngs and captures off the nodes asked for."""
    pods = {c.pod for s in scenarios for c in s.clients if c.pod}
    found = [
        Vantage(cluster.pod(p).name, ("eth0",), f"pod-{cluster.pod(p).name}.pcap")
        for p in sorted(pods)
    ]
    for node in cluster.nodes:
        found += [
            Vantage(node.name, ("any",), f"node-{node.name}-any.pcap"),
            Vantage(node.name, ("any",), f"node-{node.name}-any-v1.pcap", cooked="LINUX_SLL"),
            Vantage(node.name, ("eth0",), f"node-{node.name}-eth0.pcap"),
        ]
    if any(s.multi_capture for s in scenarios):
        first = cluster.nodes[0].name
        found.append(Vantage(first, ("eth0", "cni0", "any"), f"node-{first}-multi.pcapng"))
    if any(s.outside_captures for s in scenarios):
        found += [Vantage(dataplane.EXTERNAL, ("eth0",), "external-eth0.pcap"),
                  Vantage(dataplane.UNDERLAY, ("br0",), "underlay-br0.pcap")]
    if any(s.dumpcap_any for s in scenarios):
        first = cluster.nodes[0].name
        found.append(Vantage(first, ("eth0", "any"), f"node-{first}-dumpcap.pcapng",
                             cooked="LINUX_SLL"))
    return found


def start(lab: Lab, cluster: Cluster, scenarios: Sequence[Scenario], truth: Path) -> dict[str, str]:
    """Build the dataplane, program kube-proxy, start the pods' programs, inject the faults."""
    macs = dataplane.build(lab, cluster)
    mode = MODES[cluster.kube_proxy]
    for node in cluster.nodes:
        lab.sh(node.name, *mode.loader(cluster), input=mode.rules(cluster, node))
    if cluster.socket_lb:
        # kube-proxy's rules in the pod's own namespace: its OUTPUT chain DNATs a connection
        # to an endpoint before the first packet reaches the pod's eth0, as Cilium's
        # socket-level load balancer rewrites connect().
        for pod in cluster.pods:
            if not pod.terminating:
                lab.sh(pod.name, *mode.loader(cluster),
                       input=mode.rules(cluster, cluster.node(pod.node)))
    records = json.dumps(cluster.dns_records())
    for pod in cluster.pods:
        if pod.process and not pod.terminating:
            extra = [records] if pod.process.kind == "dns" else []
            module = SERVER_MODULES[pod.process.kind]
            lab.python(pod.name, module, *_server_args(pod.process.kind, pod.process.port), *extra,
                       *(["::"] if cluster.ipv6_pods else []))
    lab.python(dataplane.EXTERNAL, "servers", "http", "80")  # what api.example.com points to
    if cluster.nodelocal_dns:
        kube_dns = cluster.service("kube-system/kube-dns").cluster_ip
        for node in cluster.nodes:
            # node-local-dns puts it on a dummy link; the lab's kernel may lack the dummy
            # driver, and a local address on lo is delivered the same way
            lab.sh(node.name, "ip", "addr", "add", f"{cluster.nodelocal_dns}/32", "dev", "lo")
            lab.python(node.name, "nodelocal_cache", cluster.nodelocal_dns, kube_dns)
    with truth.open("a") as out:
        for scenario in scenarios:
            for fault in scenario.faults(cluster):
                for ns, table, args in fault.rules:
                    lab.sh(ns, "sh", "-c", f"iptables -t {table} {args}")
                for ns, command in fault.commands:
                    lab.sh(ns, "sh", "-c", command)
                line = {"ts": time.time(), "scenario": scenario.name} | fault.truth()
                out.write(json.dumps(line) + "\n")
    return macs


def _server_args(kind: str, port: int) -> list[str]:
    return [str(port)] if kind == "dns" else [kind, str(port)]


def run_clients(lab: Lab, cluster: Cluster, scenario: Scenario, truth: Path, port: int) -> int:
    """Run the scenario's clients one after another (parallel copies side by side);
    returns the next free local port."""
    for client in scenario.clients:
        procs = []
        for _ in range(client.parallel):
            procs.append(_client(lab, cluster, scenario, client, truth, port))
            port += sum(a.get("count", 1) for a in client.actions
                        if a["op"] not in ("lookup", "ping"))
        for proc in procs:
            if proc.wait() != 0:
                assert proc.stderr is not None
                raise RuntimeError(f"client in {client.pod} failed: {proc.stderr.read()}")
    return port


def _client(
    lab: Lab, cluster: Cluster, scenario: Scenario, client: Client, truth: Path, port: int
) -> subprocess.Popen[str]:
    pod = cluster.pod(client.pod) if client.pod else None
    spec = {
        "scenario": scenario.name,
        "client_pod": client.pod,
        "truth": str(truth),
        "ip": pod.ip if pod else EXTERNAL_HOST_IP,
        "first_port": port,
        "actions": list(client.actions),
    }
    ns = pod.name if pod else dataplane.EXTERNAL
    return lab.spawn(ns, sys.executable, "-m", "samples.lab.client", json.dumps(spec))


def record(
    scenarios: Sequence[Scenario],
    folder: Path,
    run_id: str | None = None,
    kube_proxy: str = "iptables",
) -> Path:
    """Record one run of `scenarios` (combined) into `folder`, the Services programmed by
    kube-proxy's `kube_proxy` mode (`proxymodes.MODES`); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for pattern in RECORDED:
        for old in folder.glob(pattern):
            old.unlink()
    truth = folder / "truth.jsonl"
    truth.touch()
    cluster = compose(scenarios, kube_proxy)
    started = datetime.now(UTC)
    with Lab(run_id) as lab:
        macs = start(lab, cluster, scenarios, truth)
        with Recording(lab, folder, vantages(cluster, scenarios)):
            port = 40001
            for scenario in scenarios:
                port = run_clients(lab, cluster, scenario, truth, port)
            time.sleep(1.0)  # let the last FINs and retransmissions reach the captures
    doc = snapshot(cluster, macs, started)
    (folder / "snapshot.json").write_text(json.dumps(doc, indent=1) + "\n")
    (folder / "README.md").write_text(readme(cluster, scenarios, folder))
    return folder


def bench(path: Path, load: str = "dns") -> Path:
    """Record a bench load (`BENCH_LOADS`) into `path` (`tcpdump -i any` on worker-1), its truth
    beside it.

    The client pods segment their own TCP (`gso_max_segs 1`), as a pod whose veth has
    segmentation offload off does: the capture shows wire-size segments, one per MSS, on the
    veth, cni0, flannel.1 and (encapsulated) eth0, not 64 KB GSO super-segments. Their eth0 is
    shaped to `BENCH_RATE` (a token bucket) so that tcpdump keeps up: unshaped, the bulk load
    sends faster than tcpdump writes, and the kernel drops most of the capture.
    """
    scenario = BENCH_LOADS[load]
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = path.with_name(path.stem + "-truth.jsonl")
    truth.unlink(missing_ok=True)
    cluster = compose([scenario])
    with Lab() as lab:
        start(lab, cluster, [scenario], truth)
        for pod in {c.pod for c in scenario.clients if c.pod}:
            ns = cluster.pod(pod).name
            lab.sh(ns, "ip", "link", "set", "eth0", "gso_max_segs", "1")
            lab.sh(ns, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", BENCH_RATE,
                   "burst", "32kb", "latency", "100ms")
        node = cluster.nodes[0].name
        with Recording(lab, path.parent, [Vantage(node, ("any",), path.name)]):
            run_clients(lab, cluster, scenario, truth, 20000)
            time.sleep(1.0)
    return path

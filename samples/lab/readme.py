"""The README of a recorded run: what was built, which fault, what a person should see, and the
truth's attempts as a table (so the exact client ports and outcomes are in front of the reader)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from samples.lab.cluster import Cluster
from samples.lab.scenarios import Scenario


def readme(cluster: Cluster, scenarios: Sequence[Scenario], folder: Path) -> str:
    lines = [json.loads(line) for line in (folder / "truth.jsonl").read_text().splitlines()]
    title = " + ".join(s.name for s in scenarios)
    mode = "" if cluster.kube_proxy == "iptables" else f" --kube-proxy {cluster.kube_proxy}"
    out = [
        f"# Sample `{title}`",
        "",
        "Recorded by `python -m samples.lab record --scenario "
        f"{','.join(s.name for s in scenarios)}{mode}` (see `samples/lab/README.md` for the "
        "lab).",
        "",
    ]
    for s in scenarios:
        out += [
            f"## {s.name}",
            "",
            f"**Built on top of the base cluster:** {s.built}.",
            "",
            f"**What you should see:** {s.see}.",
            "",
        ]
    out += [
        "## Overlay",
        "",
        f"{cluster.vxlan.device}, VNI {cluster.vxlan.vni}, UDP "
        f"{cluster.vxlan.port}; pod MTU {cluster.pod_mtu}, overlay MTU {cluster.overlay_mtu}.",
        "",
        "## Faults injected",
        "",
    ]
    faults = [t for t in lines if t["kind"] == "fault"]
    out += [f"- `{f['fault']}` at {f['where']}: {f['detail']}" for f in faults] or ["- none"]
    out += [
        "",
        "## Files",
        "",
        "- `pod-*.pcap`: tcpdump -i eth0 in the client pod (Ethernet)",
        "- `node-*-any.pcap`: tcpdump -i any on a node (LINUX_SLL2: veth, cni0, the VXLAN "
        "device and, encapsulated, eth0)",
        "- `node-*-any-v1.pcap`: the same, taken at the same time as Linux cooked v1 (LINUX_SLL, "
        "as `dumpcap -i any` writes it: no interface index)",
        "- `node-*-eth0.pcap`: the node's underlay NIC only (VXLAN-encapsulated pod traffic)",
        "- `node-*-multi.pcapng` (when present): dumpcap on eth0, cni0 and any in one file",
        "- `node-*-dumpcap.pcapng` (when present): `dumpcap -i eth0 -i any`, any as dumpcap takes "
        "it unasked (Linux cooked v1)",
        "- `snapshot.json`: `kubectl get pods,services,endpointslices,nodes -A -o json` of the lab",
        "- `truth.jsonl`: every attempt, lookup and fault, as it happened",
        "",
        "## Attempts (from truth.jsonl)",
        "",
        "| time | client | target | resolved | outcome | detail |",
        "|---|---|---|---|---|---|",
    ]
    start = lines[0]["ts"] if lines else 0.0
    for t in lines:
        if t["kind"] == "attempt":
            out.append(
                f"| +{t['ts'] - start:.2f}s | {t['client']} | {t['target']} | "
                f"{t['resolved']} | {t['outcome']} | {t['detail']} |"
            )
    lookups = [t for t in lines if t["kind"] == "lookup"]
    if lookups:
        out += [
            "",
            "## Lookups (from truth.jsonl)",
            "",
            "| time | client | name | search candidates | outcome | took |",
            "|---|---|---|---|---|---|",
        ]
        out += [
            f"| +{t['ts'] - start:.2f}s | {t['client']} | {t['name']} | "
            f"{len(t['search_expansion'])} | {t['outcome']} | {t['duration']:.3f}s |"
            for t in lookups
        ]
    return "\n".join(out) + "\n"

"""`python -m samples.lab record [--scenario a,b]... [--out DIR] [--kube-proxy MODE]`,
`bench FILE [--load L]`, `cleanup`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from samples.lab.netns import PREFIX, REPO, cleanup
from samples.lab.proxymodes import MODES
from samples.lab.record import bench, record
from samples.lab.scenarios import BENCH_LOADS, SCENARIOS, VARIANTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m samples.lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="record scenarios into OUT/<scenario>/")
    rec.add_argument(
        "--scenario",
        action="append",
        metavar="A[,B...]",
        help="one run per use; a comma list combines scenarios in one run (default: each "
        f"scenario alone: {', '.join(SCENARIOS)}; also: {', '.join(VARIANTS)})",
    )
    rec.add_argument("--out", type=Path, default=REPO / "samples")
    rec.add_argument("--run-id", help="name the run's namespaces pklab-RUN_ID-* (default: random)")
    rec.add_argument("--kube-proxy", choices=sorted(MODES), default="iptables",
                     help="kube-proxy's mode: the rules that carry the Services (default: "
                          "iptables)")
    ben = sub.add_parser("bench", help="record the benchmark capture (>= 200k packets) to FILE")
    ben.add_argument("file", type=Path)
    ben.add_argument("--load", choices=sorted(BENCH_LOADS), default="dns",
                     help="dns: short HTTP connections and their lookups; bulk: TCP uploads "
                          "across the VXLAN overlay (default: dns)")
    sub.add_parser("cleanup", help=f"remove what crashed runs left behind ({PREFIX}* namespaces)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("the lab needs root to create network namespaces")
    if args.command == "cleanup":
        cleanup(PREFIX)
    elif args.command == "bench":
        print(bench(args.file, args.load))
    else:
        runs = [spec.split(",") for spec in args.scenario or list(SCENARIOS)]
        known = SCENARIOS | VARIANTS
        unknown = {name for run in runs for name in run} - set(known)
        if unknown:
            parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        # kube_proxy_missing deletes one of kube-proxy's iptables rules (kubeproxy.portal)
        only = {"kube_proxy_missing"} & {n for run in runs for n in run}
        if args.kube_proxy != "iptables" and only:
            parser.error(f"{', '.join(sorted(only))}: recorded with --kube-proxy iptables only")
        for names in runs:
            scenarios = [known[n] for n in names]
            folder = record(scenarios, args.out / "+".join(names), args.run_id, args.kube_proxy)
            print(folder, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

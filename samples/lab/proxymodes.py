"""kube-proxy's modes the lab can program (`record --kube-proxy iptables|nftables`): how each one
is loaded on a node, and the words the faults' truth uses for its rules.

The scenarios are the same in both modes; only the rules that carry the Services differ, and the
truth says which chain or map did what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from samples.lab import kubeproxy, nftables
from samples.lab.cluster import Cluster, Node, Service


@dataclass(frozen=True)
class Mode:
    name: str
    load: tuple[str, ...]  # the command that reads `rules` on its stdin, inside a node
    load6: tuple[str, ...] | None  # the same for an IPv6 cluster, when the mode has one
    rules: Callable[[Cluster, Node], str]
    rejects: str  # where a Service without endpoints is REJECTed
    hairpin: str  # the rule that masquerades a pod reaching itself through its Service
    # The commands of the mode's own program that make a fault about one Service, for the
    # truth's `rules`: only nftables quotes them (the iptables truth lists only the rules a
    # fault injects, as the committed samples have it).
    quote: Callable[[Cluster, Service, Node], tuple[str, ...]]

    def loader(self, cluster: Cluster) -> tuple[str, ...]:
        """The command that loads `rules` for `cluster`'s address family."""
        if not cluster.ipv6_pods:
            return self.load
        if self.load6 is None:
            raise ValueError(f"kube-proxy mode {self.name} has no IPv6 rules in the lab")
        return self.load6


MODES = {
    m.name: m
    for m in (
        Mode(
            "iptables",
            ("iptables-restore", "--noflush"),
            ("ip6tables-restore", "--noflush"),
            kubeproxy.rules,
            "filter KUBE-SERVICES",
            "KUBE-SEP -s <pod IP> -j KUBE-MARK-MASQ",
            lambda cluster, service, node: (),
        ),
        Mode(
            "nftables",
            ("nft", "-f", "-"),
            None,  # its ruleset is written for the ip family only
            nftables.ruleset,
            "its no-endpoint-services element goes to reject-chain",
            "endpoint-<hash>-… ip saddr <pod IP> jump mark-for-masquerade",
            lambda cluster, service, node: tuple(
                f"nft {line}" for line in nftables.service_commands(cluster, service, node)
            ),
        ),
    )
}

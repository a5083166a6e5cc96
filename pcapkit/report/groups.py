"""How the reports group symptoms: by the layer that broke (`LAYERS`, which `causes.py` and
`document.layers` use) and by the Service (or server) they hit. Symptoms are the JSON
document's, numbered from 1 in its order."""

from __future__ import annotations

from typing import Any

#: the layer each symptom kind belongs to, in the order a reader checks them: can pods reach
#: each other, does DNS answer, do Services lead to live endpoints, what do the packets show
LAYERS: dict[str, str] = {
    "arp_unanswered": "pod connectivity",
    "icmp_echo_unanswered": "pod connectivity",
    "unanswered_syn": "pod connectivity",
    "rst": "pod connectivity",
    "icmp_unreachable": "pod connectivity",
    "nxdomain_name": "DNS",
    "nxdomain_storm": "DNS",
    "dns_timeout": "DNS",
    "dns_error": "DNS",
    "dns_wrong_server": "DNS",
    "headless_not_ready": "DNS",
    "dnat_mismatch": "Services",
    "kube_proxy_missing": "Services",
    "external_traffic_local": "Services",
    "retransmission": "packets",
    "zero_window": "packets",
}
#: a kind not in `LAYERS` (a detector added since) is shown under this one
OTHER = "other"
LAYER_ORDER = ("pod connectivity", "DNS", "Services", "packets", OTHER)

Numbered = list[tuple[int, dict[str, Any]]]


def target(s: dict[str, Any]) -> str:
    """What a symptom hit: its Service, else the server it dialled, else its client."""
    return str(s.get("k8s", {}).get("service") or s.get("server") or s.get("client") or "?")


def client_name(s: dict[str, Any]) -> str:
    """Who saw it: the client's pod or node, else its address."""
    return str(s.get("k8s", {}).get("client") or s.get("client") or "?")


def by_target(symptoms: list[dict[str, Any]]) -> list[tuple[str, Numbered]]:
    """(Service or server, numbered symptoms), the most errors first, then the most symptoms."""
    groups: dict[str, Numbered] = {}
    for i, s in enumerate(symptoms, 1):
        groups.setdefault(target(s), []).append((i, s))

    def rank(item: tuple[str, Numbered]) -> tuple[int, int, str]:
        name, rows = item
        errors = sum(1 for _, s in rows if s["severity"] == "error")
        return (-errors, -len(rows), name)

    return sorted(groups.items(), key=rank)

"""Addresses a capture shows that the snapshot does not account for, said as capture warnings.

Two cases, both in a pod network (a Node's podCIDR), where every address belongs to a pod:

- the capture is a pod's (its own address is the one in most packets) and no pod holds that
  address: the capture and the snapshot do not show the same pod — the capture was taken from
  a pod the snapshot does not list, or the pod's IP changed between the two. When the capture's
  file name names a pod of the snapshot, the warning gives that pod's IP there;
- the capture carries traffic of pod-network addresses no pod holds: a stale pod still running,
  an IPAM conflict, or a snapshot taken at another time than the capture.

The network and first addresses of each podCIDR are left out (the overlay device's and the
bridge's, where flannel and the bridge plugin put them), and so are the Nodes' own addresses.

Warnings rather than findings: they say whether the captures and the snapshot describe the same
pods at the same time, which is how every finding's names must be read, not that traffic failed.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import polars as pl

from pcapkit.kube.snapshot import Snapshot
from pcapkit.kube.vantage import AddressCounts, Vantage

#: addresses listed in one warning, at most
MAX_LISTED = 5

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _pod_networks(snap: Snapshot) -> list[Network]:
    return [ipaddress.ip_network(c, strict=False)
            for cidrs in snap.nodes["pod_cidr"].drop_nulls().unique().sort()
            for c in str(cidrs).split(",") if c]


def _infrastructure(networks: list[Network]) -> set[str]:
    """Each podCIDR's network address and first address: the overlay device's and bridge's."""
    return {str(net.network_address + k) for net in networks for k in (0, 1)}


def address_warnings(counts: AddressCounts, vantage: Vantage, path: str,
                     snap: Snapshot | None) -> list[str]:
    """The warnings of one capture (none without a snapshot)."""
    if snap is None or not counts.packets:
        return []
    networks = _pod_networks(snap)
    held = set(snap.pods["ip"].drop_nulls()) | set(snap.nodes["ip"].drop_nulls())
    skip = held | _infrastructure(networks)
    seen = (counts.role("any").group_by("ip").agg(pl.col("n").sum())
            .sort(["n", "ip"], descending=[True, False]))
    strays = [(str(ip), int(n)) for ip, n in seen.iter_rows()
              if ip not in skip and _in_pod_network(str(ip), networks)]
    warnings = []
    own = vantage.name if vantage.kind == "interface" else None
    if own is not None and any(ip == own for ip, _ in strays):
        warnings.append(_own_address(own, path, snap))
        strays = [(ip, n) for ip, n in strays if ip != own]
    if strays:
        listed = ", ".join(f"{ip} ({n} packets)" for ip, n in strays[:MAX_LISTED])
        more = f" and {len(strays) - MAX_LISTED} more" if len(strays) > MAX_LISTED else ""
        warnings.append(
            f"traffic of pod-network addresses no pod in the snapshot holds: {listed}{more}: a "
            f"stale pod still running, an IPAM conflict, or a snapshot taken at another time")
    return warnings


def _in_pod_network(ip: str, networks: list[Network]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address.version == net.version and address in net for net in networks)


def _own_address(own: str, path: str, snap: Snapshot) -> str:
    text = (f"this capture's own address {own} is in a pod network but no pod in the snapshot "
            f"holds it: a capture of a pod the snapshot does not list, or a pod whose IP "
            f"changed since")
    stem = Path(path).name
    pod = next((p for p in snap.pods.iter_rows(named=True) if p["name"] and p["name"] in stem),
               None)
    if pod is not None:
        text += (f"; its file name names pod {pod['namespace']}/{pod['name']}, whose IP in the "
                 f"snapshot is {pod['ip']}")
    return text

"""arp_unanswered: a host asking for a neighbour's link address and getting no answer.

Definition: the ARP requests and IPv6 neighbour solicitations of the probe table
(pcapkit/flows/probes.py: gratuitous ARP, ARP probes and duplicate-address detection left out;
each request merged over the views that saw it; answered by an ARP reply from, or a neighbour
advertisement for, the address asked for within a second), grouped by asker and address asked
for. Requests are counted in the capture that saw the most of them unanswered (ties: the first
capture): the probe table keeps neighbour requests per capture, since ARP gives nothing to match
captures' clocks on. A group is reported when at least `neighbour_unanswered_min` of its
requests went unanswered there (the kernel gives a neighbour up after three); a request counts
only when its capture goes on `probe_min_wait_s` after it. `count` is the unanswered requests;
`extra` has `requests`, `answered` and `neighbour_protocol` (`arp` or `ndp`); the evidence
cites the unanswered requests of every capture.

A pod resolves only its gateway (the node's bridge, or the link-local gateway a routed CNI
answers for on the veth) and the peers on its own link. Severity error when none of the group's
requests was answered: the pod has no working route through that neighbour, because the veth's
node end is down or detached from the bridge, or the address is gone; warning when some were.

Neither Wireshark nor Zeek pairs ARP or ND requests with their answers; Wireshark flags
duplicate addresses (`arp.duplicate-address-detected`) and Zeek's arp analyser (not loaded by
default) logs unanswered requests as `arp.log` rows.

Tunables (pcapkit/detect/config.py): `neighbour_unanswered_min`, `probe_min_wait_s`.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pcapkit.detect.config import Config
from pcapkit.detect.findings import FINDINGS_SCHEMA
from pcapkit.detect.probe_findings import unanswered
from pcapkit.flows import Tables
from pcapkit.flows.probes import had_time

KIND = "arp_unanswered"
GROUP = ["probe", "asker", "target"]


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    asked = had_time(tables.probes.filter(pl.col("probe") != "echo"), tables.spans,
                     int(config.probe_min_wait_s * 1e9))
    rows = []
    for key, reqs in asked.sort("ts_ns").group_by(GROUP, maintain_order=True):
        seen = _most_missed(reqs)
        if (~seen["answered"]).sum() >= config.neighbour_unanswered_min:
            rows.append(_finding(dict(zip(GROUP, key, strict=True)), seen, reqs))
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _most_missed(reqs: pl.DataFrame) -> pl.DataFrame:
    """The requests of the capture that saw the most of them unanswered (ties: the first)."""
    missed = (reqs.group_by("capture").agg(missed=(~pl.col("answered")).sum())
              .sort(["missed", "capture"], descending=[True, False]))
    return reqs.filter(pl.col("capture") == missed["capture"][0])


def _finding(key: dict[str, Any], reqs: pl.DataFrame, every: pl.DataFrame) -> dict[str, Any]:
    asker, target = key["asker"], key["target"]
    how = "ARP" if key["probe"] == "arp" else "IPv6 neighbour solicitation"

    def explain(missed: int, answered: int, span: float) -> str:
        head = (f"{asker} asked {missed} times who has {target} ({how}) over {span:.1f} s and "
                f"got no answer")
        if answered:
            return (f"{head}, while {answered} other request(s) were answered: the link between "
                    f"them loses packets.")
        return (f"{head}: nothing on {asker}'s link holds {target}. When {target} is the "
                f"pod's gateway, the pod has no working route: its route names an address the "
                f"node's bridge does not hold, or the veth's node end is down or off the CNI's "
                f"bridge; when it is a peer, it is gone.")

    return unanswered(KIND, key["probe"], asker, target, reqs, explain, every,
                      neighbour_protocol=key["probe"])

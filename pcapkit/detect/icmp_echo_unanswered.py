"""icmp_echo_unanswered: pings that got no reply.

Definition: the echo requests of the probe table (pcapkit/flows/probes.py: ICMP type 8 and
ICMPv6 type 128, each merged over the views and captures that saw it, answered by a reply with
its target, identifier and sequence number), grouped by asker, target and identifier (one ping
process's run). A group is reported when at least one of its requests went unanswered; a
request counts only when the captures go on `probe_min_wait_s` after it. `count` is the
unanswered requests, `extra` has `requests` and `answered` (all of the group's), the
identifier and the sequence numbers of the unanswered ones.

Severity error when none of the group's requests was answered (nothing comes back from the
target: it is down or gone, does not answer pings, or something on the path drops them, such
as a NetworkPolicy or a missing route), warning when some were (loss on the way).

Wireshark marks the same requests `icmp.resp_not_found` (per capture, without NAT: a request
masqueraded by the node is answered to the node); Zeek logs an `icmp` conn.log row per
(source, destination, id) with its packet counts, which leaves the pairing to the reader.

Tunables (pcapkit/detect/config.py): `probe_min_wait_s`.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pcapkit.detect.config import Config
from pcapkit.detect.findings import FINDINGS_SCHEMA
from pcapkit.detect.probe_findings import unanswered
from pcapkit.flows import Tables
from pcapkit.flows.probes import had_time

KIND = "icmp_echo_unanswered"
GROUP = ["asker", "target", "ident"]
#: sequence numbers listed in one finding, at most
MAX_SEQS = 20


def detect(tables: Tables, config: Config) -> pl.DataFrame:
    echoes = had_time(tables.probes.filter(pl.col("probe") == "echo"), tables.spans,
                      int(config.probe_min_wait_s * 1e9))
    rows = [
        _finding(dict(zip(GROUP, key, strict=True)), reqs)
        for key, reqs in echoes.sort("ts_ns").group_by(GROUP, maintain_order=True)
        if not reqs["answered"].all()
    ]
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _finding(key: dict[str, Any], reqs: pl.DataFrame) -> dict[str, Any]:
    seqs = reqs.filter(~pl.col("answered"))["seq"].to_list()
    asker, target = key["asker"], key["target"]
    run = f"seq {seqs[0]}" if len(seqs) == 1 else f"seq {seqs[0]}–{seqs[-1]}"

    def explain(missed: int, answered: int, span: float) -> str:
        head = (f"{asker} sent {missed} echo request(s) to {target} (id {key['ident']}, {run}) "
                f"over {span:.1f} s")
        if answered:
            return (f"{head} that got no reply, while {answered} other(s) of the same ping were "
                    f"answered: packets are lost between {asker} and {target}.")
        return (f"{head} and none was answered: {target} is down or gone, does not answer "
                f"pings, or something on the path drops them (a NetworkPolicy, a missing route "
                f"or masquerade rule for an address outside the cluster).")

    return unanswered(KIND, "icmpv6" if ":" in target else "icmp", asker, target, reqs, explain,
                      ident=key["ident"], seqs=seqs[:MAX_SEQS])

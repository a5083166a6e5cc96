"""Stage 5, detect: symptoms from the flow tables.

Each detector is one module, `detect(tables, config) -> findings`, its exact definition in its
docstring. `DETECTORS` lists them all; the key is the symptom `kind`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import polars as pl

from pcapkit.detect import (
    arp_unanswered,
    dnat_mismatch,
    dns_error,
    dns_timeout,
    dns_wrong_server,
    external_traffic_local,
    headless_not_ready,
    icmp_echo_unanswered,
    icmp_unreachable,
    kube_proxy_missing,
    nxdomain_name,
    nxdomain_storm,
    retransmission,
    rst,
    unanswered_syn,
    zero_window,
)
from pcapkit.detect.config import DEFAULT, Config
from pcapkit.detect.findings import FINDINGS_SCHEMA, empty_findings
from pcapkit.detect.forwarded import relayed_out
from pcapkit.flows import Tables

Detector = Callable[[Tables, Config], pl.DataFrame]

DETECTORS: dict[str, Detector] = {
    "arp_unanswered": arp_unanswered.detect,
    "icmp_echo_unanswered": icmp_echo_unanswered.detect,
    "retransmission": retransmission.detect,
    "rst": rst.detect,
    "unanswered_syn": unanswered_syn.detect,
    "zero_window": zero_window.detect,
    "dnat_mismatch": dnat_mismatch.detect,
    "kube_proxy_missing": kube_proxy_missing.detect,
    "external_traffic_local": external_traffic_local.detect,
    "nxdomain_name": nxdomain_name.detect,
    "nxdomain_storm": nxdomain_storm.detect,
    "dns_timeout": dns_timeout.detect,
    "dns_error": dns_error.detect,
    "dns_wrong_server": dns_wrong_server.detect,
    "headless_not_ready": headless_not_ready.detect,
    "icmp_unreachable": icmp_unreachable.detect,
}


def run_detectors(tables: Tables, config: Config = DEFAULT,
                  kinds: Collection[str] = tuple(DETECTORS)) -> pl.DataFrame:
    """The findings of the detectors named in `kinds` (all by default), worst first."""
    frames = [DETECTORS[kind](tables, config) for kind in kinds]
    return worst_first(frames)


def worst_first(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Findings frames as one, worst first; ties in the order of `DETECTORS`, then of the
    endpoints, so that the order does not depend on how the findings were gathered. A NodeLocal
    DNSCache's upstream connections cited by a DNS finding lose their own (`relayed_out`)."""
    frames = [f for f in frames if not f.is_empty()]
    if not frames:  # most batches of a streamed run: nothing to sort
        return empty_findings()
    out = relayed_out(
        pl.concat([f.select(FINDINGS_SCHEMA.names()).cast(FINDINGS_SCHEMA) for f in frames]))
    rank = pl.col("kind").replace_strict(list(DETECTORS), list(range(len(DETECTORS))),
                                         default=len(DETECTORS), return_dtype=pl.UInt32)
    return out.sort(
        [pl.col("severity"), "first_ts_ns", rank, "client_ip", "client_port", "server_ip",
         "server_port", "last_ts_ns"],
        descending=[True, False, False, False, False, False, False, False],
        nulls_last=True, maintain_order=True,
    )


#: Detectors whose findings are each about one TCP connection, from its packets: they can run
#: on any set of whole connections (a shard) with the same result as on the whole capture.
PER_CONNECTION = ("retransmission", "rst", "unanswered_syn", "zero_window", "dnat_mismatch",
                  "kube_proxy_missing", "external_traffic_local")

#: Detectors whose findings are each about one DNS client address, from its transactions: they
#: can run on any set of whole clients' transactions (numbered and grouped into lookups as in
#: the whole table) with the same result as on the whole capture.
PER_CLIENT = ("nxdomain_name", "nxdomain_storm", "dns_timeout", "dns_error", "dns_wrong_server")

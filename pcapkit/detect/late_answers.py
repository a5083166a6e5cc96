"""DNS answers that came after the client stopped waiting.

A resolver that gives up on a query (glibc after `timeout`, 5 s by default; 1 s with `options
timeout:1`) closes its socket; the answer that arrives afterwards finds no socket, and the
client's host answers it with an ICMP port unreachable quoting it. The application never read
that answer: for it, the query timed out, whatever the answer said. So such an answer makes its
transaction unanswered for `dns_timeout`, is no SERVFAIL the client got for `dns_error`, and its
port unreachable is no `icmp_unreachable` finding of its own (it says where the DNS lookup's
time went, and is cited in the lookup's finding).

An error is a refused DNS answer when it is a port unreachable (ICMPv4 3/3, ICMPv6 1/4) sent by
the quoted packet's destination (the client's host itself), quoting UDP from a DNS port. It is
one answer's refusal: the host answers each datagram for a closed port at once, in the order
they came. So on each client socket, answers and refusals pair in arrival order: the answers
that came since the previous refusal meet the refusals from the next one on, the latest answers
first refused (the socket closed after the earlier ones were read), each pair at most
`ANSWERED_WITHIN_NS` apart.
"""

from __future__ import annotations

import polars as pl

from pcapkit.codes import Icmp6Type, Icmp6UnreachCode, IcmpType, IcmpUnreachCode, IpProto
from pcapkit.decode.dns_message import DNS_PORTS

#: the longest from a response's first copy (maybe on a node, before the pod) to the refusal
ANSWERED_WITHIN_NS = 100_000_000

#: ICMP errors that are a DNS client's host refusing an answer
REFUSED_ANSWER = (
    (((pl.col("ip_version") == 4) & (pl.col("icmp_type") == IcmpType.DEST_UNREACH)
      & (pl.col("icmp_code") == IcmpUnreachCode.PORT))
     | ((pl.col("ip_version") == 6) & (pl.col("icmp_type") == Icmp6Type.DEST_UNREACH)
        & (pl.col("icmp_code") == Icmp6UnreachCode.PORT)))
    & (pl.col("q_proto") == IpProto.UDP) & pl.col("q_sport").is_in(list(DNS_PORTS))
    & (pl.col("reporter") == pl.col("q_dst"))
).fill_null(False)


def refused(dns: pl.DataFrame, errors: pl.DataFrame) -> pl.DataFrame:
    """Per transaction of `dns` (DNS_TRANSACTIONS rows with `txn`, `client_ip`, `client_port`,
    `response_ts_ns`) whose answer its client's host refused: `txn` and `refused_frames` (the
    refusals' frames), from the ICMP errors `errors` (ICMP_ERRORS)."""
    refusals = errors.filter(REFUSED_ANSWER).select(
        pl.col("q_dst").alias("client_ip"), pl.col("q_dport").alias("client_port"),
        pl.col("ts_ns").alias("refused_ns"), "frames")
    # the columns read only, and only when some answer was refused: a filter copies what it
    # keeps, and a busy resolver's client has hundreds of thousands of answers
    answered = pl.DataFrame() if refusals.is_empty() else dns.select(
        "txn", "client_ip", "client_port", "response_ts_ns").filter(
        pl.col("response_ts_ns").is_not_null())
    if answered.is_empty():
        return pl.DataFrame(schema={"txn": pl.UInt32, "refused_frames": errors.schema["frames"]})
    socket = ["client_ip", "client_port"]
    refusals = refusals.sort("refused_ns").with_columns(
        pl.int_range(pl.len(), dtype=pl.UInt32).over(socket).alias("refusal"),
        pl.len().over(socket).cast(pl.UInt32).alias("refusals"))
    # The run of answers that came since the previous refusal on their socket (the A and AAAA
    # answered together to a closed socket) meets the refusals from its first one on, up to
    # the next run's first one; its latest answers take them in order.
    met = (
        answered.sort("response_ts_ns")
        .join_asof(refusals.select(*socket, "refused_ns", "refusal", "refusals"),
                   left_on="response_ts_ns", right_on="refused_ns", by=socket,
                   strategy="forward", tolerance=ANSWERED_WITHIN_NS, check_sortedness=False)
        .filter(pl.col("refusal").is_not_null())
        .drop("refused_ns")
    )
    runs = (
        met.group_by([*socket, "refusal"])
        .agg("txn", "response_ts_ns", pl.col("refusals").first())
        .sort([*socket, "refusal"])
        .with_columns(
            pl.col("refusal").shift(-1).over(socket).fill_null(pl.col("refusals"))
            .alias("next_run"))
        .with_columns(
            pl.min_horizontal(pl.col("txn").list.len(), pl.col("next_run") - pl.col("refusal"))
            .alias("paired"))
    )
    return (
        runs.with_columns(
            pl.col("txn").list.tail(pl.col("paired")),
            pl.col("response_ts_ns").list.tail(pl.col("paired")),
            pl.int_ranges(pl.col("refusal"), pl.col("refusal") + pl.col("paired"),
                          dtype=pl.UInt32).alias("refusal"))
        .explode("txn", "response_ts_ns", "refusal")
        .join(refusals, on=[*socket, "refusal"])
        .filter(pl.col("refused_ns") - pl.col("response_ts_ns") <= ANSWERED_WITHIN_NS)
        .sort("response_ts_ns")
        .select(pl.col("txn").cast(pl.UInt32), pl.col("frames").alias("refused_frames"))
    )

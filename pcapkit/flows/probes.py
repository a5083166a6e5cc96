"""Echo requests and neighbour requests, each tied to its answer or to none.

A *probe* is a question a host asks on the network and expects answered at once:

- `echo`: an ICMP echo request (type 8) or ICMPv6 echo request (128); its answer is an echo
  reply (0, 129) from the target with the same identifier and sequence number;
- `arp`: an ARP request for an IPv4 address; its answer is an ARP reply whose sender address is
  that address;
- `ndp`: an IPv6 neighbour solicitation for a target address; its answer is a neighbour
  advertisement for that target.

Requests that ask nothing of anyone are left out: gratuitous ARP (sender address = target
address), ARP probes (sender 0.0.0.0) and duplicate-address-detection solicitations (from ::),
all sent to be left unanswered.

One request seen in several views or captures (a pod's eth0, the node's veth and bridge, the
node's eth0 after masquerading) is one row. Echo copies share the target and sequence number
and lie within `ECHO_COPY_NS` of the previous copy: the asker and the identifier are not
compared, as masquerading rewrites both (ping sends its requests a second apart, each with the
next sequence number). Neighbour requests are kept per capture: they never leave their link,
so any capture that shows one shows its answer, and their copies share nothing a clock could be
matched on (a resend is the same bytes again), so comparing their times across captures would
need clocks that ARP alone cannot give. Within a capture, copies (the veth and the bridge of a
node's `-i any`) share the target and the asker and lie within `COPY_WINDOW_NS`: the kernel
resends after a second. The asker and identifier are the earliest copy's, before any
masquerade. An echo request is answered by a reply with its target, that identifier and
sequence number at any time after it (`SKEW_NS` before, for the captures' clocks): the reply
the earliest copy's view saw, de-masqueraded; a neighbour request by an answer in its capture
within `NEIGHBOUR_REPLY_NS` (a later one answers the resend that follows).

Wireshark links echo requests and replies the same way (`icmp.resp_in`, `icmp.resp_not_found`)
but per capture and per conversation, NAT aside; it pairs no ARP or ND messages.
"""

from __future__ import annotations

import polars as pl

from pcapkit.codes import ArpOp, Icmp6Type, IcmpType, IpProto
from pcapkit.decode.schema import PACKET_SCHEMA
from pcapkit.flows.schema import PROBES

#: copies of one neighbour request lie closer together than this (and resends farther apart)
COPY_WINDOW_NS = 500_000_000
#: copies of one echo request, through a node and its NAT, lie closer together than this
ECHO_COPY_NS = 10_000_000
#: the kernel resends an unanswered neighbour request after `retrans_time` (1 s by default)
NEIGHBOUR_REPLY_NS = 1_000_000_000
#: an answer seen in another capture may be stamped a little before the request
SKEW_NS = 1_000_000

#: the packet columns probes are made of
PROBE_PACKET_COLUMNS = ["capture", "frame", "ts_ns", "ip_version", "ip_proto", "src", "dst",
                        "icmp_type", "icmp_echo_id", "icmp_echo_seq", "icmp_nd_target",
                        "arp_op", "arp_sender", "arp_target"]
PROBE_PACKETS = pl.Schema({c: PACKET_SCHEMA[c] for c in PROBE_PACKET_COLUMNS})
KEY = ["probe", "target", "seq", "who", "place"]

_V4 = (pl.col("ip_version") == 4) & (pl.col("ip_proto") == IpProto.ICMP)
_V6 = (pl.col("ip_version") == 6) & (pl.col("ip_proto") == IpProto.ICMPV6)
_TYPE = pl.col("icmp_type")
ECHO_REQUEST = (_V4 & (_TYPE == IcmpType.ECHO_REQUEST)) | (_V6 & (_TYPE == Icmp6Type.ECHO_REQUEST))
ECHO_REPLY = (_V4 & (_TYPE == IcmpType.ECHO_REPLY)) | (_V6 & (_TYPE == Icmp6Type.ECHO_REPLY))
SOLICIT = _V6 & (_TYPE == Icmp6Type.NEIGHBOR_SOLICIT) & pl.col("icmp_nd_target").is_not_null()
ADVERT = _V6 & (_TYPE == Icmp6Type.NEIGHBOR_ADVERT) & pl.col("icmp_nd_target").is_not_null()
ARP_REQUEST = (pl.col("arp_op") == ArpOp.REQUEST) & pl.col("arp_target").is_not_null()
ARP_REPLY = (pl.col("arp_op") == ArpOp.REPLY) & pl.col("arp_sender").is_not_null()
#: the packet rows a probe or its answer is made of
IS_PROBE = ECHO_REQUEST | ECHO_REPLY | SOLICIT | ADVERT | ARP_REQUEST | ARP_REPLY


def probe_rows(packets: pl.DataFrame) -> pl.DataFrame:
    """The packets that are probes or answers, with the columns `probes` reads."""
    return packets.lazy().filter(IS_PROBE).select(PROBE_PACKET_COLUMNS).collect()


def _asked(rows: pl.DataFrame) -> pl.DataFrame:
    """Each request row as (probe, asker, target, ident, seq, and for a neighbour request
    `who`, its asker, and `place`, its capture: null for echo), the requests that ask nothing
    left out."""
    probe = (pl.when(ECHO_REQUEST).then(pl.lit("echo")).when(SOLICIT).then(pl.lit("ndp"))
             .when(ARP_REQUEST).then(pl.lit("arp")))
    asker = pl.when(ARP_REQUEST).then(pl.col("arp_sender")).otherwise(pl.col("src"))
    target = (pl.when(ECHO_REQUEST).then(pl.col("dst")).when(SOLICIT)
              .then(pl.col("icmp_nd_target")).otherwise(pl.col("arp_target")))
    out = rows.filter(ECHO_REQUEST | SOLICIT | ARP_REQUEST).select(
        "capture", "frame", "ts_ns", probe.alias("probe"), asker.alias("asker"),
        target.alias("target"), pl.col("icmp_echo_id").alias("ident"),
        pl.col("icmp_echo_seq").alias("seq"))
    asks_nothing = (pl.col("asker") == pl.col("target")) | pl.col("asker").is_in(
        ["0.0.0.0", "::"])
    neighbour = pl.col("probe") != "echo"
    return out.filter(~(neighbour & asks_nothing.fill_null(False))).with_columns(
        who=pl.when(neighbour).then(pl.col("asker")),
        place=pl.when(neighbour).then(pl.col("capture")))


def _answers(rows: pl.DataFrame) -> pl.DataFrame:
    """Each answer row as (probe, target, _ident, _seq, _place, reply_ts_ns), in time order
    (`_place`: a neighbour answer's capture, 0 for echo)."""
    probe = (pl.when(ECHO_REPLY).then(pl.lit("echo")).when(ADVERT).then(pl.lit("ndp"))
             .otherwise(pl.lit("arp")))
    target = (pl.when(ECHO_REPLY).then(pl.col("src")).when(ADVERT)
              .then(pl.col("icmp_nd_target")).otherwise(pl.col("arp_sender")))
    return rows.filter(ECHO_REPLY | ADVERT | ARP_REPLY).select(
        probe.alias("probe"), target.alias("target"),
        pl.col("icmp_echo_id").fill_null(0).alias("_ident"),
        pl.col("icmp_echo_seq").fill_null(0).alias("_seq"),
        pl.when(ECHO_REPLY).then(0).otherwise(pl.col("capture")).cast(pl.UInt16).alias("_place"),
        pl.col("ts_ns").alias("reply_ts_ns"),
    ).sort("reply_ts_ns")


def probes(rows: pl.DataFrame) -> pl.DataFrame:
    """The PROBES table of `probe_rows` (timestamps on one clock)."""
    asked = _asked(rows).sort([*KEY, "ts_ns", "capture", "frame"], nulls_last=True)
    same_key = pl.all_horizontal(pl.col(c).eq_missing(pl.col(c).shift()) for c in KEY)
    window = pl.when(pl.col("probe") == "echo").then(ECHO_COPY_NS).otherwise(COPY_WINDOW_NS)
    close = pl.col("ts_ns") - pl.col("ts_ns").shift() <= window
    sent = asked.with_columns(sent=(~(same_key & close).fill_null(False)).cum_sum())
    merged = sent.sort("ts_ns", "capture", "frame").group_by("sent", maintain_order=True).agg(
        pl.col("probe", "asker", "target", "ident", "seq", "capture", "ts_ns", "place").first(),
        copies=pl.len(),
        frames=pl.struct("capture", "frame"),
    ).with_columns(_ident=pl.col("ident").fill_null(0), _seq=pl.col("seq").fill_null(0),
                   _place=pl.col("place").fill_null(0).cast(pl.UInt16),
                   _from=pl.col("ts_ns") - SKEW_NS).sort("_from")
    replied = merged.join_asof(
        _answers(rows), left_on="_from", right_on="reply_ts_ns",
        by=["probe", "target", "_ident", "_seq", "_place"], strategy="forward",
        check_sortedness=False)  # both sorted by time; polars cannot check within `by` groups
    late = (pl.col("probe") != "echo") & (
        pl.col("reply_ts_ns") - pl.col("ts_ns") > NEIGHBOUR_REPLY_NS)
    return (replied.with_columns(reply_ts_ns=pl.when(~late).then(pl.col("reply_ts_ns")))
            .with_columns(answered=pl.col("reply_ts_ns").is_not_null())
            .sort("ts_ns", "probe", "asker", "target", maintain_order=True)
            .select(PROBES.names()).cast(PROBES))


def had_time(table: pl.DataFrame, spans: pl.DataFrame, wait_ns: int) -> pl.DataFrame:
    """The probes whose capture went on at least `wait_ns` after them (SPANS: its end)."""
    ends = spans.select("capture", end="last_ts_ns")
    return table.join(ends, on="capture", how="left").filter(
        pl.col("end") - pl.col("ts_ns") >= wait_ns).drop("end")

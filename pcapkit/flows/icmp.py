"""ICMP errors tied to the flow they report on.

An error is an ICMPv4 message of type 3 (destination unreachable, code 4 fragmentation needed),
4, 5, 11 (time exceeded) or 12, or an ICMPv6 message of type 1–4 (unreachable, packet too big,
time exceeded, parameter problem). Each quotes the IP header and first 8 bytes of the packet it
reports on; that packet was sent by the flow's client side (`q_src`, `q_sport`), so the error is
tied to the flow by the quoted 5-tuple, and to a TCP connection (`conn`) through the last packet
of that client socket before the error.

One error crossing several interfaces of a node's `-i any` capture, or seen in several captures,
is one row: copies share type, code, protocol and the quoted client side (conntrack rewrites an
error's outer source and the quoted destination on their way back through a DNAT, so those are
not compared) and lie within `CROSS_VIEW_TOLERANCE_NS`; the k-th copy in each view goes with the
k-th in the others, so that a burst of errors in one view stays a burst. The `reporter` is the
source of the earliest copy, nearest where the error was made; the quoted destination is taken
from the copy seen last, nearest the client (the error travels towards it), which shows it as
the client addressed it (a ClusterIP rather than the pod behind it). Within one view, an error
seen again (same key and IP id within `COPY_WINDOW_NS`: a Linux cooked v1 `-i any` view shows it
once per interface it crossed) goes with the error it repeats.
"""

from __future__ import annotations

import polars as pl

from pcapkit.codes import (
    Icmp6Type,
    Icmp6UnreachCode,
    IcmpType,
    IcmpUnreachCode,
    IpProto,
    TimeExceededCode,
)
from pcapkit.decode.schema import empty_packets
from pcapkit.flows.dns import CROSS_VIEW_TOLERANCE_NS
from pcapkit.flows.schema import ICMP_ERRORS
from pcapkit.flows.tally import tally
from pcapkit.flows.views import VIEW_KEY, seen_again

#: ICMP types that quote the packet they report on, per IP version.
ERROR_TYPES = {
    4: [int(t) for t in (IcmpType.DEST_UNREACH, IcmpType.SOURCE_QUENCH, IcmpType.REDIRECT,
                         IcmpType.TIME_EXCEEDED, IcmpType.PARAM_PROBLEM)],
    6: [int(t) for t in (Icmp6Type.DEST_UNREACH, Icmp6Type.PACKET_TOO_BIG,
                         Icmp6Type.TIME_EXCEEDED, Icmp6Type.PARAM_PROBLEM)],
}

#: the enum naming each type's codes, per (IP version, type).
CODE_ENUMS: dict[tuple[int, int], type[IcmpUnreachCode | Icmp6UnreachCode | TimeExceededCode]] = {
    (4, IcmpType.DEST_UNREACH): IcmpUnreachCode,
    (4, IcmpType.TIME_EXCEEDED): TimeExceededCode,
    (6, Icmp6Type.DEST_UNREACH): Icmp6UnreachCode,
    (6, Icmp6Type.TIME_EXCEEDED): TimeExceededCode,
}

QUOTED = ["q_src", "q_dst", "q_proto", "q_sport", "q_dport"]
#: a flow's sending socket, as an error's quoted header names it
SOCKET = ["src", "sport", "ip_proto"]
KEY = ["ip_version", "icmp_type", "icmp_code", "q_proto", "q_src", "q_sport"]


def _is_error() -> pl.Expr:
    is_error = pl.lit(False)
    for version, types in ERROR_TYPES.items():
        proto = IpProto.ICMP if version == 4 else IpProto.ICMPV6
        is_error = is_error | (
            (pl.col("ip_version") == version)
            & (pl.col("ip_proto") == proto)
            & pl.col("icmp_type").is_in(types)
        )
    return is_error


#: the packet rows that are ICMP errors
IS_ERROR = _is_error()


def type_name(version: int, icmp_type: int) -> str:
    """`DEST_UNREACH`, `PACKET_TOO_BIG`…, or `TYPE_<n>` for a type without a name."""
    enum = IcmpType if version == 4 else Icmp6Type
    try:
        return enum(icmp_type).name
    except ValueError:
        return f"TYPE_{icmp_type}"


def code_name(version: int, icmp_type: int, code: int) -> str:
    """`PORT`, `FRAG_NEEDED`, `TTL`…, or `CODE_<n>` for a code without a name."""
    enum = CODE_ENUMS.get((version, icmp_type))
    try:
        return enum(code).name if enum else f"CODE_{code}"
    except ValueError:
        return f"CODE_{code}"


def icmp_errors(packets: pl.DataFrame) -> pl.DataFrame:
    """One row per ICMP error (schema `ICMP_ERRORS`) from a packet table."""
    errors = error_copies(packets.filter(IS_ERROR))
    last = last_before(packets, errors) if "conn" in packets.columns else None
    return tied(errors, socket_counts(tally(packets)), last)


def error_copies(packets: pl.DataFrame) -> pl.DataFrame:
    """The ICMP errors of packets holding every error copy (`IS_ERROR` rows), merged over views,
    not yet tied to their flows."""
    copies = (
        packets.lazy()
        .filter(IS_ERROR)
        .select(
            *VIEW_KEY, "frame", "ts_ns", "ip_version", "icmp_type", "icmp_code",
            pl.col("src").alias("reporter"), pl.col("dst").alias("reported_to"),
            pl.col("icmp_mtu").alias("mtu"),
            *(pl.col(f"icmp_{c}").alias(c) for c in QUOTED),
            "ip_id",
        )
        .sort([*KEY, "ts_ns", "frame"], nulls_last=True)
    )
    gap = pl.col("ts_ns") - pl.col("ts_ns").shift(1).over(KEY)
    same = [*VIEW_KEY, *KEY, "ip_id"]
    last = ["reported_to", "q_dst", "q_dport", "mtu"]
    errors = (
        copies.with_columns((gap.is_null() | (gap > CROSS_VIEW_TOLERANCE_NS)).cum_sum().over(KEY)
                            .alias("burst"))
        # The k-th error of a view, numbered by its first frame there: its copies
        # within the view (seen again, the same IP id) go with it.
        .with_columns((~seen_again(same)).cum_sum().over(same).alias("_seen"))
        .with_columns(pl.col("frame").min().over([*same, "_seen"]).alias("_first"))
        .with_columns((pl.col("_first").rank("dense").over([*KEY, "burst", *VIEW_KEY]) - 1)
                      .alias("copy"))
        .group_by([*KEY, "burst", "copy"])
        .agg(
            pl.col("ts_ns").min(),
            pl.col("reporter").sort_by("ts_ns").first(),
            *(pl.col(c).sort_by("ts_ns").last() for c in last),
            pl.col("reporter").unique().sort().alias("reporters"),
            pl.col("tunnel").drop_nulls().first().cast(pl.String),
            pl.struct(*VIEW_KEY).n_unique().alias("views"),
            pl.struct("capture", "frame").sort().alias("frames"),
        )
        .collect()
    )
    return errors.join(_names(errors), on=["ip_version", "icmp_type", "icmp_code"])


def socket_counts(kinds: pl.DataFrame) -> pl.DataFrame:
    """Per sending socket (`src`, `sport`, `ip_proto`) of every non-ICMP packet of a `tally`:
    the first encapsulation its packets came through and how many it sent. Adds up over parts
    of the packets taken in order (`merge_socket_counts`)."""
    return (
        kinds.filter(~pl.col("icmp") & pl.col("sport").is_not_null())
        .group_by(SOCKET, maintain_order=True)
        .agg(pl.col("tunnel").cast(pl.String).drop_nulls().first().alias("flow_tunnel"),
             pl.col("n").sum().alias("flow_packets"))
    )


def merge_socket_counts(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """`socket_counts` of the whole from those of its parts, given in packet order."""
    return pl.concat(parts or [socket_counts(tally(empty_packets()))]).group_by(
        SOCKET, maintain_order=True).agg(
        pl.col("flow_tunnel").drop_nulls().first(), pl.col("flow_packets").sum())


def quoted_sockets(sockets: pl.DataFrame, packets: pl.DataFrame) -> pl.DataFrame:
    """The rows of `socket_counts` whose socket an ICMP error of `packets` (`IS_ERROR` rows)
    quotes: `tied` joins no other (a DNS-heavy capture's sockets are millions, its errors few)."""
    asked = packets.select(pl.col("icmp_q_src").alias("src"),
                           pl.col("icmp_q_sport").alias("sport"),
                           pl.col("icmp_q_proto").alias("ip_proto"))
    return sockets.join(asked.cast(sockets.select(SOCKET).schema), on=SOCKET, how="semi")


def last_before(packets: pl.DataFrame, errors: pl.DataFrame) -> pl.DataFrame:
    """For each error, the last TCP packet (with its `conn`) its quoted socket sent before it:
    `src`, `sport`, `ip_proto`, `ts_ns`, `capture`, `frame`, `conn`. Over parts of the packets,
    the rows of every part together give the same ties (`tied` takes the latest). The packets'
    `src` may be text or, as `tcp_segments` gives it, an Enum: the quoted sockets are looked
    for in its type, and only the packets found are made text."""
    asked = errors.select(pl.col("q_src").alias("src"), pl.col("q_sport").alias("sport"),
                          pl.col("q_proto").alias("ip_proto"), "ts_ns").drop_nulls().unique()
    if asked.is_empty():  # most captures: no error quotes a packet, none is looked for
        packets = packets.clear()
    # Only the quoted sockets' packets are sorted: a handful, where every TCP packet is given.
    sent = (
        packets.filter(pl.col("icmp_type").is_null() & pl.col("sport").is_not_null()
                       & pl.col("conn").is_not_null())
        .select(*SOCKET, "ts_ns", "capture", "frame", "conn")
        # an address the Enum lacks (null) is no packet's
        .join(asked.select(SOCKET).unique().with_columns(
            pl.col("src").cast(packets.schema["src"], strict=False)), on=SOCKET, how="semi")
        .with_columns(pl.col("src").cast(pl.String))
        .sort("ts_ns", "capture", "frame")
    )
    return (
        asked.sort("ts_ns")
        .join_asof(sent.with_columns(at=pl.col("ts_ns")), on="ts_ns", by=SOCKET,
                   strategy="backward", check_sortedness=False)
        .drop_nulls("at")
        .select(*SOCKET, pl.col("at").alias("ts_ns"), "capture", "frame", "conn")
        .unique()
    )


def tied(errors: pl.DataFrame, sockets: pl.DataFrame,
         last: pl.DataFrame | None) -> pl.DataFrame:
    """ICMP_ERRORS: the errors with their quoted flow's tunnel and packets (`socket_counts`)
    and TCP connection (the `conn` of the latest of `last_before`'s rows before each)."""
    quoted = {"q_src": "src", "q_sport": "sport", "q_proto": "ip_proto"}
    out = errors.join(
        sockets.rename({v: k for k, v in quoted.items()}), on=list(quoted), how="left",
        nulls_equal=False,
    )
    if last is None:
        out = out.with_columns(pl.lit(None, pl.UInt32).alias("conn"))
    else:
        # the last packet before the error, whatever order the packets came in: ties in time
        # go to the later (capture, frame)
        before = (last.sort("ts_ns", "capture", "frame").drop("capture", "frame")
                  .rename({v: k for k, v in quoted.items()}))
        out = out.sort("ts_ns").join_asof(before, on="ts_ns", by=list(quoted),
                                          strategy="backward", check_sortedness=False)
    return (
        out.sort(["ts_ns", *KEY, "burst", "copy"], nulls_last=True)
        .with_row_index("err")
        .select(ICMP_ERRORS.names())
        .cast(ICMP_ERRORS)
    )


def _names(errors: pl.DataFrame) -> pl.DataFrame:
    kinds = errors.select("ip_version", "icmp_type", "icmp_code").unique()
    rows = kinds.rows()
    return kinds.with_columns(
        pl.Series("type_name", [type_name(v, t) for v, t, _ in rows], pl.String),
        pl.Series("code_name", [code_name(v, t, c) for v, t, c in rows], pl.String),
    )

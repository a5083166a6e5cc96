"""The Wireshark display filter that shows a finding's packets, in any of its captures.

It starts from the finding's client socket as the client saw it, `ip.addr==10.244.1.10 &&
tcp.port==40001`: that holds at every vantage whatever DNAT did to the server side, inside a
tunnel once Wireshark decodes it (`decode_as`), and in ICMP errors, whose quoted headers
Wireshark dissects as `ip` and `tcp`/`udp` too. It never names a `tcp.stream`, whose numbers
differ from one capture to the next. An evidence packet that term would miss (a leg that
masquerading or a NodePort's SNAT rewrote) adds a term for its own conversation. A DNS finding
names its transactions (`dns.id==0x6760`) when they are few; a per-address one (a storm) is
`ip.addr==A && dns`. Unanswered neighbour requests are named by ARP's own address fields (or
the ND target address): they carry no IP header of the asker's.

The filter shows every evidence frame and may show more: other packets of the same client
socket (the SYN-ACK of a retransmitted connection, other queries of the socket, a later
connection that reused the port).
"""

from __future__ import annotations

import polars as pl

from pcapkit.wireshark.decode_as import DECODE_AS_COLUMNS, decode_as_by_finding
from pcapkit.wireshark.evidence import evidence_keys

#: Wireshark's field for the ports of each IP protocol
PORT_FIELDS = {6: "tcp", 17: "udp", 132: "sctp"}
PROTOCOL_NUMBERS = {name: number for number, name in PORT_FIELDS.items()}
#: DNS transaction ids named at most; beyond, the socket alone is the filter
MAX_DNS_IDS = 8
#: conversation columns of a packet: the quoted headers' for an ICMP error
CONVERSATION = ["a", "a_port", "b", "b_port", "proto"]
#: the packet-table columns `with_filters` reads of the evidence packets
PACKET_COLUMNS = ["capture", "frame", "src", "dst", "sport", "dport", "ip_proto", "dns_id",
                  "icmp_q_src", "icmp_q_dst", "icmp_q_sport", "icmp_q_dport", "icmp_q_proto",
                  *DECODE_AS_COLUMNS]


def conversations(packets: pl.DataFrame) -> pl.DataFrame:
    """Each packet's conversation (`CONVERSATION`) and DNS id: an ICMP error's is the one it
    quotes."""
    quoted = pl.col("icmp_q_src").is_not_null()

    def pick(inner: str, own: str) -> pl.Expr:
        return pl.when(quoted).then(pl.col(inner)).otherwise(pl.col(own))

    return packets.select(
        pick("icmp_q_src", "src").alias("a"), pick("icmp_q_sport", "sport").alias("a_port"),
        pick("icmp_q_dst", "dst").alias("b"), pick("icmp_q_dport", "dport").alias("b_port"),
        pick("icmp_q_proto", "ip_proto").alias("proto"), "dns_id")


def _addr(ip: str) -> str:
    return f"ipv6.addr=={ip}" if ":" in ip else f"ip.addr=={ip}"


def _client_term(ip: str | None, port: int | None, protocol: str, server: str | None,
                 number: int | None, ids: list[int] | None) -> str | None:
    """The client socket's filter term (`_covering` says which conversations it covers).
    `number`: the IP protocol of its ports (DNS's as its packets say); `ids`: the DNS ids of
    the finding's packets when every one has one."""
    if ip is None:
        return None
    if protocol == "arp":  # requests carry addresses in ARP's fields, not IP's
        return f"arp.src.proto_ipv4=={ip} && arp.dst.proto_ipv4=={server}"
    if protocol == "ndp":  # neighbour solicitations name the address asked for
        return f"{_addr(ip)} && icmpv6.nd.ns.target_address=={server}"
    if port is None:
        return f"{_addr(ip)} && dns" if protocol == "dns" else _addr(ip)
    if number is None:  # no ports Wireshark could match
        return _addr(ip)
    term = f"{_addr(ip)} && {PORT_FIELDS[number]}.port=={port}"
    if ids is not None and len(ids) <= MAX_DNS_IDS:
        names = [f"0x{i:04x}" for i in ids]
        term += f" && dns.id=={names[0]}" if len(names) == 1 else (
            f" && dns.id in {{{','.join(names)}}}")  # commas: Wireshark 4
    return term


def _covering(convs: pl.DataFrame) -> pl.Expr:
    """Which conversations (rows with the finding's `client_ip`, `client_port`, `protocol` and
    `number`) the client term covers."""
    has = (pl.col("a") == pl.col("client_ip")) | (pl.col("b") == pl.col("client_ip"))
    port = pl.col("client_port")
    on_port = has & ((pl.col("a_port") == port) | (pl.col("b_port") == port))
    protocol = pl.col("protocol")
    return (
        pl.when(pl.col("client_ip").is_null() | (protocol == "arp")).then(False)
        .when(protocol == "ndp").then(has)
        .when(port.is_null() & (protocol == "dns")).then(has & pl.col("dns_id").is_not_null())
        .when(port.is_null() | pl.col("number").is_null()).then(has)
        .otherwise(on_port & (pl.col("proto") == pl.col("number")))
        .fill_null(False)
    )


def _conversation_term(a: str, a_port: int | None, b: str, b_port: int | None,
                       proto: int | None) -> str:
    parts = [_addr(a)] + ([_addr(b)] if b != a else [])
    field = PORT_FIELDS.get(proto or 0)
    if field is not None and a_port is not None and b_port is not None:
        parts += [f"{field}.port=={a_port}"] + (
            [f"{field}.port=={b_port}"] if b_port != a_port else [])
    return " && ".join(parts)


def with_filters(findings: pl.DataFrame, packets: pl.DataFrame) -> pl.DataFrame:
    """`findings` with `wireshark_filter` (the display filter that shows each finding's
    evidence, None when nothing names an address) and `wireshark_decode_as` (`decode_as`),
    from `packets`: packet-table rows holding at least every evidence frame. All findings at
    once: a capture of millions of packets has thousands of them."""
    rows = evidence_keys(findings).join(packets, on=["capture", "frame"], how="inner")
    who = findings.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("finding"), "client_ip", "client_port",
        "protocol", "server_ip")
    convs = conversations(rows).with_columns(rows["finding"]).join(
        who.drop("server_ip"), on="finding", how="left")
    on_port = (((pl.col("a") == pl.col("client_ip")) | (pl.col("b") == pl.col("client_ip")))
               & ((pl.col("a_port") == pl.col("client_port"))
                  | (pl.col("b_port") == pl.col("client_port"))))
    # DNS runs over UDP, or TCP when its packets say so: the client socket's most common
    # transport (the lower number on a tie)
    dns_over = dict(
        convs.filter(on_port & pl.col("proto").is_in(list(PORT_FIELDS)))
        .group_by("finding", "proto").len()
        .sort(["finding", "len", "proto"], descending=[False, True, False])
        .unique("finding", keep="first", maintain_order=True)
        .select("finding", "proto").iter_rows())
    numbers = [PROTOCOL_NUMBERS.get(protocol) if protocol != "dns" else
               dns_over.get(i, PROTOCOL_NUMBERS["udp"])
               for i, protocol in enumerate(who["protocol"])]
    convs = convs.join(who.select("finding", pl.Series("number", numbers, pl.UInt8)),
                       on="finding", how="left")
    ids = {i: sorted(found) for i, n, nulls, found in convs.group_by("finding").agg(
        pl.len(), pl.col("dns_id").null_count().alias("nulls"),
        pl.col("dns_id").unique()).iter_rows() if n and not nulls}
    missed = convs.filter(~_covering(convs) & pl.col("a").is_not_null()
                          & pl.col("b").is_not_null())
    # One term per conversation a finding's client term does not cover, whichever way its
    # packets went.
    ordered = missed.select(
        "finding", "proto",
        *(pl.when(pl.col("a") <= pl.col("b")).then(c1).otherwise(c2).alias(name)
          for name, c1, c2 in (("a", "a", "b"), ("a_port", "a_port", "b_port"),
                               ("b", "b", "a"), ("b_port", "b_port", "a_port"))),
    ).unique().sort(["finding", *CONVERSATION], nulls_last=True)
    others: dict[int, list[str]] = {}
    for finding, *conversation in ordered.select("finding", *CONVERSATION).iter_rows():
        others.setdefault(finding, []).append(_conversation_term(*conversation))
    filters = []
    for i, (ip, port, protocol, server) in enumerate(
            who.select("client_ip", "client_port", "protocol", "server_ip").iter_rows()):
        client = _client_term(ip, port, protocol, server, numbers[i],
                              ids.get(i) if port is not None else None)
        terms = ([client] if client else []) + others.get(i, [])
        filters.append(None if not terms else terms[0] if len(terms) == 1
                       else " || ".join(f"({t})" for t in terms))
    return findings.with_columns(
        pl.Series("wireshark_filter", filters, pl.String),
        pl.Series("wireshark_decode_as", decode_as_by_finding(rows, findings.height),
                  pl.List(pl.String)))

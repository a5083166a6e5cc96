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

from typing import Any

import polars as pl

from pcapkit.wireshark.decode_as import decode_as
from pcapkit.wireshark.evidence import evidence_keys

#: Wireshark's field for the ports of each IP protocol
PORT_FIELDS = {6: "tcp", 17: "udp", 132: "sctp"}
PROTOCOL_NUMBERS = {name: number for number, name in PORT_FIELDS.items()}
#: DNS transaction ids named at most; beyond, the socket alone is the filter
MAX_DNS_IDS = 8
#: conversation columns of a packet: the quoted headers' for an ICMP error
CONVERSATION = ["a", "a_port", "b", "b_port", "proto"]


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


def _has(ip: str) -> pl.Expr:
    return (pl.col("a") == ip) | (pl.col("b") == ip)


def _client_term(finding: dict[str, Any], convs: pl.DataFrame) -> tuple[str | None, pl.Expr]:
    """The client socket's filter term, and which conversations it covers."""
    ip, port = finding["client_ip"], finding["client_port"]
    if ip is None:
        return None, pl.lit(False)
    server = finding["server_ip"]
    if finding["protocol"] == "arp":  # requests carry addresses in ARP's fields, not IP's
        return (f"arp.src.proto_ipv4=={ip} && arp.dst.proto_ipv4=={server}", pl.lit(False))
    if finding["protocol"] == "ndp":  # neighbour solicitations name the address asked for
        return (f"{_addr(ip)} && icmpv6.nd.ns.target_address=={server}", _has(ip))
    if port is None:
        if finding["protocol"] == "dns":
            return f"{_addr(ip)} && dns", _has(ip) & pl.col("dns_id").is_not_null()
        return _addr(ip), _has(ip)
    on_port = _has(ip) & ((pl.col("a_port") == port) | (pl.col("b_port") == port))
    number = PROTOCOL_NUMBERS.get(finding["protocol"])
    if number is None and finding["protocol"] != "dns":  # no ports Wireshark could match
        return _addr(ip), _has(ip)
    if number is None:  # DNS: over UDP, or TCP when its packets say so
        seen = convs.filter(on_port & pl.col("proto").is_in(list(PORT_FIELDS)))["proto"]
        number = int(seen.mode().min()) if len(seen) else 17  # type: ignore[arg-type]
    term = f"{_addr(ip)} && {PORT_FIELDS[number]}.port=={port}"
    ids = convs["dns_id"]
    if ids.len() and ids.null_count() == 0 and ids.n_unique() <= MAX_DNS_IDS:
        names = [f"0x{i:04x}" for i in sorted(ids.unique().to_list())]
        term += f" && dns.id=={names[0]}" if len(names) == 1 else (
            f" && dns.id in {{{','.join(names)}}}")  # commas: Wireshark 4
    return term, on_port & (pl.col("proto") == number)


def _conversation_term(a: str, a_port: int | None, b: str, b_port: int | None,
                       proto: int | None) -> str:
    parts = [_addr(a)] + ([_addr(b)] if b != a else [])
    field = PORT_FIELDS.get(proto or 0)
    if field is not None and a_port is not None and b_port is not None:
        parts += [f"{field}.port=={a_port}"] + (
            [f"{field}.port=={b_port}"] if b_port != a_port else [])
    return " && ".join(parts)


def display_filter(finding: dict[str, Any], packets: pl.DataFrame) -> str | None:
    """The display filter that shows `finding` (a findings row) given its evidence `packets`
    (packet-table rows); None when nothing in either names an address."""
    convs = conversations(packets)
    client, covered = _client_term(finding, convs)
    terms = [client] if client else []
    missed = convs.filter(~covered.fill_null(False) & pl.col("a").is_not_null()
                          & pl.col("b").is_not_null())
    # One term per conversation, whichever way its packets went.
    ordered = missed.select(
        pl.when(pl.col("a") <= pl.col("b")).then(c1).otherwise(c2).alias(name)
        for name, c1, c2 in (("a", "a", "b"), ("a_port", "a_port", "b_port"),
                             ("b", "b", "a"), ("b_port", "b_port", "a_port"))
    ).with_columns(missed["proto"]).unique().sort(CONVERSATION, nulls_last=True)
    terms += [_conversation_term(*row) for row in ordered.select(CONVERSATION).rows()]
    if len(terms) <= 1:
        return terms[0] if terms else None
    return " || ".join(f"({t})" for t in terms)


def with_filters(findings: pl.DataFrame, packets: pl.DataFrame) -> pl.DataFrame:
    """`findings` with `wireshark_filter` (`display_filter`) and `wireshark_decode_as`
    (`decode_as`), from `packets`: packet-table rows holding at least every evidence frame."""
    rows = evidence_keys(findings).join(packets, on=["capture", "frame"], how="inner")
    by_finding = rows.partition_by("finding", as_dict=True, include_key=False)
    empty = rows.clear().drop("finding")
    filters, flags = [], []
    for i, finding in enumerate(findings.iter_rows(named=True)):
        evidence = by_finding.get((i,), empty)
        filters.append(display_filter(finding, evidence))
        flags.append(decode_as(evidence))
    return findings.with_columns(
        pl.Series("wireshark_filter", filters, pl.String),
        pl.Series("wireshark_decode_as", flags, pl.List(pl.String)))

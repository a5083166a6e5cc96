"""The flow stage's schemas, declared in one place: what it adds to the packet table, and the
tables it builds. Each column is (name, dtype, meaning); the order here is the order of the table.
"""

from __future__ import annotations

from enum import IntFlag, StrEnum

import polars as pl

from pcapkit.decode.schema import DNS_ANSWER, PACKET_SCHEMA


def _schema(columns: list[tuple[str, pl.DataType, str]]) -> pl.Schema:
    return pl.Schema([(name, dtype) for name, dtype, _ in columns])


# --- views ----------------------------------------------------------------------------------

#: One row per view: one interface of one capture, where each packet is seen at most once, its
#: encapsulated packets apart (`pcapkit.flows.views`).
VIEW_COLUMNS: list[tuple[str, pl.DataType, str]] = [
    ("view", pl.UInt32(), "view id, numbered in (capture, iface, sll_ifindex, tunnel) order"),
    ("capture", pl.UInt16(), "the capture the view belongs to"),
    ("iface", pl.UInt16(), "interface index in the file (pcapng IDB order; 0 for pcap)"),
    ("sll_ifindex", pl.Int32(), "LINUX_SLL2 interface index (null for other link types)"),
    ("tunnel", PACKET_SCHEMA["tunnel"], "the encapsulation its packets were seen in, if any"),
    ("link_type", pl.UInt16(), "link-layer header type of the interface"),
    ("packets", pl.UInt32(), "packets in the view"),
    ("tunneled", pl.UInt32(), "packets that came encapsulated (an underlay NIC carries them)"),
    ("other_host", pl.UInt32(), "IP packets received for another host's link address (SLL "
                                "packet type 3): a bridge port, such as a pod's veth, shows them"),
]
VIEWS: pl.Schema = _schema(VIEW_COLUMNS)

#: Per view, which addresses send the unencapsulated IP packets it received and sent, to whom:
#: whether the node's own pods send into it (a veth, the bridge) or out of it (the overlay
#: device) tells what the interface is (`pcapkit/kube/places.py`).
SOURCE_COLUMNS: list[tuple[str, pl.DataType, str]] = [
    ("view", pl.UInt32(), "the view"),
    ("direction", pl.UInt8(), "1 inbound, 2 outbound"),
    ("src", pl.String(), "source address"),
    ("dst", pl.String(), "destination address (before or after DNAT, as seen there)"),
    ("packets", pl.UInt32(), "packets"),
]
VIEW_SOURCES: pl.Schema = _schema(SOURCE_COLUMNS)

#: One row per capture: when it starts and ends. Detectors that ask "did the capture go on long
#: enough after this?" read it, so that they need no packet table of their own.
SPAN_COLUMNS: list[tuple[str, pl.DataType, str]] = [
    ("capture", pl.UInt16(), "the capture"),
    ("first_ts_ns", pl.Int64(), "its first packet"),
    ("last_ts_ns", pl.Int64(), "its last packet"),
    ("packets", pl.UInt64(), "its packets"),
]
SPANS: pl.Schema = _schema(SPAN_COLUMNS)


# --- columns added to the packet table --------------------------------------------------------


class TcpAnalysis(IntFlag):
    """Wireshark's per-segment TCP analysis classes (`tcp.analysis.*`), as one bit each.

    The first four are exclusive, as in Wireshark (`tcp_analyze_sequence_number` stops at the
    first that applies, in the order fast retransmission, out-of-order, spurious, retransmission).
    """

    RETRANSMISSION = 0x0001  #: tcp.analysis.retransmission (the plain kind)
    FAST_RETRANSMISSION = 0x0002  #: tcp.analysis.fast_retransmission
    SPURIOUS_RETRANSMISSION = 0x0004  #: tcp.analysis.spurious_retransmission
    OUT_OF_ORDER = 0x0008  #: tcp.analysis.out_of_order
    KEEP_ALIVE = 0x0010  #: tcp.analysis.keep_alive
    KEEP_ALIVE_ACK = 0x0020  #: tcp.analysis.keep_alive_ack
    WINDOW_UPDATE = 0x0040  #: tcp.analysis.window_update
    ZERO_WINDOW = 0x0080  #: tcp.analysis.zero_window
    ZERO_WINDOW_PROBE = 0x0100  #: tcp.analysis.zero_window_probe
    ZERO_WINDOW_PROBE_ACK = 0x0200  #: tcp.analysis.zero_window_probe_ack
    DUPLICATE_ACK = 0x0400  #: tcp.analysis.duplicate_ack
    LOST_SEGMENT = 0x0800  #: tcp.analysis.lost_segment (a gap before this segment)
    ACK_LOST_SEGMENT = 0x1000  #: tcp.analysis.ack_lost_segment (acks data not seen)


PACKET_COLUMNS: list[tuple[str, pl.DataType, str]] = [
    ("view", pl.UInt32(), "the packet's view (capture, iface, sll_ifindex, tunnel), see VIEWS"),
    ("conn", pl.UInt32(), "TCP connection id, shared by its copies in every view and capture "
     "(null for a copy of a packet within its view, `pcapkit.flows.views.tcp_copies`)"),
    ("from_client", pl.Boolean(), "TCP: sent by the connection's client (null for non-TCP)"),
    ("tcp_analysis", pl.UInt16(), "TCP: Wireshark's analysis flags (`TcpAnalysis` bits), per view"),
]
PACKET_EXTRA: pl.Schema = _schema(PACKET_COLUMNS)


# --- CONNECTIONS ------------------------------------------------------------------------------


class ConnState(StrEnum):
    """Zeek's `conn_state` (base/protocols/conn/main.zeek), computed by Zeek's rules."""

    S0 = "S0"  #: SYN seen, no reply
    S1 = "S1"  #: established, not terminated
    SF = "SF"  #: normal establishment and termination (or FINs both ways mid-stream)
    REJ = "REJ"  #: connection attempt rejected (RST answering the SYN)
    S2 = "S2"  #: established, close attempt by the originator only
    S3 = "S3"  #: established, close attempt by the responder only
    RSTO = "RSTO"  #: established, the originator aborted (sent an RST)
    RSTR = "RSTR"  #: the responder sent an RST
    RSTOS0 = "RSTOS0"  #: originator sent a SYN then an RST, no SYN-ACK seen
    RSTRH = "RSTRH"  #: responder sent a SYN-ACK then an RST, no SYN seen
    SH = "SH"  #: originator sent a SYN then a FIN, no SYN-ACK seen (half open)
    SHR = "SHR"  #: responder sent a SYN-ACK then a FIN, no SYN seen
    OTH = "OTH"  #: no SYN seen, mid-stream traffic


CONNECTION_COLUMNS: list[tuple[str, pl.DataType, str]] = [
    ("conn", pl.UInt32(), "connection id (same in every view and capture that saw it)"),
    ("view", pl.UInt32(), "the view this row describes (two rows when NAT split it, tcp.py)"),
    ("capture", pl.UInt16(), "the view's capture"),
    ("client_ip", pl.String(), "sender of the SYN; without one, the side with the higher port"),
    ("client_port", pl.UInt16(), "client port"),
    ("server_ip", pl.String(), "the other side, as this view sees it (after DNAT if any)"),
    ("server_port", pl.UInt16(), "server port"),
    ("first_ts_ns", pl.Int64(), "first packet of the connection in this view"),
    ("last_ts_ns", pl.Int64(), "last packet in this view"),
    ("first_frame", pl.UInt32(), "frame number of the first packet"),
    ("packets_c2s", pl.UInt32(), "packets client → server"),
    ("packets_s2c", pl.UInt32(), "packets server → client"),
    ("bytes_c2s", pl.UInt64(), "TCP payload bytes client → server (retransmissions counted)"),
    ("bytes_s2c", pl.UInt64(), "TCP payload bytes server → client"),
    ("client_isn", pl.UInt32(), "sequence number of the client's first SYN (null: none seen)"),
    ("server_isn", pl.UInt32(), "sequence number of the server's first SYN-ACK"),
    ("answer_ack", pl.UInt32(), "ACK of the server's first SYN-ACK, else RST: client ISN + 1"),
    ("syn_count", pl.UInt32(), "SYNs (without ACK) from the client, retransmissions included"),
    ("synack_count", pl.UInt32(), "SYN-ACKs from the server"),
    ("fin_from_client", pl.UInt32(), "FIN segments from the client"),
    ("fin_from_server", pl.UInt32(), "FIN segments from the server"),
    ("rst_from_client", pl.UInt32(), "RST segments from the client"),
    ("rst_from_server", pl.UInt32(), "RST segments from the server"),
    ("syn_synack_ns", pl.Int64(), "first SYN-ACK minus the last SYN before it, as seen here"),
    ("synack_ack_ns", pl.Int64(), "client's first ACK of the SYN-ACK minus that SYN-ACK"),
    ("zero_win_c2s", pl.UInt32(), "client segments advertising window 0 (not SYN/FIN/RST)"),
    ("zero_win_s2c", pl.UInt32(), "server segments advertising window 0"),
    ("conn_state", pl.Enum([s.value for s in ConnState]), "Zeek's conn_state, by Zeek's rules"),
    ("history", pl.String(), "Zeek's history letters s h a d f r (upper case: client)"),
]
CONNECTIONS: pl.Schema = _schema(CONNECTION_COLUMNS)


# --- DNS_TRANSACTIONS (owned by the DNS/ICMP half) ---------------------------------------------

#: one frame of one capture, as evidence cites it
FRAME = pl.Struct({"capture": pl.UInt16, "frame": pl.UInt32})

#: One row per DNS transaction, merged over views and captures (rules: pcapkit/flows/dns.py).
DNS_COLUMNS: list[tuple[str, pl.DataType, str]] = [
    ("txn", pl.UInt32(), "transaction id, in time order"),
    ("ts_ns", pl.Int64(), "first query copy (or first response, when no query was seen)"),
    ("proto", pl.String(), "udp or tcp"),
    ("client_ip", pl.String(), "the querying address"),
    ("client_port", pl.UInt16(), "the querying port"),
    ("server_ip", pl.String(), "the address the client sent to (earliest query's destination)"),
    ("server_port", pl.UInt16(), "its port"),
    ("server_ips", pl.List(pl.String()), "every server address seen (ClusterIP, CoreDNS pod IP)"),
    ("dns_id", pl.UInt16(), "DNS transaction id"),
    ("qname", pl.String(), "first question's name, as the query spelled it"),
    ("qtype", pl.UInt16(), "first question's type"),
    ("query_ts_ns", pl.Int64(), "first copy of the query (null: response only)"),
    ("response_ts_ns", pl.Int64(), "first response (null: unanswered)"),
    ("latency_ns", pl.Int64(), "first response − first query copy, in the view nearest the client"),
    ("answered", pl.Boolean(), "a response reached the view nearest the client"),
    ("response_seen", pl.Boolean(), "a response was seen in some view (maybe lost after it)"),
    ("queries", pl.UInt32(), "copies of the query (the most any one view saw)"),
    ("resent", pl.UInt32(), "copies beyond the first"),
    ("answered_after", pl.UInt32(), "copies sent before the first response (2+: after a resend)"),
    ("responses", pl.UInt32(), "responses (more than 1: duplicates)"),
    ("rcode", pl.UInt8(), "the first response's rcode (`DnsRcode`), nearest the client"),
    ("query_flags", pl.UInt16(), "the query's flags word"),
    ("response_flags", pl.UInt16(), "the first response's flags word"),
    ("answers", pl.List(DNS_ANSWER), "the first response's answer records"),
    ("lookup", pl.UInt32(), "the application lookup it is a step of (search_path.py)"),
    ("search_expansion_of", pl.String(), "the name the application asked for, when searched"),
    ("resolved_as", pl.String(), "the lookup's first NOERROR name, else the name asked for"),
    ("views", pl.UInt32(), "views (interfaces of captures) it was seen in"),
    ("query_frames", pl.List(FRAME), "every copy of the query, in every view"),
    ("response_frames", pl.List(FRAME), "every response, in every view"),
]
DNS_TRANSACTIONS: pl.Schema = _schema(DNS_COLUMNS)

#: Per view, DNS client side and server side: the messages each way (what a DNS conversation's
#: path is made of, as CONNECTIONS rows are a TCP connection's).
DNS_VIEW_COLUMNS: list[tuple[str, pl.DataType, str]] = [
    ("view", pl.UInt32(), "the view"),
    ("capture", pl.UInt16(), "the view's capture"),
    ("proto", pl.String(), "udp or tcp"),
    ("client_ip", pl.String(), "the querying address"),
    ("client_port", pl.UInt16(), "the querying port"),
    ("server_ip", pl.String(), "the server side as this view sees it (after DNAT if any)"),
    ("server_port", pl.UInt16(), "its port"),
    ("packets_c2s", pl.UInt32(), "queries (every copy)"),
    ("packets_s2c", pl.UInt32(), "responses"),
    ("first_ts_ns", pl.Int64(), "first message here"),
    ("last_ts_ns", pl.Int64(), "last message here"),
]
DNS_VIEW_ROWS: pl.Schema = _schema(DNS_VIEW_COLUMNS)

# --- ICMP_ERRORS (owned by the DNS/ICMP half) --------------------------------------------------

#: One row per ICMP/ICMPv6 error, merged over views and captures (rules: pcapkit/flows/icmp.py).
ICMP_COLUMNS: list[tuple[str, pl.DataType, str]] = [
    ("err", pl.UInt32(), "error id, in time order"),
    ("ts_ns", pl.Int64(), "first copy"),
    ("ip_version", pl.UInt8(), "4 (ICMP) or 6 (ICMPv6)"),
    ("icmp_type", pl.UInt8(), "ICMP type"),
    ("icmp_code", pl.UInt8(), "ICMP code"),
    ("type_name", pl.String(), "`IcmpType` / `Icmp6Type` name (DEST_UNREACH, PACKET_TOO_BIG…)"),
    ("code_name", pl.String(), "code name (PORT, FRAG_NEEDED, TTL…) or CODE_<n>"),
    ("reporter", pl.String(), "the error's source in its earliest copy (where it was made)"),
    ("reporters", pl.List(pl.String()), "every source address seen (conntrack rewrites it)"),
    ("reported_to", pl.String(), "the error's destination: the quoted packet's sender"),
    ("mtu", pl.UInt32(), "next-hop MTU (frag-needed) or packet-too-big MTU"),
    ("q_src", pl.String(), "quoted source: the flow's client side"),
    ("q_sport", pl.UInt16(), "quoted source port"),
    ("q_dst", pl.String(), "quoted destination, as the copy nearest the client shows it"),
    ("q_dport", pl.UInt16(), "quoted destination port"),
    ("q_proto", pl.UInt8(), "quoted IP protocol"),
    ("tunnel", pl.String(), "encapsulation the error itself came through, in any view"),
    ("flow_tunnel", pl.String(), "encapsulation any packet of the quoted flow came through"),
    ("flow_packets", pl.UInt32(), "packets sent from the quoted client socket, every view"),
    ("conn", pl.UInt32(), "the TCP connection of the last such packet before the error"),
    ("views", pl.UInt32(), "views it was seen in"),
    ("frames", pl.List(FRAME), "every copy, in every view"),
]
ICMP_ERRORS: pl.Schema = _schema(ICMP_COLUMNS)

# --- PROBES -------------------------------------------------------------------------------------

#: One row per echo request or neighbour request (ARP, IPv6 neighbour solicitation) sent, merged
#: over views and captures, and whether it was answered (rules: pcapkit/flows/probes.py).
PROBE_COLUMNS: list[tuple[str, pl.DataType, str]] = [
    ("probe", pl.String(), "echo (ICMP/ICMPv6 echo), arp, or ndp (neighbour solicitation)"),
    ("asker", pl.String(), "who asked: the request's source (ARP: sender address), earliest copy"),
    ("target", pl.String(), "the echo's destination; the address ARP or ND asks for"),
    ("ident", pl.UInt16(), "echo identifier (null for arp, ndp)"),
    ("seq", pl.UInt16(), "echo sequence number (null for arp, ndp)"),
    ("capture", pl.UInt16(), "the capture of the earliest copy (neighbour requests: their "
                             "capture, each capture's copies a row of their own)"),
    ("ts_ns", pl.Int64(), "the earliest copy"),
    ("copies", pl.UInt32(), "copies seen, every view"),
    ("answered", pl.Boolean(), "an answer was seen (echo reply, ARP reply, neighbour advert)"),
    ("reply_ts_ns", pl.Int64(), "the first answer"),
    ("frames", pl.List(FRAME), "every copy of the request, in every view"),
]
PROBES: pl.Schema = _schema(PROBE_COLUMNS)

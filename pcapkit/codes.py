"""Protocol codes as enums, so that frames and reports print names, not numbers."""

from __future__ import annotations

from enum import IntEnum, IntFlag


def code_name(enum: type[IntEnum], value: int) -> str:
    """`value`'s name in `enum`, lower case (`handshake_failure`), or the number when the enum
    does not know it (a code from a newer RFC, or garbage)."""
    try:
        return enum(value).name.lower()
    except ValueError:
        return str(value)


class LinkType(IntEnum):
    """Link-layer header types (tcpdump.org/linktypes.html) that pcapkit decodes."""

    NULL = 0  #: BSD loopback: 4-byte address family in the host's byte order
    EN10MB = 1  #: Ethernet II, with 802.1Q / QinQ tags
    RAW = 101  #: raw IPv4 or IPv6, version from the first nibble
    RAW_12 = 12  #: DLT_RAW as OpenBSD numbers it; same as RAW
    RAW_14 = 14  #: DLT_RAW as BSD/OS numbers it; same as RAW
    LOOP = 108  #: OpenBSD loopback: 4-byte address family, network byte order
    LINUX_SLL = 113  #: Linux cooked capture v1 (`tcpdump -i any` before libpcap 1.10)
    IPV4 = 228  #: raw IPv4
    IPV6 = 229  #: raw IPv6
    LINUX_SLL2 = 276  #: Linux cooked capture v2: interface index and packet type

    @classmethod
    def name_of(cls, value: int) -> str:
        """The linktype name tcpdump prints, or `LINKTYPE_<n>` for one we do not decode."""
        try:
            member = cls(value)
        except ValueError:
            return f"LINKTYPE_{value}"
        return "RAW" if member in (cls.RAW_12, cls.RAW_14) else member.name


class EtherType(IntEnum):
    """EtherTypes met on the way to an IP header."""

    IPV4 = 0x0800
    ARP = 0x0806
    VLAN = 0x8100  #: 802.1Q tag
    QINQ = 0x88A8  #: 802.1ad service tag
    QINQ_OLD = 0x9100  #: pre-standard QinQ tag
    IPV6 = 0x86DD
    TEB = 0x6558  #: transparent Ethernet bridging (GRE carrying Ethernet)


class IpProto(IntEnum):
    """IP protocol numbers."""

    HOPOPT = 0
    ICMP = 1
    IPIP = 4  #: IPv4 in IP (Calico's IP-in-IP mode)
    TCP = 6
    UDP = 17
    IPV6 = 41  #: IPv6 in IP
    ROUTING = 43
    FRAGMENT = 44
    GRE = 47
    ESP = 50
    AH = 51
    ICMPV6 = 58
    NONE = 59
    DSTOPTS = 60
    SCTP = 132


class TcpFlags(IntFlag):
    """TCP header flags, in the bit positions of the 12-bit flags field."""

    FIN = 0x001
    SYN = 0x002
    RST = 0x004
    PSH = 0x008
    ACK = 0x010
    URG = 0x020
    ECE = 0x040
    CWR = 0x080
    AE = 0x100  #: accurate ECN (formerly NS)


class SllPacketType(IntEnum):
    """Linux cooked-capture packet types: which way the packet went on that interface."""

    HOST = 0  #: addressed to this host (incoming)
    BROADCAST = 1
    MULTICAST = 2
    OTHERHOST = 3  #: to someone else, seen in promiscuous mode
    OUTGOING = 4  #: sent by this host


class DnsRcode(IntEnum):
    """DNS response codes (RFC 1035, 2136)."""

    NOERROR = 0  #: no error
    FORMERR = 1  #: the server could not parse the query
    SERVFAIL = 2  #: the server failed (upstream unreachable, DNSSEC failure…)
    NXDOMAIN = 3  #: the name does not exist
    NOTIMP = 4  #: query kind not implemented
    REFUSED = 5  #: the server refuses to answer (policy)
    YXDOMAIN = 6
    YXRRSET = 7
    NXRRSET = 8
    NOTAUTH = 9
    NOTZONE = 10


class DnsType(IntEnum):
    """DNS record types met in cluster traffic."""

    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    MX = 15
    TXT = 16
    AAAA = 28
    SRV = 33
    OPT = 41
    HTTPS = 65
    ANY = 255


class IcmpType(IntEnum):
    """ICMPv4 types (RFC 792)."""

    ECHO_REPLY = 0
    DEST_UNREACH = 3
    SOURCE_QUENCH = 4  #: deprecated (RFC 6633), still quoted as an error
    REDIRECT = 5
    ECHO_REQUEST = 8
    TIME_EXCEEDED = 11
    PARAM_PROBLEM = 12


class ArpOp(IntEnum):
    """ARP operations (RFC 826)."""

    REQUEST = 1
    REPLY = 2


class IcmpUnreachCode(IntEnum):
    """ICMPv4 destination-unreachable codes."""

    NET = 0
    HOST = 1
    PROTOCOL = 2
    PORT = 3
    FRAG_NEEDED = 4  #: "fragmentation needed and DF set": carries the next-hop MTU
    SRC_ROUTE = 5
    NET_PROHIBITED = 9
    HOST_PROHIBITED = 10
    ADMIN_PROHIBITED = 13  #: what `iptables -j REJECT --reject-with icmp-admin-prohibited` sends


class Icmp6Type(IntEnum):
    """ICMPv6 types (RFC 4443)."""

    DEST_UNREACH = 1
    PACKET_TOO_BIG = 2  #: carries the MTU
    TIME_EXCEEDED = 3
    PARAM_PROBLEM = 4
    ECHO_REQUEST = 128
    ECHO_REPLY = 129
    NEIGHBOR_SOLICIT = 135  #: who has the target address (IPv6's ARP request)
    NEIGHBOR_ADVERT = 136  #: the target address is here (IPv6's ARP reply)


class Icmp6UnreachCode(IntEnum):
    """ICMPv6 destination-unreachable codes (RFC 4443)."""

    NO_ROUTE = 0
    ADMIN_PROHIBITED = 1  #: what `ip6tables -j REJECT --reject-with icmp6-adm-prohibited` sends
    BEYOND_SCOPE = 2
    ADDRESS = 3
    PORT = 4
    SRC_POLICY = 5
    REJECT_ROUTE = 6


class TimeExceededCode(IntEnum):
    """Time-exceeded codes, the same for ICMPv4 (type 11) and ICMPv6 (type 3)."""

    TTL = 0  #: hop limit reached zero in transit (a routing loop, or traceroute)
    REASSEMBLY = 1  #: fragments did not all arrive in time


class TlsContentType(IntEnum):
    """TLS record content types (RFC 8446 §5.1, RFC 6520)."""

    CHANGE_CIPHER_SPEC = 20
    ALERT = 21  #: two bytes, level and description, unless encrypted (TLS 1.3: always)
    HANDSHAKE = 22
    APPLICATION_DATA = 23
    HEARTBEAT = 24


class TlsAlertLevel(IntEnum):
    """TLS alert levels (RFC 5246 §7.2)."""

    WARNING = 1
    FATAL = 2  #: the connection ends


class TlsAlert(IntEnum):
    """TLS alert descriptions (RFC 8446 §6, RFC 5246 §7.2): why a handshake or connection
    ended, the answer to "why does the client get a reset after ClientHello"."""

    CLOSE_NOTIFY = 0
    UNEXPECTED_MESSAGE = 10
    BAD_RECORD_MAC = 20
    DECRYPTION_FAILED = 21
    RECORD_OVERFLOW = 22
    DECOMPRESSION_FAILURE = 30
    HANDSHAKE_FAILURE = 40  #: no cipher suite or group in common
    NO_CERTIFICATE = 41
    BAD_CERTIFICATE = 42
    UNSUPPORTED_CERTIFICATE = 43
    CERTIFICATE_REVOKED = 44
    CERTIFICATE_EXPIRED = 45
    CERTIFICATE_UNKNOWN = 46
    ILLEGAL_PARAMETER = 47
    UNKNOWN_CA = 48  #: the peer does not trust the issuer (a mesh's CA not mounted, say)
    ACCESS_DENIED = 49
    DECODE_ERROR = 50
    DECRYPT_ERROR = 51
    EXPORT_RESTRICTION = 60
    PROTOCOL_VERSION = 70
    INSUFFICIENT_SECURITY = 71
    INTERNAL_ERROR = 80
    INAPPROPRIATE_FALLBACK = 86
    USER_CANCELED = 90
    NO_RENEGOTIATION = 100
    MISSING_EXTENSION = 109
    UNSUPPORTED_EXTENSION = 110
    CERTIFICATE_UNOBTAINABLE = 111
    UNRECOGNIZED_NAME = 112  #: SNI names no host the server serves
    BAD_CERTIFICATE_STATUS_RESPONSE = 113
    BAD_CERTIFICATE_HASH_VALUE = 114
    UNKNOWN_PSK_IDENTITY = 115
    CERTIFICATE_REQUIRED = 116  #: mTLS: the client sent no certificate
    NO_APPLICATION_PROTOCOL = 120  #: ALPN: no protocol in common (h2 asked of an HTTP/1 server)


class Http2Error(IntEnum):
    """HTTP/2 error codes (RFC 9113 §7), carried by RST_STREAM (one stream) and GOAWAY (the
    connection): why a request ended without its response."""

    NO_ERROR = 0  #: a graceful end (a GOAWAY when the server drains)
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2  #: the peer failed (a proxy whose upstream went away, often)
    FLOW_CONTROL_ERROR = 3
    SETTINGS_TIMEOUT = 4
    STREAM_CLOSED = 5
    FRAME_SIZE_ERROR = 6
    REFUSED_STREAM = 7  #: not processed, safe to retry (a server shutting down)
    CANCEL = 8  #: the stream is no longer needed (a client's deadline passed)
    COMPRESSION_ERROR = 9
    CONNECT_ERROR = 10
    ENHANCE_YOUR_CALM = 11  #: too many requests, pings or resets from this peer
    INADEQUATE_SECURITY = 12
    HTTP_1_1_REQUIRED = 13


class GrpcStatus(IntEnum):
    """gRPC status codes (grpc/doc/statuscodes.md), sent in the `grpc-status` trailer: 0 is
    success; the rest is what the application or the proxy in front of it says failed."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4  #: the call's deadline passed before it completed
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12  #: no such method on the server: the wrong Service behind a name?
    INTERNAL = 13
    UNAVAILABLE = 14  #: no backend could take the call (no ready endpoint, connection refused)
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

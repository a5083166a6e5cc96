"""One conversation chosen by hand, for `show --flow`/`--conn` and `extract --flow`: a 5-tuple as
some capture saw it (`parse_flow`), or a TCP connection of the analysis (`connection_flows`: its
5-tuple in each view, NAT legs included), and the frames of every capture that belong to it
(`flow_frames`).

A flow's frames are its packets both ways, inside tunnels too, the ICMP errors that quote them,
and the other conversations of its client socket over the same protocol: the legs DNAT gave it
(client → ClusterIP in the pod, client → endpoint past the node), which keep the client's
address and port. That is the display filter's rule (`display_filter`), so it may show more:
a later conversation that reused the client port. A leg whose client side masquerading
rewrote (a NodePort's, a hairpin's) is another client socket: the connection id has it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from pcapkit.decode import decode
from pcapkit.errors import UsageError
from pcapkit.read import read_capture
from pcapkit.wireshark.decode_as import decode_as
from pcapkit.wireshark.display_filter import PROTOCOL_NUMBERS, conversations

#: `ip:port` or `[ipv6]:port`
ENDPOINT = r"(?:\[(?P<{0}6>[0-9A-Fa-f:.]+)\]|(?P<{0}4>[0-9.]+)):(?P<{0}port>\d{{1,5}})"
PROTOCOL = "|".join(PROTOCOL_NUMBERS)
#: `tcp A:P B:P` (as `extract --flow` took it first), or `A:P-B:P/tcp` (as Zeek and
#: conntrack print a flow)
SPELLINGS = [re.compile(rf"^(?P<proto>{PROTOCOL})\s+{ENDPOINT.format('a')}\s+"
                        rf"{ENDPOINT.format('b')}$"),
             re.compile(rf"^{ENDPOINT.format('a')}-{ENDPOINT.format('b')}/(?P<proto>{PROTOCOL})$")]
USAGE = ("expected 'tcp|udp CLIENT_IP:PORT SERVER_IP:PORT' or "
         "CLIENT_IP:PORT-SERVER_IP:PORT/tcp|udp (IPv6 as [addr]:port)")


@dataclass(frozen=True)
class Flow:
    """A 5-tuple as some capture saw it: `protocol` `tcp` or `udp`, the client first."""

    protocol: str
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int

    def __str__(self) -> str:
        def end(ip: str, port: int) -> str:
            return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

        return f"{end(self.client_ip, self.client_port)}-" \
               f"{end(self.server_ip, self.server_port)}/{self.protocol}"


def parse_flow(text: str) -> Flow:
    """`tcp 10.244.1.10:40001 10.96.0.50:80` or `10.244.1.10:40001-10.96.0.50:80/tcp` as a
    `Flow`; `UsageError` (exit 2) for anything else."""
    for spelling in SPELLINGS:
        m = spelling.match(text.strip())
        if m:
            return Flow(m["proto"], m["a6"] or m["a4"], int(m["aport"]), m["b6"] or m["b4"],
                        int(m["bport"]))
    raise UsageError(f"--flow {text!r}: {USAGE}")


def connection_flows(connections: pl.DataFrame, conn: int) -> list[Flow]:
    """TCP connection `conn` of a connection table (`Analysis.tables.connections`, the HTML
    report's `conn`) as the 5-tuple of each view that saw it; `UsageError` when there is none."""
    rows = connections.filter(pl.col("conn") == conn).select(
        "client_ip", "client_port", "server_ip", "server_port").unique().sort(pl.all())
    if rows.is_empty():
        raise UsageError(f"--conn {conn}: no TCP connection of that id (the `conn` column of the "
                         f"HTML report's connection table)")
    return [Flow("tcp", *row) for row in rows.rows()]


def flow_frames(packets: pl.DataFrame, flows: Sequence[Flow]) -> dict[int, list[int]]:
    """The frames of `packets` (packet-table rows with their `capture`) that belong to one of
    `flows` (see the module docstring), by capture index, sorted; none when no packet has
    one of the 5-tuples themselves."""
    def end(side: str, ip: str, port: int) -> pl.Expr:
        return (pl.col(side) == ip) & (pl.col(f"{side}_port") == port)

    exact = legs = pl.lit(False)
    for flow in flows:
        proto = pl.col("proto") == PROTOCOL_NUMBERS[flow.protocol]
        client = (flow.client_ip, flow.client_port)
        server = (flow.server_ip, flow.server_port)
        exact = exact | proto & ((end("a", *client) & end("b", *server))
                                 | (end("a", *server) & end("b", *client)))
        legs = legs | proto & (end("a", *client) | end("b", *client))
    convs = conversations(packets).with_columns(packets.select("capture", "frame"))
    if convs.filter(exact).is_empty():
        return {}
    return {c: sorted(f) for c, f in
            convs.filter(legs).group_by("capture").agg("frame").sort("capture").rows()}


def capture_packets(paths: Sequence[str]) -> pl.DataFrame:
    """The packet tables of the captures `paths`, one after the other (`capture`: the index)."""
    return pl.concat([decode(read_capture(p), i) for i, p in enumerate(paths)])


def select(packets: pl.DataFrame, flows: Sequence[Flow], what: str,
           ) -> tuple[dict[int, list[int]], list[str]]:
    """`flow_frames` of `flows`, and the decode-as flags Wireshark needs to see them;
    `UsageError` naming `what` when no capture has the flow."""
    frames = flow_frames(packets, flows)
    if not frames:
        raise UsageError(f"{what}: no packet of that flow in the captures")
    keys = pl.DataFrame([(c, f) for c, numbers in frames.items() for f in numbers],
                        schema={"capture": packets["capture"].dtype,
                                "frame": packets["frame"].dtype}, orient="row")
    return frames, decode_as(packets.join(keys, on=["capture", "frame"]))

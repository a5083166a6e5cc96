"""How much each symptom hurt: the failed share of the attempts made to what it hit.

A symptom's `impact` is its target's (the Service, else the server dialled, `groups.target`),
counted in the unit the symptom is about:

- `connections`: TCP connections to the target's addresses as the client dialled them
  (the connection table, each connection once however many captures saw it). `failed` are the
  distinct conversations that an error-severity symptom at the target says failed; `affected`
  those with any symptom. A connection some view saw close normally (Zeek's `SF`: both FINs)
  worked whatever its symptoms (an ICMP error it recovered from, retransmissions); so did one
  still open when the captures stopped (no FIN, no RST) whose symptoms are of the packets layer
  (`retransmission`, `zero_window`): degraded, not failed. A handshake that failed
  (`handshake_failed`) failed. UDP conversations have no table: their attempts are the affected
  ones.
- `lookups`: DNS lookups sent to the target's addresses, as the DNS table's `lookup` column
  groups them (a search-path expansion's steps are one; a query re-sent from a new socket, as
  glibc does after a timeout, is another). `failed`: no step got a NOERROR answer.
- `probes`: echo and neighbour requests, as the symptom counted them (`requests`, `answered`).

Ranking by impact puts three Services failing every connection above one lost lookup of 76:
the most failed attempts first, then the larger share, then the most affected (a Service whose
connections all worked but were slowed by loss ranks below one that lost any).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pcapkit.codes import DnsRcode
from pcapkit.report.groups import LAYERS, target

#: the symptom kinds counted in probes (the DNS layer's are counted in lookups)
PROBE_KINDS = ("arp_unanswered", "icmp_echo_unanswered")

Impact = dict[str, Any]


def unit(s: dict[str, Any]) -> str:
    """What a symptom's impact is counted in."""
    if s["kind"] in PROBE_KINDS:
        return "probes"
    if LAYERS.get(s["kind"]) == "DNS" or s.get("protocol") == "dns":
        return "lookups"
    return "connections"


def impacts(symptoms: list[dict[str, Any]], connections: pl.DataFrame,
            dns: pl.DataFrame) -> dict[tuple[str, str], Impact]:
    """The impact of each (target, unit) that has symptoms."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in symptoms:
        groups.setdefault((target(s), unit(s)), []).append(s)
    closed, still_open = _ends(connections, symptoms)
    slowed = closed | still_open
    out = {}
    for (name, u), rows in groups.items():
        if u == "probes":
            attempts = sum(int(s.get("requests", s["count"])) for s in rows)
            failed = sum(int(s.get("requests", s["count"])) - int(s.get("answered", 0))
                         for s in rows)
            affected = failed
        elif u == "lookups":
            attempts, failed = _lookups(dns, {s["server"] for s in rows if s.get("server")})
            affected = failed
        else:
            affected = len({(s.get("client"), s.get("server")) for s in rows})
            failed = len({(s.get("client"), s.get("server")) for s in rows
                          if _fails(s, closed, slowed)})
            tcp = {s["server"] for s in rows if s.get("protocol") == "tcp" and s.get("server")}
            attempts = max(_connections(connections, tcp), affected)
        out[(name, u)] = {"target": name, "unit": u, "failed": failed, "affected": affected,
                          "attempts": attempts,
                          "share": round(failed / attempts, 3) if attempts else None}
    return out


def rank(impact: Impact) -> tuple[int, float, int]:
    """Sort key, worst first: the most failed attempts, the largest failed share, the most
    affected."""
    return (-impact["failed"], -(impact["share"] or 0.0), -impact["affected"])


def _fails(s: dict[str, Any], closed: set[int], slowed: set[int]) -> bool:
    """Whether a symptom says its conversation failed, not only that it went badly: a
    connection some view saw close normally worked (`closed`), and so did one a packets-layer
    symptom (loss, a zero window) only slowed (`slowed`: closed, or still open when the captures
    stopped)."""
    if s.get("handshake_failed"):
        return True
    if s["severity"] != "error":
        return False
    conns = set(s.get("conns") or ())
    worked = slowed if LAYERS.get(s["kind"]) == "packets" else closed
    return not (conns and conns <= worked)


def _ends(connections: pl.DataFrame, symptoms: list[dict[str, Any]]) -> tuple[set[int], set[int]]:
    """Of the symptoms' connections, (those some view saw close normally, Zeek's `SF`; those no
    view saw end: no FIN, no RST)."""
    conns = {c for s in symptoms for c in s.get("conns") or ()}
    if not conns or connections.is_empty():
        return set(), set()
    ended = pl.any_horizontal(pl.col(ENDS) > 0)
    # the columns read only: a filter copies every column of what it keeps
    per_conn = (connections.select("conn", "conn_state", *ENDS)
                .filter(pl.col("conn").is_in(list(conns)))
                .group_by("conn").agg((pl.col("conn_state") == "SF").any().alias("closed"),
                                      ended.any().alias("ended")))
    return (set(per_conn.filter("closed")["conn"].to_list()),
            set(per_conn.filter(~pl.col("ended"))["conn"].to_list()))


#: a connection's counts of the packets that end it
ENDS = ["fin_from_client", "fin_from_server", "rst_from_client", "rst_from_server"]


def _endpoint(ip: str, port: str) -> pl.Expr:
    """`ip:port` as `document.endpoint_text` writes it, as an expression."""
    return (pl.when(pl.col(ip).str.contains(":", literal=True))
            .then(pl.format("[{}]:{}", ip, port)).otherwise(pl.format("{}:{}", ip, port)))


def _connections(connections: pl.DataFrame, servers: set[str]) -> int:
    """TCP connections any row of which dialled one of `servers`."""
    if not servers or connections.is_empty():
        return 0
    # the connections' ids, not their rows: a filter copies every column of what it keeps
    hit = _endpoint("server_ip", "server_port").is_in(list(servers))
    return int(connections.select(pl.col("conn").filter(hit).n_unique()).item())


def _lookups(dns: pl.DataFrame, servers: set[str]) -> tuple[int, int]:
    """(lookups sent to one of `servers`, lookups none of whose steps got a NOERROR answer)."""
    if not servers or dns.is_empty():
        return 0, 0
    sent = _endpoint("server_ip", "server_port").is_in(list(servers))
    ok = (pl.col("answered") & (pl.col("rcode") == int(DnsRcode.NOERROR))).fill_null(False)
    # the columns grouped only: a filter copies every column of what it keeps (the lookups to
    # kube-dns are most of a node's transactions)
    per_lookup = dns.select(lookup_key(), ok.alias("ok"), sent.alias("sent")).filter(
        "sent").group_by("key").agg(pl.col("ok").any())
    return per_lookup.height, per_lookup.filter(~pl.col("ok")).height


def lookup_key() -> pl.Expr:
    """One application lookup: its search-path `lookup` id, else the transaction alone (past
    every lookup id): one integer, grouped by in a third of the time a struct of the two took."""
    return (pl.when(pl.col("lookup").is_null())
            .then(pl.col("txn").cast(pl.Int64) + (1 << 32))
            .otherwise(pl.col("lookup").cast(pl.Int64))).alias("key")

"""One cause once: the symptoms that one fault gives, gathered, and what a lower layer explains.

A SYN to a stale endpoint is never answered (`unanswered_syn`), the node answers it with ICMP
host unreachable (`icmp_unreachable`), and the node's ARP for the endpoint goes unanswered
(`arp_unanswered`): three symptoms of one cause. Symptoms share a cause when they are of one
`FAMILIES` family, hit one target (`groups.target`) and broke at one address (the endpoint
kube-proxy chose, else the server dialled). A neighbour probe (ARP, ND) for the address a cause
broke at joins that cause. Every symptom is in exactly one cause; most causes hold one symptom.

A lower layer explains a higher one: a lookup that timed out (`dns_timeout` with unanswered
queries, and no query of the client for the name answered NOERROR) explains the connection
symptoms of the same client, to the name's addresses, that follow it before the client asks
again; and, when no connection followed at all, the missing connection (`missing_connections`:
names the client failed to resolve and then connected nowhere).
"""

from __future__ import annotations

from typing import Any, Literal

import polars as pl

from pcapkit.codes import DnsRcode
from pcapkit.report.groups import LAYER_ORDER, LAYERS, OTHER, target
from pcapkit.report.impact import Impact, rank, unit

#: kinds that one fault gives together; a kind not listed is a family of its own
FAMILIES: dict[str, str] = {
    "unanswered_syn": "unreachable",
    "icmp_unreachable": "unreachable",
    "arp_unanswered": "unreachable",
    "icmp_echo_unanswered": "unreachable",
    "nxdomain_name": "nxdomain",
    "nxdomain_storm": "nxdomain",
}
#: neighbour probes: they name the address they ask for, not a Service
NEIGHBOUR_KINDS = ("arp_unanswered",)
#: what each family means, for a cause's title
TITLES = {"unreachable": "unreachable", "nxdomain": "names that do not exist",
          "rst": "connections reset", "dns_timeout": "lookups time out",
          "retransmission": "retransmissions"}
#: how long after a failed lookup's last query its application would connect (the resolver's
#: 5 s timeout and a margin), when it does not ask again sooner
FOLLOW_NS = 6_000_000_000
#: a lookup's A and AAAA queries leave together, from two sockets: an answer this long before
#: a lost query still resolved the name
PARALLEL_NS = 1_000_000_000
#: the JSON's seconds hold a nanosecond timestamp only to a fraction of a microsecond
SLACK_NS = 1_000
#: DNS record types that carry an address: A, AAAA
ADDRESS_TYPES = (1, 28)


def family(kind: str) -> str:
    return FAMILIES.get(kind, kind)


def host(endpoint: str) -> str:
    """The address of `ip:port`, `[v6]:port` or a bare address."""
    if endpoint.startswith("["):
        return endpoint[1:endpoint.index("]")]
    return endpoint.split(":")[0] if endpoint.count(":") == 1 else endpoint


def address(s: dict[str, Any]) -> str:
    """Where it broke: the chosen endpoint's address, else the server's (else the client's)."""
    return host(str(s.get("k8s", {}).get("endpoint") or s.get("server") or s.get("client")
                    or "?"))


def causes(symptoms: list[dict[str, Any]], impacts: dict[tuple[str, str], Impact],
           connections: pl.DataFrame, dns: pl.DataFrame) -> list[dict[str, Any]]:
    """The causes of the (1-based numbered) symptoms, worst impact first."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i, s in enumerate(symptoms, 1):
        if s["kind"] not in NEIGHBOUR_KINDS:
            groups.setdefault((family(s["kind"]), target(s), address(s)), []).append(i)
    for i, s in enumerate(symptoms, 1):
        if s["kind"] in NEIGHBOUR_KINDS:
            home = next((k for k in groups if k[0] == family(s["kind"])
                         and k[2] == address(s)), None)
            groups.setdefault(home or (family(s["kind"]), target(s), address(s)), []).append(i)
    explained = explains(symptoms, connections, dns)
    out = []
    for (fam, name, where), numbers in groups.items():
        rows = [symptoms[n - 1] for n in numbers]
        # a neighbour probe joined the cause: the cause's own attempts say more than its resends
        own = [s for s in rows if s["kind"] not in NEIGHBOUR_KINDS] or rows
        worst = min((impacts[(target(s), unit(s))] for s in own), key=rank)
        kinds: dict[str, int] = {}
        for s in rows:
            kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
        cause: dict[str, Any] = {
            "title": f"{name}: {TITLES.get(fam, fam.replace('_', ' '))}"
                     + (f" at {where}" if where not in name else ""),
            "layer": min((LAYERS.get(s["kind"], OTHER) for s in rows), key=LAYER_ORDER.index),
            "severity": "error" if any(s["severity"] == "error" for s in rows) else (
                "warning" if any(s["severity"] == "warning" for s in rows) else "info"),
            "target": name,
            "address": where,
            "kinds": kinds,
            "symptoms": sorted(numbers),
            "impact": worst,
        }
        follows = sorted({m for n in numbers for m in explained.get(n, {}).get("symptoms", [])})
        missing = len(set().union(*(explained.get(n, {}).get("unresolved", set())
                                    for n in numbers)))
        if follows or missing:
            cause["explains"] = {"symptoms": follows, "missing_connections": missing}
        out.append(cause)
    severity = {"error": 0, "warning": 1, "info": 2}
    return sorted(out, key=lambda c: (severity[c["severity"]], rank(c["impact"]),
                                      c["symptoms"][0]))


def explains(symptoms: list[dict[str, Any]], connections: pl.DataFrame,
             dns: pl.DataFrame) -> dict[int, dict[str, Any]]:
    """For each `dns_timeout` symptom (by number) whose name the client did not resolve (no
    query of its for the name got a NOERROR answer, from `PARALLEL_NS` before it until it asked
    again): the connection symptoms it explains, and, when the client then connected nowhere,
    the lookup it failed (`unresolved`: client, name and start; a `dns_timeout` is one
    application lookup, its search-path steps in `steps`)."""
    timeouts = [(i, s) for i, s in enumerate(symptoms, 1)
                if s["kind"] == "dns_timeout" and s.get("client")]
    if not timeouts:
        return {}
    # Each timeout reads its names' answers, and its client's queries for them in two windows
    # of time: the table is cut to those names and clients once, in time order, and a window
    # is a slice of it, not the table filtered whole three times a timeout (20M DNS-heavy
    # packets, 64 timeouts of clients that asked one name 757k times: the outline of the
    # document 4.1 -> 2.5 s). The connection symptoms are looked up by client, not each
    # timeout reading all ~40k symptoms.
    of_names = dns.filter(_names(sorted({n for _, s in timeouts for n in s.get("steps", [])})))
    asked = of_names.filter(pl.col("client_ip").is_in(sorted({host(s["client"])
                                                              for _, s in timeouts}))
                            ).select(ASKED).sort("ts_ns", maintain_order=True)
    # the connection symptoms of each client: (number, first packet, server address)
    attempts: dict[str, list[tuple[int, int, str]]] = {}
    for j, t in enumerate(symptoms, 1):
        if unit(t) == "connections" and t.get("client") and t.get("first_ts") is not None:
            attempts.setdefault(host(t["client"]), []).append(
                (j, _ns(t["first_ts"]), host(t.get("server", ""))))
    out: dict[int, dict[str, Any]] = {}
    for i, s in timeouts:
        client, names = host(s["client"]), list(s.get("steps", []))
        start, last = _ns(s["first_ts"]) - SLACK_NS, _ns(s["last_ts"]) + SLACK_NS
        end = _asked_again(asked, client, names, last)
        if not names or _resolved(asked, client, names, start - PARALLEL_NS, end):
            continue
        addresses = _addresses(of_names, names)
        later = [j for j, first, server in attempts.get(client, [])
                 if start <= first <= end and (not addresses or server in addresses)]
        connected = later or _connected(connections, client, addresses, start, end)
        out[i] = {"symptoms": later,
                  "unresolved": set() if connected else {(client, s.get("name") or names[0],
                                                           s["first_ts"])}}
    return out


#: what a timeout's windows read of its client's queries
ASKED = ["ts_ns", "client_ip", "qname", "search_expansion_of", "resolved_as", "answered", "rcode"]


def _window(asked: pl.DataFrame, after: int, until: int, closed: Literal["left", "right"]
            ) -> pl.DataFrame:
    """The rows of `asked` (in `ts_ns` order) between `after` and `until`, the end `closed`
    taken in: "left", from `after` and before `until`; "right", after `after` up to `until`."""
    ts = asked.get_column("ts_ns")
    lo, hi = ts.search_sorted(after, closed), ts.search_sorted(until, closed)
    return asked.slice(int(lo), int(hi) - int(lo))


def _resolved(asked: pl.DataFrame, client: str, names: list[str], start: int, end: int) -> bool:
    """Whether a query of the client for one of `names` got a NOERROR answer in the window
    (`end` left out: it is the client's next lookup of the name, which is not this one's)."""
    ok = (pl.col("answered") & (pl.col("rcode") == int(DnsRcode.NOERROR))).fill_null(False)
    return not _window(asked, start, end, "left").filter(
        (pl.col("client_ip") == client) & _names(names) & ok).is_empty()


def _names(names: list[str]) -> pl.Expr:
    return (pl.col("qname").is_in(names) | pl.col("search_expansion_of").is_in(names)
            | pl.col("resolved_as").is_in(names)).fill_null(False)


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _asked_again(asked: pl.DataFrame, client: str, names: list[str], last: int) -> int:
    """The end of a lookup's follow window: the client's next query for the name, or
    `FOLLOW_NS` after its last query."""
    again = _window(asked, last, last + FOLLOW_NS, "right").filter(
        (pl.col("client_ip") == client) & _names(names))["ts_ns"].min()
    return int(again) if isinstance(again, int) else last + FOLLOW_NS


def _addresses(dns: pl.DataFrame, names: list[str]) -> set[str]:
    """The addresses the names resolved to whenever they were answered."""
    answers = dns.filter(_names(names)).select(pl.col("answers").explode()).unnest("answers")
    return set(answers.filter(pl.col("type").is_in(ADDRESS_TYPES))["data"].drop_nulls())


def _connected(connections: pl.DataFrame, client: str, addresses: set[str], start: int,
               end: int) -> bool:
    """Whether the client opened a connection (to one of `addresses`, when known) between
    `start` and `end`."""
    c = connections.filter((pl.col("client_ip") == client)
                           & pl.col("first_ts_ns").is_between(start, end))
    if addresses:
        c = c.filter(pl.col("server_ip").is_in(list(addresses)))
    return not c.is_empty()

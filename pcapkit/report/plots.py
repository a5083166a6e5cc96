"""The HTML report's plots, as inline SVG (`svg.py`): the symptoms over time per Service and
client, DNS latency and NXDOMAIN rate over time, and the retransmission share per connection.

Times are seconds since the incident's first packet (the earliest capture's), on the first
capture's clock: the flow tables are already on it (`flows/clocks.py`). The timeline and the
retransmission plot are None when there is nothing to draw; the DNS plots need lookups.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from pcapkit.codes import DnsRcode
from pcapkit.detect.retransmission import per_connection
from pcapkit.detect.tcp_conn import as_client_saw
from pcapkit.flows import Tables
from pcapkit.report.document import endpoint_text
from pcapkit.report.groups import client_name, target
from pcapkit.report.svg import Series, Span, bars, chart, ticks, timeline

#: a colour per symptom kind, fixed so that two reports read alike; other kinds are grey
KIND_COLORS = {
    "unanswered_syn": "#c62828", "rst": "#ad1457", "icmp_unreachable": "#6a1b9a",
    "nxdomain_storm": "#ef6c00", "dns_timeout": "#f9a825", "dns_error": "#8d6e63",
    "dnat_mismatch": "#283593", "kube_proxy_missing": "#1565c0",
    "retransmission": "#00838f", "zero_window": "#2e7d32",
}
OTHER_COLOR = "#757575"
#: lanes of the timeline and bars of the retransmission plot drawn; the rest are counted
MAX_ROWS = 40
#: time bins of the NXDOMAIN rate over the incident's span
RATE_BINS = 40
#: DNS lookups drawn as points: past it, every k-th is (a busy resolver's hour would make the
#: report tens of MB, and the eye sees the same shape)
MAX_POINTS = 4000


def start_of(doc: dict[str, Any]) -> float | None:
    """The incident's first packet, seconds since the epoch (None: no packet)."""
    firsts = [c["first_ts"] for c in doc["captures"] if c["first_ts"] is not None]
    return min(firsts) if firsts else None


def span_of(doc: dict[str, Any]) -> tuple[float, float]:
    """The x range every plot shares: 0 to the incident's last packet, in seconds."""
    t0 = start_of(doc) or 0.0
    return 0.0, max((c["last_ts"] for c in doc["captures"] if c["last_ts"] is not None),
                    default=t0) - t0


def time_label(t0: float) -> str:
    return f"seconds since {datetime.fromtimestamp(t0, UTC):%Y-%m-%d %H:%M:%S.%f} UTC"


def symptom_timeline(doc: dict[str, Any]) -> str | None:
    """A lane per Service (or server), client and kind, a bar per symptom from its first to
    last occurrence, coloured by kind."""
    t0 = start_of(doc)
    timed = [(i, s) for i, s in enumerate(doc["symptoms"], 1) if s.get("first_ts") is not None]
    if t0 is None or not timed:
        return None
    lanes = sorted({_lane(s) for _, s in timed})
    shown = lanes[:MAX_ROWS]
    index = {lane: i for i, lane in enumerate(shown)}
    spans = [Span(index[_lane(s)], s["first_ts"] - t0, s.get("last_ts", s["first_ts"]) - t0,
                  KIND_COLORS.get(s["kind"], OTHER_COLOR),
                  f"#{i} {s['kind']} ×{s['count']}: {s['explanation']}")
             for i, s in timed if _lane(s) in index]
    kinds = sorted({s["kind"] for _, s in timed})
    more = f" ({len(lanes) - len(shown)} more lanes not drawn)" if len(lanes) > len(shown) else ""
    return timeline("plot-timeline", f"Symptoms over time, per Service and client{more}",
                    [f"{svc} ← {client}: {kind}" for svc, client, kind in shown], spans,
                    span_of(doc), time_label(t0),
                    [(k, KIND_COLORS.get(k, OTHER_COLOR)) for k in kinds])


def _lane(s: dict[str, Any]) -> tuple[str, str, str]:
    return target(s), client_name(s), s["kind"]


def dns_latency(dns: pl.DataFrame, doc: dict[str, Any]) -> str:
    """Each lookup's response time at the time it was asked; unanswered ones along the top."""
    t0 = start_of(doc) or 0.0
    rows = dns.select(t=pl.col("ts_ns") / 1e9 - t0, ms=pl.col("latency_ns") / 1e6,
                      answered="answered")
    answered = rows.filter(pl.col("answered") & pl.col("ms").is_not_null())
    lost = rows.filter(~pl.col("answered").fill_null(False))
    top = max(float(answered["ms"].max() or 0.0) * 1.1, 1.0)  # type: ignore[arg-type]
    every = -(-rows.height // MAX_POINTS)
    drawn, missed = answered.gather_every(every), lost.gather_every(every)
    series = [Series("answered (ms)", "#1565c0", list(zip(drawn["t"], drawn["ms"],
                                                          strict=True))),
              Series("unanswered", "#c62828", [(t, top) for t in missed["t"]])]
    sampled = f", every {every}th drawn" if every > 1 else ""
    return chart("plot-dns-latency", f"DNS response time ({answered.height} answered, "
                 f"{lost.height} unanswered{sampled})", series, span_of(doc), time_label(t0),
                 "ms", y_max=top)


def nxdomain_rate(dns: pl.DataFrame, doc: dict[str, Any]) -> str:
    """Lookups and NXDOMAIN responses per second, in `RATE_BINS` bins."""
    t0 = start_of(doc) or 0.0
    t = dns.select(t=pl.col("ts_ns") / 1e9 - t0,
                   nx=pl.col("rcode") == int(DnsRcode.NXDOMAIN))
    lo, hi = span_of(doc)
    steps = ticks(lo, hi, RATE_BINS)
    width = steps[1] - steps[0] if len(steps) > 1 else 1.0
    # clip: a lookup a capture with an earlier clock saw may fall just before the first packet
    binned = (t.with_columns(bin=((pl.col("t") - lo) / width).floor().clip(0))
              .group_by("bin").agg(queries=pl.len(), nx=pl.col("nx").fill_null(False).sum())
              .sort("bin"))
    left = [lo + b * width for b in binned["bin"]]
    nx = [n / width for n in binned["nx"]]
    series = [Series("NXDOMAIN/s", "#ef6c00", list(zip(left, nx, strict=True)), True, width),
              Series("lookups/s", "#455a64", [(x + width / 2, q / width) for x, q
                                              in zip(left, binned["queries"], strict=True)])]
    total = int(t["nx"].fill_null(False).sum())
    return chart("plot-nxdomain", f"NXDOMAIN rate ({total} of {t.height} lookups, bins of "
                 f"{width:g} s)", series, (lo, hi + width), time_label(t0), "per second")


def retransmission_share(tables: Tables) -> str | None:
    """Each connection's retransmitted or out-of-order share of its segments (the view that
    flagged the most), the worst first. Needs the packet table: a streamed analysis does not
    keep it."""
    shares = per_connection(tables)
    if shares.is_empty():
        return None
    rows = (shares.join(as_client_saw(tables), on="conn")
            .sort("share", "count", "conn", descending=[True, True, False]))
    drawn = []
    for r in rows.head(MAX_ROWS).iter_rows(named=True):
        label = (f"{endpoint_text(r['client_ip'], r['client_port'])} → "
                 f"{endpoint_text(r['server_ip'], r['server_port'])}")
        color = "#c62828" if r["count"] else "#90a4ae"
        drawn.append((label, round(100 * r["share"], 2), color,
                      f"conn {r['conn']}: {r['count']} of {r['segments']} segments"))
    more = (f" ({rows.height - MAX_ROWS} more connections not drawn)"
            if rows.height > MAX_ROWS else "")
    top = max(max(v for _, v, _, _ in drawn), 1.0)
    return bars("plot-retransmission", f"Retransmitted or out-of-order segments per "
                f"connection{more}", drawn, top, "% of the connection's segments")

"""`pcapkit analyze --cross-check`: tshark's expert analysis, through pyshark, on the packets of
each symptom, as a second opinion. Per symptom: does Wireshark flag the evidence frames the
way pcapkit does, and when it does not, or flags more, why.

The usual difference is the vantage: tshark analyses one capture at a time, so a node's
`-i any` capture, which holds each packet once per interface it crossed (the pod's veth, the
bridge `cni0`, the overlay device, the NIC), shows tshark the same segment two to four times,
and it flags every copy after the first as a retransmission. pcapkit recognises copies (same
IP id, sequence number and length, within `COPY_WINDOW_NS` of each other, on another interface
or in a tunnel) and counts a segment once. Which frames are such copies is said here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from pcapkit.wireshark.evidence import frames_of
from pcapkit.wireshark.tshark import dissect, field, layers

#: two frames of one capture with the same IP id, sequence number and length closer than
#: this are copies of one packet seen on two interfaces (a retransmission waits an RTO,
#: ≥ 200 ms on Linux, or a round trip for a fast one)
COPY_WINDOW_NS = 5_000_000


def _true(value: str | None) -> bool:
    return value in ("1", "True", "true")


def _tcp(packet: Any, *names: str) -> bool:
    return any(_true(field(t, n)) or (n.startswith("analysis") and n in t.field_names)
               for t in layers(packet, "tcp")[-1:] for n in names)


def _syn(packet: Any) -> bool:
    return _tcp(packet, "flags_syn") and not _tcp(packet, "flags_ack")


def _syn_ack(packet: Any) -> bool:
    return _tcp(packet, "flags_syn") and _tcp(packet, "flags_ack")


def _unreachable(packet: Any) -> bool:
    return any(field(i, "type") == "3" for i in layers(packet, "icmp")) or any(
        field(i, "type") in ("1", "2") for i in layers(packet, "icmpv6"))


def _rcode(*codes: str) -> Callable[[Any], bool]:
    def check(packet: Any) -> bool:
        return any(field(d, "flags_rcode") in codes for d in layers(packet, "dns"))
    return check


def _unanswered_query(packet: Any) -> bool:
    return any(not _true(field(d, "flags_response")) and "response_in" not in d.field_names
               for d in layers(packet, "dns"))


@dataclass(frozen=True)
class Check:
    """What tshark flags that stands for a kind of symptom."""

    what: str  #: how the opinion names the frames tshark flags
    flags: Callable[[Any], bool]
    #: a frame that says the symptom did not happen (a SYN-ACK to unanswered SYNs)
    contradicts: Callable[[Any], bool] | None = None


CHECKS: dict[str, Check] = {
    "retransmission": Check("retransmissions", lambda p: _tcp(
        p, "analysis_retransmission", "analysis_fast_retransmission",
        "analysis_spurious_retransmission")),
    "unanswered_syn": Check("SYNs", _syn, _syn_ack),
    "rst": Check("RSTs", lambda p: _tcp(p, "flags_reset")),
    "zero_window": Check("zero windows", lambda p: _tcp(p, "analysis_zero_window")),
    "icmp_unreachable": Check("ICMP destination unreachable errors", _unreachable),
    "dns_timeout": Check("DNS queries without a response", _unanswered_query),
    "nxdomain_storm": Check("NXDOMAIN answers", _rcode("3")),
    "dns_error": Check("DNS errors (SERVFAIL, REFUSED)", _rcode("2", "5")),
}


@dataclass
class Frame:
    """What the cross-check keeps of one frame tshark dissected."""

    capture: int
    number: int
    ts_ns: int
    copy_key: tuple[Any, ...] | None
    addresses: set[str]
    ports: set[int]
    dns: bool
    packet: Any


def _frame(capture: int, packet: Any) -> Frame:
    ips = layers(packet, "ip") + layers(packet, "ipv6")
    transports = layers(packet, "tcp") + layers(packet, "udp")
    key = None
    if ips and layers(packet, "tcp"):
        inner, tcp = ips[-1], layers(packet, "tcp")[-1]
        key = (field(inner, "src"), field(inner, "dst"), field(inner, "id"),
               field(tcp, "seq_raw"), field(tcp, "len"), field(tcp, "flags"))
    return Frame(capture, int(packet.number),
                 round(float(packet.frame_info.time_epoch) * 1e9), key,
                 {a for ip in ips for a in (field(ip, "src"), field(ip, "dst")) if a},
                 {int(p) for t in transports for p in (field(t, "srcport"), field(t, "dstport"))
                  if p}, bool(layers(packet, "dns")), packet)


def _belongs(frame: Frame, finding: dict[str, Any]) -> bool:
    """Whether `frame` is of the finding's client socket (its filter's first term)."""
    if finding["client_ip"] not in frame.addresses:
        return False
    if finding["client_port"] is None:
        return frame.dns or finding["protocol"] != "dns"
    return finding["client_port"] in frame.ports


def _copies(frames: list[Frame]) -> set[tuple[int, int]]:
    """(capture, frame) of the frames that copy an earlier one of the same capture."""
    last: dict[tuple[Any, ...], int] = {}
    out = set()
    for f in sorted(frames, key=lambda f: (f.capture, f.number)):
        if f.copy_key is None:
            continue
        key = (f.capture, *f.copy_key)
        if key in last and f.ts_ns - last[key] <= COPY_WINDOW_NS:
            out.add((f.capture, f.number))
        last[key] = f.ts_ns
    return out


def _where(frames: Sequence[tuple[int, int]], paths: Sequence[str]) -> str:
    by: dict[int, list[int]] = {}
    for c, n in sorted(frames):
        by.setdefault(c, []).append(n)
    return "; ".join(f"{paths[c]}: frames {', '.join(map(str, ns[:8]))}"
                     + (" …" if len(ns) > 8 else "") for c, ns in by.items())


def opinion(finding: dict[str, Any], frames: list[Frame], copies: set[tuple[int, int]],
            paths: Sequence[str]) -> tuple[bool | None, str]:
    """Whether Wireshark agrees with `finding`, and why (not), from the `frames` of its
    captures tshark dissected (`_belongs` to it or not)."""
    check = CHECKS.get(finding["kind"])
    if check is None:
        return None, (f"Wireshark has no counterpart to {finding['kind']}: it shows these "
                      "packets, but not what pcapkit concludes from them across captures and "
                      "the snapshot.")
    evidence = {(c, f) for c, fs in frames_of(finding).items() for f in fs}
    mine = [f for f in frames if (f.capture, f.number) in evidence or _belongs(f, finding)]
    flagged = {(f.capture, f.number) for f in mine if check.flags(f.packet)}
    agreed = flagged & evidence
    extra = sorted(flagged - evidence)
    copied = [k for k in extra if k in copies]
    others = [k for k in extra if k not in copies]
    against = sorted((f.capture, f.number) for f in mine
                     if check.contradicts is not None and check.contradicts(f.packet))
    parts = []
    if agreed and not against:
        parts.append(f"Wireshark agrees: tshark flags {len(agreed)} of the {len(evidence)} "
                     f"evidence frames as {check.what}.")
    elif not agreed:
        parts.append(f"Wireshark does not agree: tshark flags none of the {len(evidence)} "
                     f"evidence frames as {check.what}.")
    else:
        parts.append(f"Wireshark disagrees: it flags {len(agreed)} evidence frames as "
                     f"{check.what}, but also sees what contradicts it ({_where(against, paths)}).")
    if copied:
        parts.append(f"tshark also flags {len(copied)} copies as {check.what}: the same packet "
                     f"seen again moments later on another interface of one capture (an "
                     f"-i any capture holds each once per interface it crossed), which pcapkit "
                     f"counts once ({_where(copied, paths)}).")
    if others:
        parts.append(f"tshark flags {len(others)} more frames of the same client socket as "
                     f"{check.what} that pcapkit does not count in this symptom "
                     f"({_where(others, paths)}).")
    return bool(agreed) and not against, " ".join(parts)


def cross_check(symptoms: pl.DataFrame, paths: Sequence[str]) -> pl.DataFrame:
    """`symptoms` with `wireshark_agrees` (null: no counterpart) and `wireshark_opinion`."""
    rows = list(symptoms.iter_rows(named=True))
    frames: list[Frame] = []
    for index in sorted({c for r in rows for c in frames_of(r)}):
        here = [r for r in rows if index in frames_of(r) and r["wireshark_filter"]]
        if not here:
            continue
        display = " || ".join(f"({r['wireshark_filter']})" for r in here)
        flags = sorted({d for r in here for d in r["wireshark_decode_as"] or []})
        frames += [_frame(index, p) for p in dissect(paths[index], display, flags)]
    copies = _copies(frames)
    verdicts = [opinion(r, frames, copies, paths) for r in rows]
    return symptoms.with_columns(
        pl.Series("wireshark_agrees", [v[0] for v in verdicts], pl.Boolean),
        pl.Series("wireshark_opinion", [v[1] for v in verdicts], pl.String))

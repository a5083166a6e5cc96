"""Every detector threshold in one place, each documented where it is declared.

A `Config` is passed to every detector; change one with `dataclasses.replace(DEFAULT, ...)` or
the CLI's `--set name=value`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from pcapkit.errors import UsageError
from pcapkit.kube.snapshot import Snapshot


@dataclass(frozen=True)
class Config:
    # --- TCP detectors ------------------------------------------------------------------------

    #: retransmission: a connection is reported when one view shows at least this many
    #: segments in Wireshark's classes (retransmission, fast, spurious, out-of-order)
    retransmission_min: int = 1
    #: retransmission: severity error above this share of the connection's data segments
    #: (in the view that flagged the most), warning below
    retransmission_error_share: float = 0.05
    #: unanswered_syn: the captures must go on at least this long after the first SYN (a SYN at
    #: the very end of a capture had no chance to be answered)
    unanswered_syn_min_wait_s: float = 1.0
    #: unanswered_syn: relative tolerance when matching SYN intervals to the kernel's schedules
    #: (first gap 1 s, then doubling, or 1 s gaps before doubling)
    syn_backoff_tolerance: float = 0.25
    #: zero_window: a receiver is reported when its window stayed 0 at least this long…
    zero_window_min_s: float = 0.2
    #: zero_window: …or when it advertised window 0 at least this many times
    zero_window_min_count: int = 3

    # --- DNS and ICMP detectors ---------------------------------------------------------------

    #: nxdomain_storm: a client is in a storm while it gets at least this many NXDOMAIN
    #: responses within `nxdomain_window_s` (one ndots:5 lookup of an external name already
    #: costs 6: three search domains × A and AAAA)
    nxdomain_min: int = 5
    #: nxdomain_storm: the sliding window, seconds; a storm lasts while NXDOMAINs keep coming
    #: closer together than this
    nxdomain_window_s: float = 10.0
    #: dns_timeout: an unanswered query counts only when the captures go on at least this long
    #: after its first copy (a query at the very end of a capture had no chance to be answered)
    dns_timeout_min_wait_s: float = 1.0
    #: dns_timeout: A and AAAA queries from one socket closer together than this were sent
    #: together (glibc's parallel lookup, one sendmmsg): the conntrack race's precondition
    dns_race_max_gap_ms: float = 5.0
    #: dns_error: the rcodes reported (names of `pcapkit.codes.DnsRcode`)
    dns_error_rcodes: tuple[str, ...] = ("SERVFAIL", "REFUSED")

    # --- Kubernetes dataplane detectors -------------------------------------------------------

    #: kube_proxy_missing: the Service address ranges (kube-apiserver's
    #: `--service-cluster-ip-range`; kubeadm's default). A snapshot's ClusterIPs are added to
    #: them (`for_snapshot`), so that other ranges need no setting when a snapshot is given.
    kube_service_cidrs: tuple[str, ...] = ("10.96.0.0/12",)


DEFAULT = Config()


def for_snapshot(config: Config, snap: Snapshot | None) -> Config:
    """`config` with the snapshot's ClusterIPs added to `kube_service_cidrs`."""
    if snap is None:
        return config
    ips = snap.services["cluster_ip"].drop_nulls().unique().sort().to_list()
    known = set(config.kube_service_cidrs)
    extra = tuple(f"{ip}/{128 if ':' in ip else 32}" for ip in ips)
    return replace(config, kube_service_cidrs=(*config.kube_service_cidrs,
                                               *(c for c in extra if c not in known)))


def changed_settings(config: Config) -> dict[str, object]:
    """The thresholds `config` sets otherwise than `DEFAULT` (what `--set` changed), by name."""
    return {f.name: getattr(config, f.name) for f in fields(Config)
            if getattr(config, f.name) != getattr(DEFAULT, f.name)}


def with_settings(config: Config, settings: list[str]) -> Config:
    """`config` with `name=value` settings applied (the CLI's `--set`); values are read as the
    field's type, tuples as comma-separated lists. Unknown names and bad values: `UsageError`."""
    types = {f.name: f.type for f in fields(Config)}
    changes: dict[str, object] = {}
    for setting in settings:
        name, sep, text = setting.partition("=")
        name = name.strip()
        if not sep or name not in types:
            known = ", ".join(sorted(types))
            raise UsageError(f"--set {setting}: expected NAME=VALUE with NAME one of {known}")
        kind = str(types[name])
        try:
            if kind.startswith("tuple"):
                changes[name] = tuple(v.strip() for v in text.split(",") if v.strip())
            else:
                changes[name] = {"int": int, "float": float}[kind](text)
        except ValueError:
            raise UsageError(f"--set {setting}: {text!r} is not a valid {kind}") from None
    return replace(config, **changes)  # type: ignore[arg-type]

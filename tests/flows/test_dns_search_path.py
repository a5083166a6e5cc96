"""Search-path expansion: the lab's storm (truth: each lookup with the candidate names glibc
tried, from the pod's resolv.conf) and small tables for the walk's rules."""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal, assert_series_equal

from pcapkit.codes import DnsRcode, DnsType
from pcapkit.flows import search_path, search_walk
from pcapkit.flows.dns import dns_transactions
from pcapkit.flows.search_path import learn
from tests.detect.samples import needs_sample, tables, truth
from tests.flows.frames import dns_row, table

POD, DNS = "10.244.1.10", "10.96.0.10"
NX = DnsRcode.NXDOMAIN


@needs_sample("nxdomain_storm")
def test_each_lab_lookup_is_one_lookup_of_the_name_asked() -> None:
    lookups = [t for t in truth("nxdomain_storm") if t["kind"] == "lookup"]
    dns = tables("nxdomain_storm").dns.sort("ts_ns")
    steps = dns.group_by("lookup", maintain_order=True).agg("search_expansion_of", "qname")
    assert steps.height == len(lookups)
    for t, (base, names) in zip(lookups, steps.select(
            pl.col("search_expansion_of").list.first(), pl.col("qname").list.unique(
                maintain_order=True)).iter_rows(), strict=True):
        assert base == t["name"]
        assert names == t["search_expansion"]


def _lookup(start_ms: float, port: int, names: list[tuple[str, int]]) -> list[dict]:
    rows = []
    for i, (name, rcode) in enumerate(names):
        ms = start_ms + 10 * i
        for qtype, dns_id in ((DnsType.A, 2 * i + port), (DnsType.AAAA, 2 * i + port + 1)):
            rows += [dns_row(len(rows) + 1, ms, POD, port, DNS, dns_id, name, qtype=qtype),
                     dns_row(len(rows) + 2, ms + 1, POD, port, DNS, dns_id, name, qtype=qtype,
                             response=True, rcode=rcode)]
    return rows


SEARCHED = [("x.io.team.svc.k8s.test", NX), ("x.io.svc.k8s.test", NX), ("x.io.k8s.test", NX),
            ("x.io.corp.example", NX), ("x.io", DnsRcode.NOERROR)]


def test_cluster_domain_namespace_and_node_domains_are_learned() -> None:
    dns = dns_transactions(table(_lookup(0, 4000, SEARCHED)))
    assert dns["lookup"].n_unique() == 1
    assert set(dns["search_expansion_of"]) == {"x.io"}
    assert set(dns["resolved_as"]) == {"x.io"}
    path = learn({POD: [n for n, _ in SEARCHED]})
    assert (path.domain, path.first_suffix(POD)) == ("k8s.test", "team.svc.k8s.test")


def test_ndots_exceeded_asks_the_name_first_and_it_joins() -> None:
    names = [("a.b.c.d.e.f", NX), *[(f"a.b.c.d.e.f.{s}", NX) for s in
             ("team.svc.k8s.test", "svc.k8s.test", "k8s.test")]]
    dns = dns_transactions(table(_lookup(0, 4000, SEARCHED) + _lookup(1000, 5000, names)))
    second = dns.filter(pl.col("client_port") == 5000)
    assert second["lookup"].n_unique() == 1
    assert set(second["search_expansion_of"]) == {"a.b.c.d.e.f"}


def test_repeated_lookups_are_separate_and_other_names_stay_apart() -> None:
    rows = (_lookup(0, 4000, SEARCHED)
            + _lookup(100, 4100, [("web.team.svc.k8s.test", DnsRcode.NOERROR)])
            + _lookup(200, 4200, SEARCHED))
    dns = dns_transactions(table(rows))
    per_port = dns.group_by("client_port").agg(pl.col("lookup").n_unique(),
                                               pl.col("search_expansion_of").first())
    assert per_port.sort("client_port").rows() == [
        (4000, 1, "x.io"), (4100, 1, "web"), (4200, 1, "x.io")]
    assert dns["lookup"].n_unique() == 3


def test_no_cluster_names_no_expansion() -> None:
    dns = dns_transactions(table(_lookup(0, 4000, [("www.example.org", NX)])))
    assert dns["search_expansion_of"].is_null().all()


def test_idle_lookups_let_go_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy client's lookups idle for longer than a step's gap are let go during the walk
    (`PRUNE_FROM`): the lookups are those of a walk that keeps every one, and a slow lookup
    (a step every 10 s, glibc's timeouts) open while others are let go stays one lookup."""
    gap_ms = search_path.STEP_GAP_NS / 1e6 + 1000
    rows: list[dict] = []
    for rnd in range(3):  # each name looked up once per round, rounds a gap apart
        for k in range(20):
            names = [(f"svc{k}.{s}", NX) for s in ("team.svc.k8s.test", "svc.k8s.test")]
            names.append((f"svc{k}", DnsRcode.NOERROR if k % 3 else NX))
            rows += _lookup(rnd * gap_ms + 100 * k, 4000 + 10 * k + 1000 * rnd, names)
    for i, step in enumerate(SEARCHED):  # the slow one, from its own socket
        rows += _lookup(10_000 * i + 50, 9000 + 10 * i, [step])
    packets = table(sorted(rows, key=lambda r: r["ts_ns"]))
    kept = dns_transactions(packets)
    monkeypatch.setattr(search_path, "PRUNE_FROM", 0)
    pruned = dns_transactions(packets)
    assert kept["lookup"].n_unique() == 3 * 20 + 1
    assert set(kept.filter(pl.col("client_port") >= 9000)["search_expansion_of"]) == {"x.io"}
    assert_frame_equal(pruned, kept)


def _hints_one_by_one(names: list[str]) -> search_path.Hints:
    """The hints as their definition reads, each name weighed in turn."""
    domains: Counter[str] = Counter()
    namespaces: dict[str, Counter[str]] = {}
    alone: dict[str, Counter[str]] = {}
    for name, following in zip(names, [*names[1:], ""], strict=False):
        labels = name.split(".")
        if "svc" in labels and labels[-1] != "svc":
            domains[".".join(labels[labels.index("svc") + 1:])] += 1
        for k in (k for k, label in enumerate(labels) if k and label == "svc"):
            domain = ".".join(labels[k + 1:])
            head, _, ns = name.removesuffix(f".svc.{domain}").rpartition(".")
            if head and following == f"{head}.svc.{domain}":
                namespaces.setdefault(domain, Counter())[ns] += 1
            elif head and "." not in head:
                alone.setdefault(domain, Counter())[ns] += 1
    return search_path.Hints(domains, namespaces, alone)


def _ordered(hints: search_path.Hints) -> tuple[object, ...]:
    """The hints with the order of every key: `settle` breaks ties by it."""
    return (list(hints.domains.items()),
            [(d, list(c.items())) for d, c in hints.namespaces.items()],
            [(d, list(c.items())) for d, c in hints.alone.items()])


LABELS = st.sampled_from(["svc", "default", "ns1", "cluster", "local", "x", "api", "svc"])
#: search steps that make pairs (`X.NS.svc.D` then `X.svc.D`), and names with two `svc`
STEPS = st.sampled_from([
    "api.default.svc.cluster.local", "api.svc.cluster.local", "api.cluster.local", "api",
    "x.ns1.svc.cluster.local", "x.svc.cluster.local", "x.ns1.svc.local", "x.svc.local",
    "default.svc.cluster.local", "a.b.svc.svc.cluster.local", "a.svc.svc.cluster.local",
    "b.svc.svc.cluster.local", "svc.cluster.local", "svc"])
NAMES = st.one_of(STEPS, st.lists(LABELS, min_size=1, max_size=6).map(".".join))
#: the first two steps of a search, which teach a namespace
PAIRS = st.sampled_from([["api.default.svc.cluster.local", "api.svc.cluster.local"],
                         ["x.ns1.svc.cluster.local", "x.svc.cluster.local"],
                         ["x.ns1.svc.local", "x.svc.local"],
                         ["a.b.svc.svc.cluster.local", "a.svc.svc.cluster.local"]])
SEQUENCES = st.lists(st.one_of(PAIRS, NAMES.map(lambda name: [name])), max_size=30).map(
    lambda parts: [name for part in parts for name in part])


@settings(max_examples=300, deadline=None)
@given(SEQUENCES)
def test_hints_weigh_each_distinct_name_as_every_name_one_by_one(names: list[str]) -> None:
    """Counts, and the order keys come in, as when every name is weighed one by one, whatever
    the names repeat and whatever domains and namespaces they hold."""
    assert _ordered(search_path.hints(names)) == _ordered(_hints_one_by_one(names))


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=SEQUENCES)
def test_hints_of_names_split_a_few_at_a_time_are_the_same(
        names: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy client's distinct pairs of names are split in slices (`SLICE_ROWS`): slices of
    one or two pairs give the hints of the names weighed one by one."""
    for rows in (1, 2):
        monkeypatch.setattr(search_path, "SLICE_ROWS", rows)
        assert _ordered(search_path.hints(names)) == _ordered(_hints_one_by_one(names))


CLIENTS = st.sampled_from(["10.244.1.10", "10.244.1.11", "10.244.2.3", None])
#: names of a search, their steps in other cases, names with no dot or empty, and a few in
#: other scripts (lower-cased as Python does)
#: one client's search of `x` and of `x.io`, often enough that steps repeat and move past
SEARCH = st.sampled_from(["x.team.svc.k8s.test", "x.svc.k8s.test", "x.k8s.test", "x",
                          "x.io.team.svc.k8s.test", "x.io.svc.k8s.test", "x.io"])
WALKED = st.one_of(SEARCH, SEARCH, SEARCH, NAMES, STEPS.map(str.upper), st.sampled_from(
    ["", ".", "a..b", "x.team.svc.k8s.test", "x.svc.k8s.test", "x.k8s.test", "x",
     "x.team.svc.k8s.test.", "İx.team.svc.k8s.test", "ΣΑΣ.team.svc.k8s.test", "straße"]),
    st.none())
STEP = st.tuples(st.one_of(st.just("10.244.1.10"), CLIENTS), WALKED,
                 st.sampled_from([1, 28, 33, None]), st.sampled_from([1, 2, 3, None]),
                 st.sampled_from([0, 1, 10, 5_000, search_path.STEP_GAP_NS + 1]),
                 st.sampled_from([None, 0, 2, 3_000, search_path.STEP_GAP_NS]))


@settings(max_examples=400, deadline=None)
@given(st.lists(STEP, max_size=60), st.sampled_from(["k8s.test", "cluster.local", None]))
def test_the_compiled_walk_is_the_python_walk(steps: list[tuple], domain: str | None) -> None:
    """Lookups and the names searched for, whatever the clients, names (cases, dots, scripts,
    nulls), types, ids, and times between steps (resends, other lookups, gaps)."""
    ts, rows = 0, []
    for client, qname, qtype, dns_id, wait, answered in steps:
        ts += wait
        rows.append((client, qname, qtype, dns_id, ts, None if answered is None else
                     ts + answered))
    walked = pl.DataFrame(rows[::2] + rows[1::2], orient="row", schema={
        "client_ip": pl.String, "qname": pl.String, "qtype": pl.UInt16, "dns_id": pl.UInt16,
        "ts_ns": pl.Int64, "end_ns": pl.Int64})
    # the rows given out of order, as a table's are, with the order that takes them in turn
    order = walked.select(pl.arg_sort_by("client_ip", "ts_ns", maintain_order=True)).to_series()
    path = search_path.SearchPath(domain, {"10.244.1.10": "team", "10.244.2.3": "ns1"}, "default")
    numbers, searched = search_path.walk(path, walked, order, compiled=True)
    plain_numbers, plain_searched = search_path.walk(path, walked, order, compiled=False)
    assert numbers.tolist() == plain_numbers.tolist()
    assert_series_equal(searched, plain_searched, check_names=False)


@pytest.mark.parametrize("sample", [pytest.param(s, marks=needs_sample(s)) for s in (
    "nxdomain_storm", "nodelocal_dns", "dns_timeout")])
def test_lab_lookups_walked_compiled_are_walked_as_python(
        sample: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client's lookups in the lab's DNS scenarios: the compiled walk (past
    `JIT_THRESHOLD_ROWS` transactions, its names copied a few rows at a time) against
    Python's."""
    dns = tables(sample).dns.drop("lookup", "search_expansion_of", "resolved_as")
    plain = search_path.lookups(dns)
    monkeypatch.setattr(search_path, "JIT_THRESHOLD_ROWS", 0)
    monkeypatch.setattr(search_walk, "SLICE_ROWS", 7)
    assert_frame_equal(search_path.lookups(dns), plain)
    assert plain["lookup"].n_unique() > 1

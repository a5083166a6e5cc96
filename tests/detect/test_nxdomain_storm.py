"""nxdomain_storm on the lab's storm (truth: every lookup with the names glibc asked for) and on
small tables for the window rule; no storm on the healthy sample."""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pcapkit.detect import findings, nxdomain_storm
from pcapkit.detect.config import DEFAULT
from samples.lab.cluster import EXTERNAL_NAME
from tests.detect.samples import extras, needs_sample, tables, truth

SECOND = 1_000_000_000
TYPES = 2  # glibc asks A and AAAA for every name it tries


@needs_sample("nxdomain_storm")
def test_one_storm_per_client_collapsed_to_the_name_asked() -> None:
    lookups = [t for t in truth("nxdomain_storm") if t["kind"] == "lookup"]
    findings = nxdomain_storm.detect(tables("nxdomain_storm"), DEFAULT)
    assert Counter(findings["client_ip"]) == Counter({c: 1 for c in {t["client"] for t in lookups}})
    # the names that failed, from the truth: every candidate before the one that resolved
    failed = Counter()
    for t in lookups:
        tried = t["search_expansion"] if t["outcome"] != "ok" else t["search_expansion"][:-1]
        failed.update(tried)
    extra = extras(findings)[0]
    assert extra["search_expansion_of"] == EXTERNAL_NAME
    assert extra["nxdomain"] == findings["count"][0] == TYPES * sum(failed.values())
    assert set(extra["names"]) == set(failed)
    # wasted: all but the absolute name, for both the resolved and the failed lookups
    wasted = sum(len(t["search_expansion"]) - 1 for t in lookups) * TYPES
    assert extra["wasted_queries"] == wasted
    # every lookup asked every candidate (the resolved ones ended on the absolute name)
    assert extra["queries"] == sum(len(t["search_expansion"]) for t in lookups) * TYPES
    explanation = findings["explanation"][0]
    assert "ndots:5" in explanation and f"{EXTERNAL_NAME}." in explanation
    # per name searched for, its lookups' NXDOMAIN answers (the name itself among them when
    # every step failed)
    searched = Counter(t["name"] for t in lookups if len(t["search_expansion"]) > 1
                       for _ in (t["search_expansion"] if t["outcome"] != "ok"
                                 else t["search_expansion"][:-1]))
    assert extra["search_expansions"] == {n: TYPES * c for n, c in searched.most_common()}
    assert extra["distinct_search_expansions"] == len(searched)


def test_a_storm_lists_the_names_searched_for_most() -> None:
    """A busy pod searches for hundreds of thousands of names: the finding lists the
    `MAX_NAMES` with the most NXDOMAINs, most first, ties in the order they came."""
    counts = {f"name{i}": 1 + i % 7 for i in range(3 * nxdomain_storm.MAX_NAMES)}
    # each name first seen in the order of its number, then seen again later, nulls between
    column = pl.Series([*counts, None, *(n for n, c in counts.items() for _ in range(c - 1))],
                       dtype=pl.String)
    listed, distinct = nxdomain_storm._ranked(column, nxdomain_storm.MAX_NAMES)
    ranked = sorted(counts, key=lambda n: (-counts[n], int(n.removeprefix("name"))))
    assert list(listed) == ranked[:nxdomain_storm.MAX_NAMES]
    assert all(listed[n] == counts[n] for n in listed)
    assert distinct == len(counts)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=needs_sample(n)) for n in ("healthy", "no_endpoints")]
)
def test_no_storm_without_nxdomain(name: str) -> None:
    assert nxdomain_storm.detect(tables(name), DEFAULT).is_empty()


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([], []),  # a client none of whose answers was NXDOMAIN
        ([0, 1, 2, 3], []),  # 4 < 5
        ([0, 1, 2, 3, 4], [(0, 4)]),
        ([0, 1, 2, 3, 11], []),  # the fifth falls outside the 10 s window
        ([0, 1, 2, 3, 4, 30, 31, 32, 33, 34], [(0, 4), (5, 9)]),  # two storms, 26 s apart
        ([0, 1, 2, 3, 4, 9, 14], [(0, 5)]),  # 14's window holds 2: the storm ends at 9
        ([0, 1, 2, 3, 4, 9, 10, 11, 12, 13], [(0, 9)]),  # overlapping windows: one storm
    ],
)
def test_sliding_window(times: list[int], expected: list[tuple[int, int]]) -> None:
    assert nxdomain_storm.storms([t * SECOND for t in times], 5, 10 * SECOND) == expected


def test_a_storm_of_names_never_searched_counts_them_all_and_lists_three() -> None:
    """The explanation counts every distinct name that failed, though the finding lists only
    the first `MAX_NAMES` of them."""
    listed = [f"name{i}.example" for i in range(nxdomain_storm.MAX_NAMES)]
    text = nxdomain_storm._explain("10.244.1.5", 900, 2.0, listed, 300, None, 0, 1000)
    assert "for 300 names (name0.example, name1.example, name2.example, …)" in text


@needs_sample("nxdomain_storm")
def test_evidence_read_a_slice_at_a_time_is_the_evidence_read_whole(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A storm's frames are read a slice of its transactions at a time, each slice's first
    frames kept: the finding cites the first frames of them all, as read whole. Few frames
    are cited per capture here, so that each slice has more than it keeps."""
    monkeypatch.setattr(findings, "EVIDENCE_FRAMES", 5)
    whole = nxdomain_storm.detect(tables("nxdomain_storm"), DEFAULT)
    monkeypatch.setattr(nxdomain_storm, "EVIDENCE_SLICE", 7)
    sliced = nxdomain_storm.detect(tables("nxdomain_storm"), DEFAULT)
    assert_frame_equal(sliced, whole)
    cited = whole["evidence"].explode().struct.unnest()
    assert cited.group_by("capture").len()["len"].max() == 5
    assert whole["count"].min() > 7  # more NXDOMAIN transactions than a slice holds

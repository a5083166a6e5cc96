"""`indented` against `json.dumps(indent=2)`, byte for byte, on every kind of value JSON has
and on random documents, but for the numbers JSON has no single spelling of (the reports'
documents are checked whole in test_document.py)."""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from enum import IntEnum

import pytest

from pcapkit.report.jsontext import indented


class Port(IntEnum):
    DNS = 53


EDGES: list[object] = [
    "", "plain", "quote \" backslash \\ slash /", "tab\tnewline\ncontrol\x01\x1f",
    "é ünïcode → 名前 \U0001f600", "\ud800 lone surrogate",
    0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 2**70, -(2**70), True, False, None,
    0.0, -0.0, 0.1, 1e-4, 1e22, 1.5e300, 2.5e-320,
    [], {}, (), [[]], [{}], {"a": []}, {"a": {}}, (1, "two", None),
    {7: "int key", 2.5: "float key", True: "bool key", None: "null key", "s": "str key"},
    Port.DNS, [Port.DNS], {"port": Port.DNS}, OrderedDict([("b", 1), ("a", [1, 2])]),
    {"nested": [{"deep": [[1, [2, {"x": None}]]], "e": ""}], "after": 1.25},
]


@pytest.mark.parametrize("value", EDGES, ids=repr)
@pytest.mark.parametrize("prefix", ["", "    "])
def test_edges_are_json_dumps(value: object, prefix: str) -> None:
    assert indented(value, prefix) == json.dumps(value, indent=2).replace("\n", "\n" + prefix)


@pytest.mark.parametrize(("value", "text"), [
    (1e-7, "1e-7"), (5e-05, "0.00005"), (-1.25e-5, "-0.0000125"), ([3e-6], "[\n  3e-6\n]"),
    (float("nan"), "null"), (float("inf"), "null"), ({"a": float("-inf")}, '{\n  "a": null\n}'),
])
def test_numbers_json_spells_otherwise(value: object, text: str) -> None:
    """A float below 1e-4 is written as orjson writes it, the same number to a JSON reader;
    NaN and the infinities, which JSON has no numbers for, as null."""
    assert indented(value) == text
    finite = json.loads(json.dumps(value).replace("NaN", "null").replace("-Infinity", "null")
                        .replace("Infinity", "null"))
    assert json.loads(indented(value)) == finite


def _random(rng: random.Random, depth: int) -> object:
    leaves = [lambda: rng.choice(["", "a", "ß", "\n", "\"q\""]) * rng.randint(0, 3),
              lambda: rng.randint(-10**12, 10**12), lambda: rng.uniform(-1e6, 1e6),
              lambda: rng.choice([True, False, None])]
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(leaves)()
    if rng.random() < 0.5:
        return [_random(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    return {f"k{i}{rng.choice('xyé')}": _random(rng, depth - 1) for i in range(rng.randint(0, 4))}


def test_random_documents_are_json_dumps() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        value = _random(rng, 5)
        assert indented(value, "  ") == json.dumps(value, indent=2).replace("\n", "\n  ")


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", {"a": object()}, {(1, 2): "tuple key"}],
                         ids=["set", "bytes", "object", "tuple key"])
def test_what_json_refuses_is_refused(value: object) -> None:
    with pytest.raises(TypeError):
        json.dumps(value, indent=2)
    with pytest.raises(TypeError):
        indented(value)

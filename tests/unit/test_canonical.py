"""Canonical JSON: whichever library writes it, the text is the json module's, so a hash
stored by any version of the store verifies."""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from connector.core.canonical import canonical_text


def json_module(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Colour(enum.StrEnum):
    RED = "red"


@pytest.mark.parametrize(
    "value",
    [
        {"b": [1, 2.5, None, True, "x"], "a": {"z": 1, "é": 2, "e": 3, "E": 0}, "": 0},
        {"small": 9.5e-05, "tiny": 1e-300, "big": 1.5e300, "zero": -0.0},
        {"nan": float("nan"), "inf": [float("inf"), -float("inf")]},
        {"huge": 2**70, "u64": 2**64 - 1, "i64": -(2**63)},
        {"surrogate": "\ud800", "controls": "\x00\x1f\x7f\u2028 😀 漢字"},
        {2: "int keys", 10: "sorted as text"},
        {"enum": Colour.RED, Colour.RED: "enum key"},
        ("tuple", ["in", "lists"]),
        "text",
        None,
    ],
)
def test_the_text_is_the_json_modules(value: Any) -> None:
    assert canonical_text(value) == json_module(value)


def test_what_the_json_module_refuses_is_refused() -> None:
    with pytest.raises(TypeError):
        canonical_text({"at": datetime(2026, 12, 7, tzinfo=UTC)})  # orjson would write it

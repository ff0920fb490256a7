"""Canonical JSON: the text the store's hashes are taken over (a change's fingerprint, an audit
link's detail), `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.

orjson writes the same text several times faster for plain values: text (every code point
alike), integers, booleans, null, lists, and objects with text keys. It differs for floats
Python writes with an exponent below 1e-4 (9.5e-05) and NaN / infinity, refuses lone surrogates
and integers past 64 bits, and would write what the json module refuses (datetimes, say): those
take the json module, so a stored hash never depends on which of the two wrote its text.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson


def canonical_text(value: Any) -> str:
    """`value` as canonical JSON text (see the module docstring)."""
    if _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:
            pass  # a lone surrogate, a large integer: the json module's text or error below
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plain_float(value: float) -> bool:
    """Whether orjson writes this float as the json module does."""
    return value == 0 or (math.isfinite(value) and abs(value) >= 1e-4)


def _plain(value: Any) -> bool:
    # Exact types only: a str or int subclass (an Enum member) takes the json module's path.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return plain_float(value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(_plain(v) for v in value)
    return False

"""Raw values as converters read them: what a converter may know besides the value (`Context`),
how it refuses one (`ConvertError`), and the readers that pull a stable string out of a raw
Jira or ServiceNow shape (`scalar`, `display`), tell an unset value (`is_empty`) and look a token
up in a field's value map (`lookup`).

converters.py builds every converter on these; `normalize` uses them for its generic step (the
field's `map`, emptiness), and turns a `ConvertError` into `SkipRecord`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ConvertError(Exception):
    """The raw value cannot be read by this converter; the message says why, on one line."""


@dataclass(frozen=True)
class Context:
    """What a converter may know besides the raw value: enough for messages and URLs."""

    key: str
    native_id: str
    base_url: str
    value_map: dict[str, Any] | None = None


def shown(value: Any, limit: int = 60) -> str:
    """A raw value for a one-line message: repr (so newlines stay escaped), cut to `limit`."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Types whose values are never "", [] or {} (a model compares equal to models only).
_NEVER_EMPTY = frozenset({bool, int, float, tuple, datetime})


def is_empty(value: Any) -> bool:
    """Null, "", [] and {}, and ServiceNow's `{"value": "", "display_value": ""}`, mean unset."""
    # The shapes raw values and converted values come in, first: this runs for every field.
    kind = type(value)
    if kind is str or kind is list:
        return not value
    if value is None:
        return True
    if kind is dict:
        if not value:
            return True
    elif kind in _NEVER_EMPTY or isinstance(value, BaseModel):
        return False
    elif value == "" or value == [] or value == {}:
        return True
    if isinstance(value, dict) and ("value" in value or "display_value" in value):
        actual, display_value = value.get("value"), value.get("display_value")
        return (actual is None or actual == "") and (display_value is None or display_value == "")
    return False


def scalar(value: Any) -> str | None:
    """The stable string behind a raw value: an option's value, an object's name, a SN value.

    ServiceNow's actual value (not the display value) is used so the result is the same whether
    the record was read with sysparm_display_value=false or =all.
    """
    # Exact types first, then objects (select options): this runs for most fields of every
    # ticket. (A tuple of types, not `str | int | float`: that builds a union on every call.)
    if type(value) is str:
        return value
    if value is None:
        return None
    if isinstance(value, dict):
        for key in _SCALAR_KEYS:
            item = value.get(key)
            if type(item) is str:
                return item
            if isinstance(item, _TEXT_OR_NUMBER) and not isinstance(item, bool):
                return str(item)
        raise ConvertError(f"expected a single value, got an object with keys {sorted(value)}")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, _TEXT_OR_NUMBER):
        return str(value)
    raise ConvertError(f"expected a single value, got {type(value).__name__} {shown(value)}")


_TEXT_OR_NUMBER = (str, int, float)
_SCALAR_KEYS = ("value", "name", "display_value", "key", "id")


def display(value: Any) -> str | None:
    """ServiceNow's display value when the record carries one, else the plain value."""
    if isinstance(value, dict) and isinstance(value.get("display_value"), str):
        return str(value["display_value"])
    return scalar(value)


def lookup(value_map: dict[str, Any], token: str) -> tuple[bool, Any]:
    """Exact key first, then case-insensitive, then the `"*"` catch-all."""
    if token in value_map:
        return True, value_map[token]
    folded = token.casefold()
    for key, mapped in value_map.items():
        if key.casefold() == folded:
            return True, mapped
    if "*" in value_map:
        return True, value_map["*"]
    return False, None

"""Structural comparison of two JSON bodies at the keys a spec names: same keys, same JSON types.

Used to hold the sandbox's answers against real published bodies (tests/fixtures/real) without
comparing ids or values, which differ per site.

A spec is a nested description of what to compare:
- a dict names object keys; `"?key"` compares that key only where ours has it (an optional
  key), `"*"` compares every value of ours against the first value of real (objects keyed by
  ids, like editmeta's `fields`);
- a one-item list compares the items: real's first against each of ours;
- None compares the JSON types only.
A key the spec names must be in the real body (a spec naming keys the real body lacks would
compare nothing). Where real has null the type is unknown and anything of ours passes.
"""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any] | list[Any] | None


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {value!r}")


def shape_problems(real: Any, ours: Any, spec: Spec, path: str = "$") -> list[str]:
    """Where `ours` differs from `real` at the keys `spec` names, one line each."""
    if real is None:
        return []
    if json_type(real) != json_type(ours):
        return [f"{path}: real has {json_type(real)}, ours has {json_type(ours)}"]
    if isinstance(spec, list):
        if not real or not ours:
            return []
        return [
            p
            for i, item in enumerate(ours)
            for p in shape_problems(real[0], item, spec[0], f"{path}[{i}]")
        ]
    if isinstance(spec, dict):
        return _object_problems(real, ours, spec, path)
    return []


def _object_problems(
    real: dict[str, Any], ours: dict[str, Any], spec: dict[str, Any], path: str
) -> list[str]:
    problems: list[str] = []
    for name, sub in spec.items():
        if name == "*":
            if not real:
                problems.append(f"{path}: the real body has no entries to compare")
                continue
            first = next(iter(real.values()))
            for key, value in ours.items():
                problems += shape_problems(first, value, sub, f"{path}.{key}")
            continue
        optional = name.startswith("?")
        key = name.removeprefix("?")
        where = f"{path}.{key}"
        if key not in real:
            problems.append(f"{where}: the real body has no such key (fix the spec)")
        elif key in ours:
            problems += shape_problems(real[key], ours[key], sub, where)
        elif not optional:
            problems.append(f"{where}: missing (real has {json_type(real[key])})")
    return problems

"""The `Change` attributes a mapping file may fill, and what type of value each one takes.

Derived from `connector.core.model` by introspection, so a field added to the model becomes mappable
without touching this package. The schema uses it to reject unknown attributes, incompatible
converters and bad `map`/`default` values when a mapping is loaded; normalize uses the same
`TypeAdapter`s to check converted values, so load-time and run-time agree on what is valid.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel, TypeAdapter

from connector.core.model import Approval, Change, Link, Person, SecurityImpact

# Set by normalize from the ticket's identity, never from a mapping.
IDENTITY = ("source", "key", "native_id", "url")
# Filled by the [status] section, which has rules as well as a map.
STATUS_ATTRS = ("status", "native_status")
# Attributes whose value is a nested model: a mapping fills their parts ("security.level").
NESTED: dict[str, type[BaseModel]] = {"security": SecurityImpact}
# The model cannot be built without these, so a mapping must name a source for them.
REQUIRED = ("created", "updated")


@dataclass(frozen=True)
class Target:
    """One mappable attribute: its dotted name, kind, and validators for a value and an item."""

    attr: str
    kind: str  # str enum bool number datetime person strs enums links approvals
    many: bool
    enum: type[Enum] | None
    value: TypeAdapter[Any]  # the whole attribute value (for `default`)
    item: TypeAdapter[Any]  # one item (for `map` values and converted tokens)

    def describe(self) -> str:
        """What the attribute takes, for messages: `one of: minor, major`, `a number`..."""
        if self.enum is not None:
            return "one of: " + ", ".join(str(m.value) for m in self.enum)
        return _KIND_WORDS[self.kind]


_KIND_WORDS = {
    "str": "text",
    "strs": "a list of text",
    "bool": "true or false",
    "number": "a number",
    "datetime": "a date-time",
    "person": "a person",
    "links": "issue links",
    "approvals": "approvals",
}


def _strip_optional(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _bare(tp: Any) -> Any:
    return get_args(tp)[0] if get_origin(tp) is Annotated else tp


def _kind(item: Any, many: bool) -> tuple[str, type[Enum] | None]:
    base = _bare(item)
    if isinstance(base, type) and issubclass(base, Enum):
        return ("enums" if many else "enum"), base
    simple: dict[Any, str] = {
        str: "str",
        bool: "bool",
        float: "number",
        int: "number",
        datetime: "datetime",
        AwareDatetime: "datetime",
        Person: "person",
        Approval: "approvals",
        Link: "links",
    }
    if base not in simple:
        raise TypeError(f"unsupported model attribute type {item!r}")
    kind = simple[base]
    return ("strs" if many and kind == "str" else kind), None


def _target(attr: str, model: type[BaseModel], name: str) -> Target:
    info = model.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    inner = _strip_optional(info.annotation)
    many = get_origin(inner) is tuple
    item = get_args(inner)[0] if many else _strip_optional(annotation)
    kind, enum = _kind(item, many)
    return Target(attr, kind, many, enum, TypeAdapter(annotation), TypeAdapter(item))


def _build() -> dict[str, Target]:
    out: dict[str, Target] = {}
    for name in Change.model_fields:
        if name in IDENTITY or name in STATUS_ATTRS:
            continue
        if name in NESTED:
            for part in NESTED[name].model_fields:
                out[f"{name}.{part}"] = _target(f"{name}.{part}", NESTED[name], part)
        else:
            out[name] = _target(name, Change, name)
    return out


TARGETS: dict[str, Target] = _build()

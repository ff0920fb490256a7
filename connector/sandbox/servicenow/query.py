"""ServiceNow encoded queries (`sysparm_query`): parse, then filter and order rows. Pure.

    state IN -5,-4 AND (risk=1 OR risk=2), or a second group, newest first:
    stateIN-5,-4^risk=1^ORrisk=2^NQactive=false^ORDERBYDESCsys_updated_on

`^` is AND, `^OR` ORs a condition with the one before it, `^NQ` starts a new group (the groups
are ORed), `ORDERBY<f>` / `ORDERBYDESC<f>` order the result (several, most significant first).
Like a real instance, a part naming an unknown field or not parsing at all is silently dropped,
so an invalid query widens the result instead of failing: the trap a sync worker must avoid.

The caller supplies `Fields`: the kind of a (possibly dot-walked) field, or None when the table
has no such field, and a row's value for it. Numbers compare numerically, dates as their
`YYYY-MM-DD HH:MM:SS` UTC strings (second precision), strings case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

FieldKind = Literal["string", "number", "date"]
R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)


class Fields(Protocol[R_contra]):
    def kind(self, field: str) -> FieldKind | None: ...

    def value(self, row: R_contra, field: str) -> str: ...


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str


@dataclass(frozen=True)
class OrderBy:
    field: str
    descending: bool = False


Clause = tuple[Condition, ...]  # conditions ORed together
Group = tuple[Clause, ...]  # clauses ANDed together


@dataclass(frozen=True)
class EncodedQuery:
    groups: tuple[Group, ...]  # ORed together (`^NQ`); no groups: every row matches
    order: tuple[OrderBy, ...]


# Longest operators first where one is a prefix of another (>= before >).
_OPS = (
    "ISNOTEMPTY",
    "ISEMPTY",
    "EMPTYSTRING",
    "ANYTHING",
    "NOT IN",
    "NOT LIKE",
    "NOTLIKE",
    "DOESNOTCONTAIN",
    "STARTSWITH",
    "ENDSWITH",
    "CONTAINS",
    "BETWEEN",
    "LIKE",
    "IN",
    "!=",
    ">=",
    "<=",
    "=",
    ">",
    "<",
)
# Field names are lower case (a dot-walk joins several); operators are upper case or symbols,
# which is how `stateIN-5,-4` splits without a separator.
_CONDITION = re.compile(
    r"^([a-z0-9_]+(?:\.[a-z0-9_]+)*?)(" + "|".join(re.escape(op) for op in _OPS) + r")(.*)$",
    re.DOTALL,
)
_DATE_GENERATE = re.compile(
    r"^javascript:gs\.dateGenerate\(\s*'(\d{4}-\d{2}-\d{2})'\s*,\s*'(\d{2}:\d{2}:\d{2})'\s*\)$"
)
_UNARY = frozenset({"ISNOTEMPTY", "ISEMPTY", "EMPTYSTRING", "ANYTHING"})


def parse(text: str) -> EncodedQuery:
    """Split an encoded query into OR-groups of AND-clauses, and the ORDERBY list."""
    order: list[OrderBy] = []
    groups: list[Group] = []
    for group_text in text.split("^NQ"):
        clauses: list[list[Condition]] = []
        for part in group_text.split("^"):
            _parse_part(part.strip(), clauses, order)
        group = tuple(tuple(c) for c in clauses if c)
        if group:
            groups.append(group)
    return EncodedQuery(tuple(groups), tuple(order))


def _parse_part(part: str, clauses: list[list[Condition]], order: list[OrderBy]) -> None:
    if part.startswith("ORDERBYDESC"):
        order.append(OrderBy(part[len("ORDERBYDESC") :], descending=True))
    elif part.startswith("ORDERBY"):
        order.append(OrderBy(part[len("ORDERBY") :]))
    elif part.startswith("OR") and clauses and (cond := _condition(part[2:])):
        clauses[-1].append(cond)
    elif cond := _condition(part):
        clauses.append([cond])
    # EQ, GROUPBY, RLQUERY, JOIN and anything unparseable: dropped, as the instance does.


def _condition(text: str) -> Condition | None:
    match = _CONDITION.match(text)
    if match is None:
        return None
    field, op, value = match.groups()
    if op in _UNARY and value:
        return None
    return Condition(field, op, value)


def select(rows: Iterable[R], query: EncodedQuery, fields: Fields[R]) -> list[R]:
    """The rows the query matches, in its order (insertion order where it names none)."""
    match = compile_filter(query, fields)
    found = [row for row in rows if match(row)]
    return order_rows(found, query.order, fields)


def compile_filter(query: EncodedQuery, fields: Fields[R]) -> Callable[[R], bool]:
    """A predicate for the query's conditions, with unknown fields and bad values dropped."""
    groups = [_bind_group(group, fields) for group in query.groups]
    if not groups or any(not g for g in groups):
        return lambda row: True  # a group whose every part was dropped matches everything

    def matches(row: R) -> bool:
        return any(all(any(test(row) for test in clause) for clause in group) for group in groups)

    return matches


Test = Callable[[R], bool]


def _bind_group(group: Group, fields: Fields[R]) -> list[list[Test[R]]]:
    bound = [[t for t in (_bind(c, fields) for c in clause) if t] for clause in group]
    return [clause for clause in bound if clause]


def _bind(cond: Condition, fields: Fields[R]) -> Test[R] | None:
    kind = fields.kind(cond.field)
    if kind is None:
        return None
    compare = _comparator(cond.op, cond.value, kind)
    if compare is None:
        return None
    field = cond.field
    return lambda row: compare(fields.value(row, field))


def _comparator(op: str, raw: str, kind: FieldKind) -> Callable[[str], bool] | None:
    if op in _UNARY:
        return {
            "ISEMPTY": _is_empty,
            "EMPTYSTRING": _is_empty,
            "ISNOTEMPTY": _not_empty,
            "ANYTHING": _anything,
        }[op]
    if op in ("IN", "NOT IN"):
        wanted = [_normal(v, kind) for v in raw.split(",")]
        if any(w is None for w in wanted):
            return None
        keys = {w for w in wanted if w is not None}
        return (
            (lambda v: _key(v, kind) in keys)
            if op == "IN"
            else (lambda v: _key(v, kind) not in keys)
        )
    if op == "BETWEEN":
        return _between(raw, kind)
    value = _normal(raw, kind)
    if value is None:
        return None
    return _binary(op, value, kind)


def _binary(op: str, value: str, kind: FieldKind) -> Callable[[str], bool]:
    text = value.casefold()
    match op:
        case "=":
            return lambda v: _key(v, kind) == value
        case "!=":
            return lambda v: _key(v, kind) != value
        case "LIKE" | "CONTAINS":
            return lambda v: text in v.casefold()
        case "NOT LIKE" | "NOTLIKE" | "DOESNOTCONTAIN":
            return lambda v: text not in v.casefold()
        case "STARTSWITH":
            return lambda v: v.casefold().startswith(text)
        case "ENDSWITH":
            return lambda v: v.casefold().endswith(text)
    # Ordering comparisons never match an empty value (SQL NULL semantics).
    bound = _sort_key(value, kind)
    tests: dict[str, Callable[[tuple[int, float, str], tuple[int, float, str]], bool]] = {
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }
    test = tests[op]
    return lambda v: v != "" and test(_sort_key(_key(v, kind), kind), bound)


def _between(raw: str, kind: FieldKind) -> Callable[[str], bool] | None:
    low_raw, sep, high_raw = raw.partition("@")
    low, high = _normal(low_raw, kind), _normal(high_raw, kind)
    if not sep or low is None or high is None:
        return None
    lo, hi = _sort_key(low, kind), _sort_key(high, kind)
    return lambda v: v != "" and lo <= _sort_key(_key(v, kind), kind) <= hi


def _normal(raw: str, kind: FieldKind) -> str | None:
    """The query value as the stored form it is compared with; None when it is invalid."""
    if kind == "date":
        generated = _DATE_GENERATE.match(raw.strip())
        if generated:
            return f"{generated[1]} {generated[2]}"
        # Other scripted values (gs.daysAgo...) need the instance clock: unsupported, dropped.
        return None if raw.startswith("javascript:") else raw.strip()
    if kind == "number" and raw.strip():
        try:
            return _number_text(float(raw))
        except ValueError:
            return raw.casefold()
    return raw.casefold()


def _key(stored: str, kind: FieldKind) -> str:
    """A stored value in the form `_normal` produces, so `=` and `IN` compare like for like."""
    if kind == "number" and stored:
        try:
            return _number_text(float(stored))
        except ValueError:
            return stored.casefold()
    return stored if kind == "date" else stored.casefold()


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def _sort_key(value: str, kind: FieldKind) -> tuple[int, float, str]:
    """Empty values first (as NULLs sort on the instance), numbers by value, text folded."""
    if value == "":
        return (0, 0.0, "")
    if kind == "number":
        try:
            return (1, float(value), "")
        except ValueError:
            return (2, 0.0, value.casefold())
    return (1, 0.0, value if kind == "date" else value.casefold())


def order_rows(rows: list[R], order: Iterable[OrderBy], fields: Fields[R]) -> list[R]:
    """Sort by each known ORDERBY field, most significant first; stable for ties."""
    keys = [o for o in order if fields.kind(o.field) is not None]
    for ob in reversed(keys):
        rows.sort(
            key=_row_key(ob.field, fields.kind(ob.field) or "string", fields), reverse=ob.descending
        )
    return rows


def _row_key(
    field: str, kind: FieldKind, fields: Fields[R]
) -> Callable[[R], tuple[int, float, str]]:
    return lambda row: _sort_key(fields.value(row, field), kind)


def _is_empty(v: str) -> bool:
    return v == ""


def _not_empty(v: str) -> bool:
    return v != ""


def _anything(v: str) -> bool:
    return True

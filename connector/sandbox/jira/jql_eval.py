"""How a parsed JQL query reads an issue: the clause predicates and the sort keys of ORDER BY.

`jql.parse` checks a query and compiles each clause into one of these predicates over a
`JqlIssue` (the fields the evaluator reads); dates compare by the epoch minute the parser
resolved, keys by (project, number), text fields case-insensitively, as Jira does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

DATE_FIELDS = {"created", "updated"}


class JqlIssue(Protocol):
    """What the evaluator reads from an issue."""

    @property
    def key(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def number(self) -> int: ...
    @property
    def issuetype(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def resolution(self) -> str | None: ...
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def created_ms(self) -> int: ...
    @property
    def updated_ms(self) -> int: ...


Predicate = Callable[[JqlIssue], bool]


def date_test(field: str, op: str, minute: int) -> Predicate:
    def value(issue: JqlIssue) -> int:
        return (issue.created_ms if field == "created" else issue.updated_ms) // 60_000

    tests: dict[str, Callable[[int], bool]] = {
        "=": lambda m: m == minute,
        "!=": lambda m: m != minute,
        ">": lambda m: m > minute,
        ">=": lambda m: m >= minute,
        "<": lambda m: m < minute,
        "<=": lambda m: m <= minute,
    }
    test = tests[op]
    return lambda issue: test(value(issue))


def key_test(op: str, keys: list[tuple[str, int]]) -> Predicate:
    wanted = set(keys)
    if op in ("=", "in"):
        return lambda i: (i.project, i.number) in wanted
    if op in ("!=", "not in"):
        return lambda i: (i.project, i.number) not in wanted
    key = keys[0]
    tests: dict[str, Callable[[tuple[str, int]], bool]] = {
        ">": lambda k: k[0] == key[0] and k[1] > key[1],
        ">=": lambda k: k[0] == key[0] and k[1] >= key[1],
        "<": lambda k: k[0] == key[0] and k[1] < key[1],
        "<=": lambda k: k[0] == key[0] and k[1] <= key[1],
    }
    test = tests[op]
    return lambda i: test((i.project, i.number))


def _values_of(field: str, issue: JqlIssue) -> set[str]:
    if field == "labels":
        return {label.lower() for label in issue.labels}
    raw: str | None = getattr(issue, field)
    return set() if raw is None else {raw.lower()}


def text_test(field: str, op: str, wanted: set[str]) -> Predicate:
    if op in ("=", "in"):
        return lambda i: bool(_values_of(field, i) & wanted)
    # Jira's != and NOT IN never match an empty field.
    return lambda i: bool(_values_of(field, i)) and not (_values_of(field, i) & wanted)


def empty_test(field: str, *, negate: bool) -> Predicate:
    if field in DATE_FIELDS or field in ("key", "project", "issuetype", "status"):
        return lambda i: negate
    return lambda i: bool(_values_of(field, i)) == negate


def sort_value(field: str) -> Callable[[JqlIssue], tuple[object, ...]]:
    getters: dict[str, Callable[[JqlIssue], tuple[object, ...]]] = {
        "key": lambda i: (i.project, i.number),
        "project": lambda i: (i.project,),
        "issuetype": lambda i: (i.issuetype,),
        "status": lambda i: (i.status,),
        "resolution": lambda i: (i.resolution is None, i.resolution or ""),
        "created": lambda i: (i.created_ms,),
        "updated": lambda i: (i.updated_ms,),
    }
    return getters[field]

"""The JQL subset the Jira simulator understands: a pure parser into a `Query` (its predicates
and sort keys are jql_eval.py's).

    project = CHG AND issuetype in (Change) AND status != Closed
    AND updated >= "2026-11-21 10:00" ORDER BY updated ASC, key ASC

Fields: project, issuetype (type), key (issuekey), status, resolution, labels, created
(createdDate), updated (updatedDate). Operators: = != > >= < <= in, not in, is [not] EMPTY;
AND, OR, NOT and parentheses.

Date literals behave like Jira's, which is what sync workers get wrong: "yyyy-MM-dd HH:mm",
"yyyy/MM/dd HH:mm", "yyyy-MM-dd" and relative offsets ("-15m", "-2h", "-1d", "-1w") have
**minute precision** and are read in the **calling user's time zone**. Issue timestamps carry
milliseconds, so they are compared by the minute they fall in: `updated > "10:00"` means
"from 10:01", and an issue updated at 10:00:30 matches `>= "10:00"`, `<= "10:00"`, `= "10:00"`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from connector.sandbox.jira.jql_eval import (
    DATE_FIELDS,
    JqlIssue,
    Predicate,
    date_test,
    empty_test,
    key_test,
    sort_value,
    text_test,
)


class JqlError(ValueError):
    """A query Jira rejects with 400; `str(error)` is Jira's message."""


T = TypeVar("T", bound=JqlIssue)

_ALIASES = {
    "project": "project",
    "issuetype": "issuetype",
    "type": "issuetype",
    "key": "key",
    "issuekey": "key",
    "id": "key",
    "status": "status",
    "resolution": "resolution",
    "labels": "labels",
    "created": "created",
    "createddate": "created",
    "updated": "updated",
    "updateddate": "updated",
}
_ORDERABLE = {"project", "issuetype", "key", "status", "resolution", "created", "updated"}
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|=|>|<|~|\(|\)|,)"""
    r"""|(?P<word>[^\s"'=!<>~(),]+))"""
)
_RELATIVE = re.compile(r"^([+-]?)(\d+)([mhdw])$")
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


@dataclass(frozen=True)
class Token:
    kind: str  # str | op | word | end
    text: str
    pos: int


@dataclass(frozen=True)
class OrderBy:
    field: str
    descending: bool


@dataclass(frozen=True)
class Query:
    where: Predicate | None  # None: no search restriction (an unbounded query)
    order: tuple[OrderBy, ...]

    def matches(self, issue: JqlIssue) -> bool:
        return self.where is None or self.where(issue)

    def sort(self, issues: Iterable[T]) -> list[T]:
        """Sorted per ORDER BY; Jira's default is `key DESC`; the issue key breaks ties."""
        order = self.order or (OrderBy("key", True),)
        result = sorted(issues, key=sort_value("key"))
        for item in reversed(order):
            result.sort(key=sort_value(item.field), reverse=item.descending)
        return result


def parse(
    text: str,
    *,
    tz: ZoneInfo,
    now: datetime,
    known: Mapping[str, Iterable[str]] | None = None,
) -> Query:
    """Compile `text`. `known` lists the values that exist per field (project, status, ...):
    Jira rejects a value that names nothing, which catches typos in an admin's JQL."""
    parser = _Parser(
        _tokenize(text),
        text,
        tz,
        now,
        {f: {v.lower() for v in values} for f, values in (known or {}).items()},
    )
    return parser.query()


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise JqlError(
                f"Error in the JQL Query: The character '{text[pos]}' is a reserved "
                f"JQL character. (line 1, character {pos + 1})"
            )
        kind = match.lastgroup or "word"
        raw = match.group(kind)
        if kind == "str":
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        tokens.append(Token(kind, raw, match.start(kind)))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(
        self,
        tokens: list[Token],
        text: str,
        tz: ZoneInfo,
        now: datetime,
        known: dict[str, set[str]],
    ) -> None:
        self.tokens, self.text, self.tz, self.now, self.known = tokens, text, tz, now, known
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def fail(self, expected: str) -> JqlError:
        token = self.peek()
        got = "EOF" if token.kind == "end" else f"'{token.text}'"
        return JqlError(
            f"Error in the JQL Query: Expecting {expected} but got {got}. "
            f"(line 1, character {token.pos + 1})"
        )

    def query(self) -> Query:
        where = None
        if self.peek().kind != "end" and not self.word("order"):
            where = self.or_expr()
        order = self.order_by() if self.word("order") else ()
        if self.peek().kind != "end":
            raise self.fail("either 'OR' or 'AND'" if where else "a field name")
        return Query(where, order)

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.word("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda i: any(p(i) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.not_expr()]
        while self.word("and"):
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else (lambda i: all(p(i) for p in parts))

    def not_expr(self) -> Predicate:
        if self.word("not"):
            self.take()
            inner = self.not_expr()
            return lambda i: not inner(i)
        if self.peek().text == "(" and self.peek().kind == "op":
            self.take()
            inner = self.or_expr()
            if self.take().text != ")":
                self.i -= 1
                raise self.fail("')'")
            return inner
        return self.clause()

    def clause(self) -> Predicate:
        token = self.peek()
        if token.kind not in ("word", "str"):
            raise self.fail("a field name")
        field = _ALIASES.get(token.text.lower())
        if field is None:
            raise JqlError(
                f"Field '{token.text}' does not exist or you do not have permission to view it."
            )
        self.take()
        op = self.operator()
        if op in ("is", "is not"):
            if not self.word("empty", "null"):
                raise self.fail("EMPTY")
            self.take()
            return empty_test(field, negate=op == "is not")
        values = self.value_list() if op in ("in", "not in") else [self.value()]
        return self.compile_clause(field, op, values)

    def operator(self) -> str:
        token = self.take()
        if token.kind == "op" and token.text in ("=", "!=", ">", ">=", "<", "<=", "~"):
            return token.text
        if token.kind == "word" and token.text.lower() in ("in", "is"):
            if token.text.lower() == "is" and self.word("not"):
                self.take()
                return "is not"
            return token.text.lower()
        if token.kind == "word" and token.text.lower() == "not" and self.word("in"):
            self.take()
            return "not in"
        self.i -= 1
        raise self.fail("operator")

    def value(self) -> str:
        token = self.take()
        if token.kind in ("str", "word"):
            if token.kind == "word" and self.peek().text == "(":  # a function: now()
                self.take()
                if self.take().text != ")":
                    self.i -= 1
                    raise self.fail("')'")
                return token.text + "()"
            return token.text
        self.i -= 1
        raise self.fail("either a value, 'EMPTY' or a function")

    def value_list(self) -> list[str]:
        if self.take().text != "(":
            self.i -= 1
            raise self.fail("'('")
        values = [self.value()]
        while self.peek().text == ",":
            self.take()
            values.append(self.value())
        if self.take().text != ")":
            self.i -= 1
            raise self.fail("')'")
        return values

    def compile_clause(self, field: str, op: str, values: list[str]) -> Predicate:
        if field in DATE_FIELDS:
            if op in ("in", "not in", "~"):
                raise JqlError(f"The operator '{op}' is not supported by the '{field}' field.")
            return date_test(field, op, self.minute(values[0], field))
        if op in (">", ">=", "<", "<=", "~") and field != "key":
            raise JqlError(f"The operator '{op}' is not supported by the '{field}' field.")
        for value in values:
            self.check_known(field, value)
        if field == "key":
            return key_test(op, [_key_parts(v) for v in values])
        return text_test(field, op, {v.lower() for v in values})

    def check_known(self, field: str, value: str) -> None:
        known = self.known.get(field)
        if known is not None and value.lower() not in known:
            raise JqlError(f"The value '{value}' does not exist for the field '{field}'.")

    def minute(self, literal: str, field: str) -> int:
        """Epoch minute of a date literal, read in the caller's zone at minute precision."""
        if literal.lower() == "now()":
            return int(self.now.timestamp()) // 60
        if rel := _RELATIVE.match(literal.replace(" ", "")):
            sign = -1 if rel.group(1) == "-" else 1
            moment = self.now + sign * int(rel.group(2)) * _UNITS[rel.group(3)]
            return int(moment.timestamp()) // 60
        for fmt in _DATE_FORMATS:
            try:
                local = datetime.strptime(literal, fmt)
            except ValueError:
                continue
            return int(local.replace(tzinfo=self.tz).timestamp()) // 60
        raise JqlError(
            f"Date value '{literal}' for field '{field}' is invalid. Valid formats include: "
            "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
            "format e.g. '-5d', '4w 2d'."
        )

    def order_by(self) -> tuple[OrderBy, ...]:
        self.take()
        if not self.word("by"):
            raise self.fail("'by'")
        self.take()
        items = [self.order_item()]
        while self.peek().text == ",":
            self.take()
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderBy:
        token = self.take()
        field = _ALIASES.get(token.text.lower()) if token.kind in ("word", "str") else None
        if field is None or field not in _ORDERABLE:
            if token.kind == "end":
                self.i -= 1
                raise self.fail("a field name")
            raise JqlError(
                f"Field '{token.text}' does not exist or you do not have permission to view it."
            )
        descending = False
        if self.word("asc", "desc"):
            descending = self.take().text.lower() == "desc"
        return OrderBy(field, descending)


def _key_parts(key: str) -> tuple[str, int]:
    project, _, number = key.upper().rpartition("-")
    if not project or not number.isdigit():
        raise JqlError(f"The issue key '{key}' for field 'key' is invalid.")
    return project, int(number)

"""Converters: how one raw Jira or ServiceNow value becomes one value of the `Change` model.

A mapping file names a converter per field (`converter = "option"`); `CONVERTERS` is the registry
the schema validates those names against and `normalize` calls. Converters are pure functions of
the raw value and a small `Context` (ticket key, base URL, the field's value map).

Two families:
- token converters (`output` "one" or "many") only pull strings out of the raw shape; the generic
  step in `normalize` then applies the field's `map` and checks the result against the target
  attribute's type, so value maps work the same way for every converter;
- typed converters build model values themselves (`Person`, datetime, `Link`, `Approval`).

A value a converter cannot read raises `ConvertError`; normalize turns it into `SkipRecord`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from connector.core.mapping.markup import adf_to_text, wiki_to_text
from connector.core.mapping.raw import (
    Context,
    ConvertError,
    display,
    is_empty,
    lookup,
    scalar,
    shown,
)
from connector.core.model import Approval, Decision, Link, Person

Output = Literal["one", "many", "person", "datetime", "links", "approvals"]


@dataclass(frozen=True)
class Converter:
    name: str
    read: Callable[[Any, Context], Any]
    output: Output
    targets: frozenset[str]  # target kinds (see schema.Target.kind) this converter can fill
    help: str
    systems: frozenset[str] = field(default=frozenset({"jira", "servicenow"}))


def _items(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    raise ConvertError(f"expected a list, got {type(value).__name__} {shown(value)}")


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


# ---- token converters -------------------------------------------------------------------------


def _text(value: Any, ctx: Context) -> str | None:
    if isinstance(value, dict) and value.get("type") == "doc":
        raise ConvertError("got an Atlassian Document Format body; use converter 'adf' or 'rich'")
    return scalar(value)


def _wiki(value: Any, ctx: Context) -> str | None:
    if not isinstance(value, str):
        raise ConvertError(f"expected wiki markup text, got {type(value).__name__}")
    return wiki_to_text(value)


def _adf(value: Any, ctx: Context) -> str | None:
    if not isinstance(value, dict) or "type" not in value:
        raise ConvertError(f"expected an ADF document, got {shown(value)}")
    try:
        return adf_to_text(value)
    except ValueError as exc:
        raise ConvertError(str(exc)) from None


def _rich(value: Any, ctx: Context) -> str | None:
    # Jira REST v2 sends wiki markup, v3 sends ADF; one mapping serves both.
    return _adf(value, ctx) if isinstance(value, dict) else _wiki(value, ctx)


def _display(value: Any, ctx: Context) -> str | None:
    return display(value)


def _multi(value: Any, ctx: Context) -> tuple[str, ...]:
    return tuple(filter(None, map(scalar, _items(value))))


def _names(value: Any, ctx: Context) -> tuple[str, ...]:
    out = []
    for item in _items(value):
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str):
            raise ConvertError(f"expected objects with a 'name', got {shown(item)}")
        out.append(name)
    return tuple(out)


def _list(value: Any, ctx: Context) -> tuple[str, ...]:
    if isinstance(value, list):
        return _multi(value, ctx)
    return _split(scalar(value))


def _cmdb_ci(value: Any, ctx: Context) -> tuple[str, ...]:
    # The display value holds CI names ("payments-api, auth-service"); without it (plain form)
    # only sys_ids are known, which a `map` can still translate to names.
    return _split(display(value))


def text_as_is(converter: Converter) -> bool:
    """Whether the converter returns a text value unchanged (normalize skips the call then)."""
    return converter.read is _text


# ---- typed converters -------------------------------------------------------------------------


def _user(value: Any, ctx: Context) -> Person | None:
    if isinstance(value, str):
        return person(value)
    if not isinstance(value, dict):
        raise ConvertError(f"expected a user object, got {shown(value)}")
    if "display_value" in value or "link" in value:
        return _reference(value, ctx)
    # Cloud identifies users by accountId; Data Center by user name (key is an internal id).
    ident = value.get("accountId") or value.get("name") or value.get("key")
    if not isinstance(ident, str) or not ident:
        raise ConvertError(f"user has no accountId or name: {shown(value)}")
    return person(ident, str(value.get("displayName") or ""), str(value.get("emailAddress") or ""))


@lru_cache(maxsize=4096)
def person(ident: str, name: str = "", email: str = "") -> Person:
    """The `Person` for these values. The same few people requested, approved and implemented
    most changes, and a `Person` is a frozen value, so one instance serves every ticket."""
    return Person(id=ident, name=name, email=email)


def _reference(value: Any, ctx: Context) -> Person | None:
    ident = scalar(value)
    if not ident:
        return None
    name = value.get("display_value") if isinstance(value, dict) else None
    return person(ident, name if isinstance(name, str) else "")


def parse_datetime(value: Any) -> datetime:
    """Jira `2026-11-21T10:00:00.000+0000`, ISO 8601, SN `2026-11-21 10:00:00` (UTC), epoch ms."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ConvertError(f"unparsable date-time {shown(value)}") from None
        # ServiceNow values carry no zone and are UTC by definition; so are bare Jira dates. Jira
        # renders in the API user's zone: converting to UTC keeps the fingerprint of a ticket the
        # same whichever user (or zone setting) read it.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if isinstance(value, dict):
        # JSM dates carry several renderings; the machine ones are exact.
        for key in ("jira", "iso8601", "value", "epochMillis"):
            if value.get(key) not in (None, ""):
                return parse_datetime(value[key])
        raise ConvertError(f"expected a date-time, got {shown(value)}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise ConvertError(f"epoch milliseconds out of range: {shown(value)}") from None
    raise ConvertError(f"expected a date-time, got {shown(value)}")


def _datetime(value: Any, ctx: Context) -> datetime | None:
    return parse_datetime(value)


def _links(value: Any, ctx: Context) -> tuple[Link, ...]:
    out = []
    base = ctx.base_url.rstrip("/")
    for item in _items(value):
        if not isinstance(item, dict):
            raise ConvertError(f"expected an issue link object, got {shown(item)}")
        kind = item.get("type")
        kind = kind if isinstance(kind, dict) else {}
        for side, label in (("outwardIssue", "outward"), ("inwardIssue", "inward")):
            other = item.get(side)
            if isinstance(other, dict) and isinstance(other.get("key"), str):
                relation = str(kind.get(label) or kind.get("name") or "relates to")
                key = other["key"]
                out.append(Link(relation=relation, target=key, url=f"{base}/browse/{key}"))
    return tuple(out)


# Built-in decision words; the field's own `map` is consulted first and may add to them.
_DECISIONS: dict[str, Decision] = {
    "pending": Decision.PENDING,
    "requested": Decision.PENDING,
    "approved": Decision.APPROVED,
    "declined": Decision.REJECTED,
    "rejected": Decision.REJECTED,
    "cancelled": Decision.CANCELLED,
    "canceled": Decision.CANCELLED,
    "duplicate": Decision.CANCELLED,
    "not requested": Decision.NOT_REQUESTED,
    "not_requested": Decision.NOT_REQUESTED,
    "not_required": Decision.NOT_REQUESTED,
}


def _decision(token: str | None, ctx: Context) -> Decision:
    if not token:
        return Decision.PENDING
    if ctx.value_map:
        found, mapped = lookup(ctx.value_map, token)
        if found:
            return Decision(mapped)
    try:
        return _DECISIONS[token.casefold()]
    except KeyError:
        raise ConvertError(f"approval decision {shown(token)} is not in the map") from None


def _sd_approvals(value: Any, ctx: Context) -> tuple[Approval, ...]:
    out = []
    for approval in _items(value):
        if not isinstance(approval, dict):
            raise ConvertError(f"expected a JSM approval object, got {shown(approval)}")
        group = str(approval.get("name") or "")
        completed = approval.get("completedDate")
        for entry in approval.get("approvers") or []:
            person = _user(entry.get("approver"), ctx) if isinstance(entry, dict) else None
            if person is None:
                continue
            decision = _decision(scalar(entry.get("approverDecision")), ctx)
            decided = decision not in (Decision.PENDING, Decision.NOT_REQUESTED)
            out.append(
                Approval(
                    approver=person,
                    group=group,
                    decision=decision,
                    decided_at=parse_datetime(completed) if decided and completed else None,
                )
            )
    return tuple(out)


def _sn_approvals(value: Any, ctx: Context) -> tuple[Approval, ...]:
    rows = [r for r in _items(value) if isinstance(r, dict)]
    # Rows may come from a batch query: keep this change's only, in a stable order so the
    # fingerprint does not depend on the order the server happened to return them in.
    rows = [r for r in rows if scalar(r.get("sysapproval")) in (None, "", ctx.native_id)]
    rows.sort(key=lambda r: (scalar(r.get("sys_created_on")) or "", scalar(r.get("sys_id")) or ""))
    out = []
    for row in rows:
        person = _reference(row.get("approver"), ctx)
        if person is None:
            continue
        decision = _decision(scalar(row.get("state")), ctx)
        updated = row.get("sys_updated_on")
        decided = decision in (Decision.APPROVED, Decision.REJECTED)
        out.append(
            Approval(
                approver=person,
                group=display(row.get("group")) or "",
                decision=decision,
                decided_at=parse_datetime(updated) if decided and not is_empty(updated) else None,
                comment=display(row.get("comments")) or "",
            )
        )
    return tuple(out)


_TEXT_TARGETS = frozenset({"str", "enum", "strs", "enums", "bool", "number"})
_LIST_TARGETS = frozenset({"strs", "enums", "str", "enum"})
_JIRA = frozenset({"jira"})
_SN = frozenset({"servicenow"})

CONVERTERS: dict[str, Converter] = {
    c.name: c
    for c in (
        Converter("text", _text, "one", _TEXT_TARGETS, "plain value as is"),
        Converter("wiki", _wiki, "one", _TEXT_TARGETS, "Jira wiki markup -> plain text"),
        Converter("adf", _adf, "one", _TEXT_TARGETS, "Atlassian Document Format -> plain text"),
        Converter("rich", _rich, "one", _TEXT_TARGETS, "wiki string or ADF, whichever arrives"),
        Converter("option", _text, "one", _TEXT_TARGETS, "select option / object -> its value"),
        Converter("display", _display, "one", _TEXT_TARGETS, "ServiceNow display value"),
        Converter("number", _text, "one", frozenset({"number"}), "number"),
        Converter("boolean", _text, "one", frozenset({"bool"}), "true/false (Yes/No via map)"),
        Converter("multi-option", _multi, "many", _LIST_TARGETS, "list of options -> values"),
        Converter("labels", _multi, "many", _LIST_TARGETS, "Jira labels"),
        Converter("components", _names, "many", _LIST_TARGETS, "Jira components -> names"),
        Converter("versions", _names, "many", _LIST_TARGETS, "Jira versions -> names"),
        Converter("list", _list, "many", _LIST_TARGETS, "comma-separated string -> items"),
        Converter("cmdb-ci", _cmdb_ci, "many", _LIST_TARGETS, "SN cmdb_ci reference/list -> names"),
        Converter("user", _user, "person", frozenset({"person"}), "Jira user -> Person"),
        Converter("reference", _reference, "person", frozenset({"person"}), "SN sys_user ref"),
        Converter("datetime", _datetime, "datetime", frozenset({"datetime"}), "date-time"),
        Converter("links", _links, "links", frozenset({"links"}), "Jira issuelinks", _JIRA),
        Converter(
            "sd-approvals",
            _sd_approvals,
            "approvals",
            frozenset({"approvals"}),
            "Jira Service Management approvals",
            _JIRA,
        ),
        Converter(
            "sn-approvals",
            _sn_approvals,
            "approvals",
            frozenset({"approvals"}),
            "ServiceNow sysapproval_approver rows (source = the related table)",
            _SN,
        ),
    )
}

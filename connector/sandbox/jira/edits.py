"""Writes to issues: `fields` / `update` bodies -> canonical values + changelog items.

Jira validates per field and answers 400 with `errors: {fieldId: message}`; an edit that
changes nothing writes no history and does not touch `updated` (the worker's echo
suppression relies on that). v3 rich-text fields accept only ADF, v2 only strings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from connector.sandbox.catalog import JIRA_ISSUE_TYPES, USERS, USERS_BY_LOGIN
from connector.sandbox.jira import adf
from connector.sandbox.jira.fieldset import (
    DATETIME,
    NUMBER,
    OPTION,
    OPTIONS,
    STRING,
    TEXT,
    USER,
    FieldSet,
)
from connector.sandbox.jira.render import RESOLUTION_IDS, VERSION_IDS
from connector.sandbox.jira.store import ChangeItem, Issue


class EditError(ValueError):
    def __init__(self, errors: dict[str, str], messages: list[str] | None = None) -> None:
        super().__init__(str(errors or messages))
        self.errors = errors
        self.messages = messages or []


def _not_settable(fid: str) -> str:
    return f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."


def _named(raw: Any, known: dict[str, str], fid: str, what: str) -> str | None:
    """A {name}/{id} reference to a named thing (version, resolution, ...)."""
    if raw is None:
        return None
    if isinstance(raw, dict):
        if "name" in raw and raw["name"] in known:
            return str(raw["name"])
        by_id = {v: k for k, v in known.items()}
        if "id" in raw and str(raw["id"]) in by_id:
            return by_id[str(raw["id"])]
    raise EditError({fid: f"{what} name '{_label(raw)}' is not valid"})


def _label(raw: Any) -> str:
    return (
        str(raw.get("name") or raw.get("value") or raw.get("id"))
        if isinstance(raw, dict)
        else str(raw)
    )


def _option(fid: str, raw: Any, fs: FieldSet) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        if raw.get("value") in fs.option_ids[fid]:
            return str(raw["value"])
        if str(raw.get("id")) in fs.option_by_id[fid]:
            return fs.option_by_id[fid][str(raw["id"])]
    raise EditError({fid: f"Option value '{_label(raw)}' is not valid"})


def _user(fid: str, raw: Any, cloud: bool) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        for u in USERS:
            if (cloud and raw.get("accountId") == u.account_id) or (
                not cloud and raw.get("name") == u.login
            ):
                return u.login
    if cloud:
        raise EditError(
            {fid: "Specified user does not exist or you do not have required permissions"}
        )
    raise EditError({fid: f"User '{_label(raw)}' does not exist."})


def _datetime(fid: str, raw: Any) -> datetime | None:
    if raw is None:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"):
        try:
            return datetime.strptime(str(raw), fmt)
        except ValueError:
            continue
    raise EditError(
        {
            fid: f"Invalid date format. Please enter the date in the format "
            f"\"yyyy-MM-dd'T'HH:mm:ss.SSSZ\". ({raw})"
        }
    )


def _string(raw: Any) -> str | None:
    return None if raw in (None, "") else str(raw)


def _date(fid: str, raw: Any) -> str | None:
    """A date field (`duedate`, date pickers) takes "yyyy-MM-dd" only."""
    if raw in (None, ""):
        return None
    text = str(raw)
    try:
        parsed: date | None = date.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or len(text) != 10:
        raise EditError({fid: f"Error parsing date string: {text}"})
    return parsed.isoformat()


def _text(fid: str, raw: Any, version: str) -> str | None:
    if raw is None:
        return None
    if version == "3":
        if not adf.is_adf(raw):
            raise EditError(
                {
                    fid: "Operation value must be an Atlassian Document (see the "
                    "Atlassian Document Format)"
                }
            )
        return adf.from_adf(raw) or None
    if not isinstance(raw, str):
        raise EditError({fid: "Operation value must be a string"})
    return raw or None


def parse_value(fid: str, raw: Any, *, version: str, cloud: bool, fs: FieldSet) -> Any:
    kind = fs[fid].kind
    special: dict[str, Callable[[], Any]] = {
        "labels": lambda: [str(v) for v in raw or []],
        "fixVersions": lambda: [_named(v, VERSION_IDS, fid, "Version") for v in raw or []],
        "resolution": lambda: _named(raw, RESOLUTION_IDS, fid, "Resolution"),
        "priority": lambda: _named(raw, {"Medium": "3"}, fid, "Priority"),
        "issuetype": lambda: _named(raw, {n: i for i, n in JIRA_ISSUE_TYPES}, fid, "Issue type"),
    }
    if fid in special:
        return special[fid]()
    if fid == "summary" and not raw:
        raise EditError({"summary": "You must specify a summary of the issue."})
    parsers: dict[str, Callable[[], Any]] = {
        OPTION: lambda: _option(fid, raw, fs),
        OPTIONS: lambda: [_option(fid, v, fs) for v in raw or []],
        TEXT: lambda: _text(fid, raw, version),
        NUMBER: lambda: None if raw is None else float(raw),
        DATETIME: lambda: _datetime(fid, raw),
        USER: lambda: _user(fid, raw, cloud),
        STRING: lambda: (
            _date(fid, raw) if (fs[fid].schema or {}).get("type") == "date" else _string(raw)
        ),
    }
    return parsers[kind]()


def _apply_operations(
    issue: Issue, fid: str, ops: Any, version: str, cloud: bool, fs: FieldSet
) -> Any:
    """The new value after `update` operations: set, add, remove (lists only)."""
    value = issue.fields.get(fid)
    for op in ops if isinstance(ops, list) else [ops]:
        if not isinstance(op, dict) or len(op) != 1:
            raise EditError({fid: "Operation must be a single {verb: value} object"})
        verb, raw = next(iter(op.items()))
        if verb == "set":
            value = parse_value(fid, raw, version=version, cloud=cloud, fs=fs)
        elif verb in ("add", "remove") and isinstance(value, list | type(None)):
            item = parse_value(fid, [raw], version=version, cloud=cloud, fs=fs)[0]
            current = list(value or [])
            if verb == "add" and item not in current:
                current.append(item)
            if verb == "remove" and item in current:
                current.remove(item)
            value = current
        else:
            raise EditError({fid: f"Field '{fid}' does not support operation '{verb}'"})
    return value


def plan_edit(
    issue: Issue,
    body: dict[str, Any],
    *,
    version: str,
    cloud: bool,
    fs: FieldSet,
    allowed: set[str] | None = None,
) -> dict[str, Any]:
    """New canonical values per field id, validated; nothing is written yet."""
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    unknown = {
        fid: _not_settable(fid)
        for fid in [*fields, *update]
        if fid not in fs or not fs[fid].editable or (allowed is not None and fid not in allowed)
    }
    if unknown:
        raise EditError(unknown)
    new: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for fid, raw in fields.items():
        try:
            new[fid] = parse_value(fid, raw, version=version, cloud=cloud, fs=fs)
        except EditError as exc:
            errors.update(exc.errors)
    for fid, ops in update.items():
        try:
            new[fid] = _apply_operations(issue, fid, ops, version, cloud, fs)
        except EditError as exc:
            errors.update(exc.errors)
    if errors:
        raise EditError(errors)
    return new


def apply(issue: Issue, new: dict[str, Any], *, cloud: bool, fs: FieldSet) -> list[ChangeItem]:
    """Write the values that differ; the changelog items describing what changed."""
    items = []
    for fid, value in new.items():
        old = issue.fields.get(fid)
        if _same(old, value):
            continue
        items.append(change_item(fid, old, value, cloud=cloud, fs=fs))
        issue.fields[fid] = value
    return items


def _same(old: Any, new: Any) -> bool:
    return (old or None) == (new or None) if isinstance(old, list | type(None)) else old == new


def change_item(fid: str, old: Any, new: Any, *, cloud: bool, fs: FieldSet) -> ChangeItem:
    field = fs[fid]
    name = field.name if field.custom else {"fixVersions": "Fix Version"}.get(fid, fid)
    from_id, from_string = _describe(fid, old, cloud, fs)
    to_id, to_string = _describe(fid, new, cloud, fs)
    return ChangeItem(
        name, fid, "custom" if field.custom else "jira", from_id, from_string, to_id, to_string
    )


def _describe(fid: str, value: Any, cloud: bool, fs: FieldSet) -> tuple[str | None, str | None]:
    """(`from`/`to`, `fromString`/`toString`) of a value in a changelog item."""
    if value is None or value == []:
        return None, None
    kind = fs[fid].kind
    if fid == "labels":
        return None, " ".join(value)
    if fid == "status":
        from connector.sandbox.catalog import JIRA_STATUSES

        return JIRA_STATUSES[value][0], value
    if fid == "resolution":
        return RESOLUTION_IDS[value], value
    if kind == OPTION:
        return fs.option_ids[fid][value], value
    if kind == OPTIONS:
        return ", ".join(fs.option_ids[fid][v] for v in value), ", ".join(value)
    if kind == USER:
        u = USERS_BY_LOGIN[value]
        return (u.account_id if cloud else u.login), u.display_name
    if isinstance(value, datetime):
        return value.isoformat(), value.strftime("%d/%b/%y %I:%M %p")
    if isinstance(value, list):
        return None, ", ".join(str(v) for v in value)
    return None, str(value)

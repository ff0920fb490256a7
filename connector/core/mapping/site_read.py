"""Documented response bodies -> the parts of a `Site`: pure parsers the discovery shell feeds.

Jira (shapes from Atlassian's OpenAPI): `FieldDetails` (GET /field), `IssueUpdateMetadata`
(GET /issue/{key}/editmeta: `fields.<id>.allowedValues`), `CustomFieldContextOption` (GET
/field/{id}/context/{ctx}/option, admin only), `IssueTypeWithStatus` (GET
/project/{key}/statuses) and `IssueTransition` (GET /issue/{key}/transitions, with
`expand=transitions.fields` for the resolutions a screen allows).
ServiceNow: `sys_dictionary` rows (name, element, internal_type, reference, column_label) and
`sys_choice` rows (name, element, value, label, inactive), as the Table API returns them with
or without display values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connector.core.mapping.site import SiteField, SiteStatus, SiteTransition

# ---- Jira ----------------------------------------------------------------------------------


def jira_kind(schema: dict[str, Any] | None) -> str:
    """`schema.type`, with `array:<items>` for arrays ("" when the field has no schema)."""
    if not schema:
        return ""
    kind = str(schema.get("type", ""))
    if kind == "array" and schema.get("items"):
        return f"array:{schema['items']}"
    return kind


def jira_fields(details: Iterable[dict[str, Any]]) -> list[SiteField]:
    """`GET /field` -> fields without options (those come from edit metadata or contexts)."""
    out = []
    for item in details:
        schema = item.get("schema") or {}
        out.append(
            SiteField(
                id=str(item["id"]),
                name=str(item.get("name") or item["id"]),
                kind=jira_kind(schema),
                custom=str(schema.get("custom", "")),
            )
        )
    return out


def option_text(value: Any) -> str | None:
    """An allowed value as the issue JSON carries it: option `value`, else object `name`."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return None
    for key in ("value", "name"):
        if isinstance(value.get(key), str):
            return str(value[key])
    return None


def editmeta_options(editmeta: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Field id -> allowed values, for every field of the edit metadata that lists them."""
    out: dict[str, tuple[str, ...]] = {}
    for field_id, meta in (editmeta.get("fields") or {}).items():
        allowed = meta.get("allowedValues") if isinstance(meta, dict) else None
        if isinstance(allowed, list):
            out[field_id] = _unique(v for v in map(option_text, allowed) if v is not None)
    return out


def context_options(values: Iterable[dict[str, Any]]) -> tuple[str, ...]:
    """`CustomFieldContextOption`s -> their values (disabled ones too: old tickets hold them).

    Cascading child options (with `optionId`) are not values of the field itself."""
    return _unique(str(v["value"]) for v in values if "value" in v and not v.get("optionId"))


def jira_statuses(
    issue_types: Iterable[dict[str, Any]], wanted: Iterable[str]
) -> tuple[SiteStatus, ...]:
    """`IssueTypeWithStatus`es -> the statuses of the wanted issue types, in site order."""
    names = {w.casefold() for w in wanted}
    out: dict[str, SiteStatus] = {}
    for issue_type in issue_types:
        if names and str(issue_type.get("name", "")).casefold() not in names:
            continue
        for status in issue_type.get("statuses") or []:
            out.setdefault(status["name"], _status(status))
    return tuple(out.values())


def _status(status: dict[str, Any]) -> SiteStatus:
    category = status.get("statusCategory") or {}
    return SiteStatus(name=str(status["name"]), category=str(category.get("key", "")))


def jira_transitions(status: str, transitions: Iterable[dict[str, Any]]) -> list[SiteTransition]:
    """`IssueTransition`s offered to an issue in `status`."""
    out = []
    for t in transitions:
        fields = t.get("fields") or {}
        resolution = fields.get("resolution") or {}
        allowed = resolution.get("allowedValues") or []
        out.append(
            SiteTransition(
                name=str(t["name"]),
                to=str((t.get("to") or {}).get("name", "")),
                from_statuses=(status,),
                is_global=bool(t.get("isGlobal")),
                needs_resolution=bool(resolution.get("required")),
                resolutions=_unique(v for v in map(option_text, allowed) if v is not None),
            )
        )
    return out


def merge_transitions(seen: Iterable[SiteTransition]) -> tuple[SiteTransition, ...]:
    """One transition per (name, target), offered from every status it was seen from."""
    merged: dict[tuple[str, str], SiteTransition] = {}
    for t in seen:
        key = (t.name, t.to)
        old = merged.get(key)
        if old is None:
            merged[key] = t
            continue
        merged[key] = old.model_copy(
            update={
                "from_statuses": _unique((*old.from_statuses, *t.from_statuses)),
                "is_global": old.is_global or t.is_global,
                "needs_resolution": old.needs_resolution or t.needs_resolution,
                "resolutions": _unique((*old.resolutions, *t.resolutions)),
            }
        )
    return tuple(merged.values())


def transition_statuses(transitions: Iterable[dict[str, Any]]) -> list[SiteStatus]:
    """The target statuses (`to`, a `StatusDetails` with its category) of transitions."""
    return [_status(t["to"]) for t in transitions if isinstance(t.get("to"), dict)]


# ---- ServiceNow ----------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A Table API cell: plain, or `{value, display_value}` with sysparm_display_value=all."""
    if isinstance(value, dict):
        value = value.get("value", "")
    return "" if value is None else str(value)


def sn_fields(
    dictionary: Iterable[dict[str, Any]],
    choices: Iterable[dict[str, Any]],
    *,
    tables: tuple[str, ...],
) -> tuple[SiteField, ...]:
    """Dictionary rows + choice rows of `tables` (the change table first, then its parents).

    A column defined on several tables (a child's override) is taken from the first one; its
    choices likewise come from the first table that lists any for it."""
    rank = {t: i for i, t in enumerate(tables)}
    columns: dict[str, tuple[int, dict[str, Any]]] = {}
    for row in dictionary:
        table, element = cell(row.get("name")), cell(row.get("element"))
        if not element or table not in rank:
            continue
        if element not in columns or rank[table] < columns[element][0]:
            columns[element] = (rank[table], row)
    listed = _choices(choices, rank)
    out = []
    for element, (_, row) in columns.items():
        values = listed.get(element)
        out.append(
            SiteField(
                id=element,
                name=cell(row.get("column_label")) or element,
                kind=cell(row.get("internal_type")) or "string",
                reference=cell(row.get("reference")),
                options=tuple(v for v, _ in values) if values else None,
                labels=tuple(label for _, label in values) if values else (),
            )
        )
    return tuple(out)


def _choices(
    rows: Iterable[dict[str, Any]], rank: dict[str, int]
) -> dict[str, list[tuple[str, str]]]:
    best: dict[str, int] = {}
    out: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        table, element = cell(row.get("name")), cell(row.get("element"))
        if table not in rank or cell(row.get("inactive")) == "true":
            continue
        if element in best and rank[table] > best[element]:
            continue
        if element not in best or rank[table] < best[element]:
            best[element], out[element] = rank[table], []
        value = cell(row.get("value"))
        if all(value != v for v, _ in out[element]):
            out[element].append((value, cell(row.get("label")) or value))
    return out


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))

"""Rows as the Table API returns them: `sysparm_fields`, `sysparm_display_value`, reference links.

    false  "risk": "3"          "cmdb_ci": {"link": "<url>", "value": "<id>"}
    true   "risk": "Moderate"   "cmdb_ci": {"display_value": "payments-api", "link": "<url>"}
    all    "risk": {"display_value": "Moderate", "value": "3"}  (references add "link")

`sysparm_exclude_reference_link=true` turns a reference into its plain value / display string.
Display values are what a user sees: choice labels, the referenced record's display column,
dates in the calling user's time zone, integers grouped ("1,200"), and for journal columns the
journal history (`work_notes` reads back "" as a value but its entries as a display value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from connector.sandbox.servicenow.columns import Column, Kind
from connector.sandbox.servicenow.store import Store, Table

DisplayMode = Literal["false", "true", "all"]
Cell = str | dict[str, str]


@dataclass(frozen=True)
class View:
    """How one request wants its rows: the columns, the value form and the caller's zone."""

    fields: tuple[str, ...] | None  # None: every column of the table
    mode: DisplayMode
    links: bool
    zone: str
    base_url: str  # the instance URL, for reference links


def present(store: Store, table: Table, row: Mapping[str, str], view: View) -> dict[str, Cell]:
    names = view.fields if view.fields is not None else table.ordered
    out: dict[str, Cell] = {}
    for name in names:
        found = store.resolve(table, name)
        if found is None:
            continue  # unknown columns in sysparm_fields are left out
        leaf_table, leaf_row = store.walk(table, row, name) if "." in name else (table, row)
        out[name] = _cell(store, leaf_table, leaf_row, name.rsplit(".", 1)[-1], found[1], view)
    return out


def _cell(
    store: Store, table: Table, row: Mapping[str, str] | None, name: str, column: Column, view: View
) -> Cell:
    value = table.get(row, name) if row is not None else ""
    link = ""
    if column.kind is Kind.REFERENCE and value and view.links:
        link = f"{view.base_url}/api/now/table/{column.ref}/{value}"
    if view.mode == "false":
        return {"link": link, "value": value} if link else value
    shown = display(store, table, row, name, column, view.zone) if row is not None else ""
    if view.mode == "true":
        return {"display_value": shown, "link": link} if link else shown
    cell = {"display_value": shown, "value": value}
    if link:
        cell["link"] = link
    return cell


def display(
    store: Store, table: Table, row: Mapping[str, str], name: str, column: Column, zone: str
) -> str:
    value = table.get(row, name)
    match column.kind:
        case Kind.CHOICE | Kind.INT_CHOICE:
            return column.choices.get(value, value)
        case Kind.REFERENCE:
            return _reference_display(store, column.ref, value)
        case Kind.GLIDE_LIST:
            return ", ".join(
                _reference_display(store, column.ref, v) or v for v in value.split(",") if v
            )
        case Kind.DATETIME:
            return local_time(value, zone)
        case Kind.INTEGER:
            return f"{int(value):,}" if value.lstrip("-").isdigit() else value
        case Kind.JOURNAL:
            return _journal_display(store, row.get("sys_id", ""), name, table, zone)
    return value


def _reference_display(store: Store, ref: str, sys_id: str) -> str:
    target = store.table(ref)
    row = target.rows.get(sys_id) if target is not None and sys_id else None
    if target is None or row is None:
        return ""
    name = target.schema.display
    value = target.get(row, name)
    column = target.columns[name]
    # A record whose display column is itself a reference shows that record's display value.
    return _reference_display(store, column.ref, value) if column.kind is Kind.REFERENCE else value


def _journal_display(store: Store, sys_id: str, name: str, table: Table, zone: str) -> str:
    """The journal as the form shows it: newest first, `<time> - <user> (<label>)`, text."""
    elements = ("comments", "work_notes") if name == "comments_and_work_notes" else (name,)
    users = store.tables["sys_user"]
    names = {users.get(r, "user_name"): users.get(r, "name") for r in users.rows.values()}
    parts = []
    for entry in store.journal(sys_id, elements):
        label = table.columns[entry["element"]].journal_label
        who = names.get(entry["sys_created_by"], entry["sys_created_by"])
        parts.append(
            f"{local_time(entry['sys_created_on'], zone)} - {who} ({label})\n{entry['value']}\n\n"
        )
    return "".join(parts)


def local_time(value: str, zone: str) -> str:
    """A stored UTC `YYYY-MM-DD HH:MM:SS` in the user's time zone, same format."""
    if not value:
        return ""
    try:
        moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return value
    return moment.astimezone(_zone(zone)).strftime("%Y-%m-%d %H:%M:%S")


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name or "UTC")

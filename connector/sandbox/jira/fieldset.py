"""The Jira site's fields: system + catalog custom fields, their schemas and option ids.

`GET field` serves `field_details()`; render.py and the write path ask `FIELDS` how a value
is shaped; option ids are fixed per (field, value) so they read the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.sandbox.catalog import CONFIGURATION_ITEMS, DEPARTMENTS, JIRA_CUSTOM_FIELDS

# Value kinds, used by render.py and edits.py
OPTION, OPTIONS, TEXT, STRING, NUMBER, DATETIME, USER, APPROVALS = (
    "option",
    "options",
    "text",
    "string",
    "number",
    "datetime",
    "user",
    "approvals",
)
SYSTEM = "system"  # rendered by a dedicated function in render.py


@dataclass(frozen=True)
class FieldDef:
    id: str
    name: str
    kind: str
    schema: dict[str, Any] | None
    clause_names: tuple[str, ...]
    navigable: bool = True
    orderable: bool = True
    searchable: bool = True
    editable: bool = True

    @property
    def custom(self) -> bool:
        return self.id.startswith("customfield_")


def _system(
    fid: str,
    name: str,
    kind: str,
    stype: str | None,
    clauses: tuple[str, ...] = (),
    items: str | None = None,
    **flags: bool,
) -> FieldDef:
    schema: dict[str, Any] | None = None
    if stype is not None:
        schema = {"type": stype, "system": fid}
        if items:
            schema["items"] = items
    return FieldDef(fid, name, kind, schema, clauses or (fid,), **flags)


_SYSTEM_FIELDS = (
    _system(
        "issuekey",
        "Key",
        SYSTEM,
        None,
        ("id", "issue", "issuekey", "key"),
        orderable=False,
        searchable=False,
        editable=False,
    ),
    _system("summary", "Summary", STRING, "string"),
    _system("description", "Description", TEXT, "string"),
    _system("issuetype", "Issue Type", SYSTEM, "issuetype", ("issuetype", "type")),
    _system("project", "Project", SYSTEM, "project", editable=False),
    _system("status", "Status", SYSTEM, "status", editable=False),
    _system("priority", "Priority", SYSTEM, "priority"),
    _system("reporter", "Reporter", USER, "user"),
    _system("assignee", "Assignee", USER, "user"),
    _system("creator", "Creator", USER, "user", editable=False),
    _system("labels", "Labels", SYSTEM, "array", items="string"),
    _system(
        "components",
        "Components",
        SYSTEM,
        "array",
        ("component",),
        items="component",
        editable=False,
    ),
    _system("fixVersions", "Fix versions", SYSTEM, "array", ("fixVersion",), items="version"),
    _system(
        "versions",
        "Affects versions",
        SYSTEM,
        "array",
        ("affectedVersion",),
        items="version",
        editable=False,
    ),
    _system(
        "issuelinks",
        "Linked Issues",
        SYSTEM,
        "array",
        ("issueLink",),
        items="issuelinks",
        editable=False,
    ),
    _system("resolution", "Resolution", SYSTEM, "resolution"),
    _system(
        "resolutiondate",
        "Resolved",
        DATETIME,
        "datetime",
        ("resolutiondate", "resolved"),
        editable=False,
    ),
    _system("created", "Created", DATETIME, "datetime", ("created", "createdDate"), editable=False),
    _system("updated", "Updated", DATETIME, "datetime", ("updated", "updatedDate"), editable=False),
    _system("duedate", "Due date", STRING, "date", ("due", "duedate")),
    _system("environment", "Environment", TEXT, "string"),
    _system(
        "subtasks", "Sub-tasks", SYSTEM, "array", ("subtasks",), items="issuelinks", editable=False
    ),
    _system("comment", "Comment", SYSTEM, "comments-page", navigable=False, editable=False),
)


def _custom_kind(schema_type: str, custom: str, items: str) -> str:
    if items == "sd-approvals":
        return APPROVALS
    if schema_type == "array":
        return OPTIONS
    if custom.endswith(":textarea"):
        return TEXT
    return {"option": OPTION, "number": NUMBER, "datetime": DATETIME, "user": USER}.get(
        schema_type, STRING
    )


def _custom_fields() -> tuple[FieldDef, ...]:
    out = []
    for f in JIRA_CUSTOM_FIELDS:
        number = int(f.id.removeprefix("customfield_"))
        schema: dict[str, Any] = {"type": f.schema_type}
        if f.items:
            schema["items"] = f.items
        schema.update({"custom": f.custom, "customId": number})
        kind = _custom_kind(f.schema_type, f.custom, f.items)
        out.append(
            FieldDef(
                f.id, f.name, kind, schema, (f"cf[{number}]", f.name), editable=kind != APPROVALS
            )
        )
    return tuple(out)


FIELDS: dict[str, FieldDef] = {f.id: f for f in (*_SYSTEM_FIELDS, *_custom_fields())}
RENDERED_FIELDS = tuple(fid for fid in FIELDS if fid != "issuekey")
NAVIGABLE_FIELDS = tuple(fid for fid in RENDERED_FIELDS if FIELDS[fid].navigable)


def _options_of(field_id: str) -> tuple[str, ...]:
    if field_id == "customfield_10103":
        return tuple(ci.name for ci in CONFIGURATION_ITEMS)
    if field_id == "customfield_10104":
        return DEPARTMENTS
    return next((f.options for f in JIRA_CUSTOM_FIELDS if f.id == field_id), ())


def _option_ids() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    next_id = 10400
    for f in JIRA_CUSTOM_FIELDS:
        table[f.id] = {}
        for value in _options_of(f.id):
            table[f.id][value] = str(next_id)
            next_id += 1
    return table


OPTION_IDS = _option_ids()
OPTION_BY_ID = {oid: value for options in OPTION_IDS.values() for value, oid in options.items()}


def field_details(fid: str) -> dict[str, Any]:
    """A `FieldDetails` object as `GET /field` returns it."""
    f = FIELDS[fid]
    out: dict[str, Any] = {
        "id": f.id,
        "key": f.id,
        "name": f.name,
        "custom": f.custom,
        "orderable": f.orderable,
        "navigable": f.navigable,
        "searchable": f.searchable,
        "clauseNames": list(f.clause_names),
    }
    if f.schema is not None:
        out["schema"] = f.schema
    return out


def select(tokens: list[str], default: str) -> list[str]:
    """Field ids to return for a `fields` parameter (repeated and/or comma-separated).

    `*all`, `*navigable`, `-field` exclusions, plain ids; `id`/`key` alone select no fields.
    """
    names = [t.strip() for token in tokens for t in token.split(",") if t.strip()] or [default]
    excluded = {n[1:] for n in names if n.startswith("-")}
    wanted: list[str] = []
    positives = [n for n in names if not n.startswith("-")] or ["*navigable"]
    for name in positives:
        if name == "*all":
            wanted.extend(RENDERED_FIELDS)
        elif name == "*navigable":
            wanted.extend(NAVIGABLE_FIELDS)
        elif name in FIELDS and name != "issuekey":
            wanted.append(name)
    # dict.fromkeys keeps the first occurrence of each id, in order
    return [f for f in dict.fromkeys(wanted) if f not in excluded]

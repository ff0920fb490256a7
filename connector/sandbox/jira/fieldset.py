"""The Jira site's fields: system + catalog custom fields, their schemas and option ids.

A `FieldSet` is one site's field configuration. Custom field ids (`customfield_NNNNN`) and
option ids are allocated from the sandbox's random seed, so they differ between instances as
they differ between real sites and nothing can hard-code them; `id_of(name)` finds one.
`GET field` serves `details()`; render.py and the write path ask `fields` how a value is shaped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from connector.sandbox.catalog import (
    CONFIGURATION_ITEMS,
    DEPARTMENTS,
    JIRA_CUSTOM_FIELDS,
    JiraField,
)

# Value kinds, used by render.py and edits.py
OPTION, OPTIONS, TEXT, STRING, NUMBER, DATETIME, USER, APPROVALS, RAW = (
    "option",
    "options",
    "text",
    "string",
    "number",
    "datetime",
    "user",
    "approvals",
    "raw",  # stored already in its JSON shape (Sprint, Team, ...), served as is
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
    options: tuple[str, ...] = ()

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
    navigable: bool = True,
    orderable: bool = True,
    searchable: bool = True,
    editable: bool = True,
) -> FieldDef:
    schema: dict[str, Any] | None = None
    if stype is not None:
        schema = {"type": stype, "system": fid}
        if items:
            schema["items"] = items
    return FieldDef(
        fid,
        name,
        kind,
        schema,
        clauses or (fid,),
        navigable=navigable,
        orderable=orderable,
        searchable=searchable,
        editable=editable,
    )


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


_KINDS = {
    "select": OPTION,
    "radiobuttons": OPTION,
    "multicheckboxes": OPTIONS,
    "multiselect": OPTIONS,
    "textarea": TEXT,
    "textfield": STRING,
    "datepicker": STRING,  # "2026-11-20"
    "gh-lexo-rank": STRING,
    "float": NUMBER,
    "jsw-story-points": NUMBER,
    "datetime": DATETIME,
    "userpicker": USER,
    "sd-approvals": APPROVALS,
}


def _kind(f: JiraField) -> str:
    return _KINDS.get(f.custom.rsplit(":", 1)[-1], RAW)


def _options_of(f: JiraField) -> tuple[str, ...]:
    if f.name == "Affected systems":
        return tuple(ci.name for ci in CONFIGURATION_ITEMS)
    if f.name == "Affected departments":
        return DEPARTMENTS
    return f.options


class FieldSet:
    """One site's fields, numbered from `random_seed`; `cloud` picks the deployment's fields."""

    def __init__(self, *, random_seed: int, cloud: bool) -> None:
        deployment = "cloud" if cloud else "datacenter"
        specs = [f for f in JIRA_CUSTOM_FIELDS if f.deployment in ("", deployment)]
        rng = random.Random(f"jira-fields:{random_seed}")
        # Real sites number custom fields from 10000 up, with gaps where fields were deleted.
        numbers = rng.sample(range(10000, 10000 + 4 * len(specs)), len(specs))
        next_option = rng.randrange(10000, 20000)
        custom: list[FieldDef] = []
        self.option_ids: dict[str, dict[str, str]] = {}
        for spec, number in sorted(zip(specs, numbers, strict=True), key=lambda p: p[1]):
            fid = f"customfield_{number}"
            options = _options_of(spec)
            self.option_ids[fid] = {}
            for value in options:
                self.option_ids[fid][value] = str(next_option)
                next_option += 1
            custom.append(_custom_def(fid, number, spec, options))
        self.fields: dict[str, FieldDef] = {f.id: f for f in (*_SYSTEM_FIELDS, *custom)}
        self.option_by_id = {
            fid: {oid: value for value, oid in options.items()}
            for fid, options in self.option_ids.items()
        }
        self.custom_ids = {f.name: f.id for f in custom}
        self.rendered = tuple(fid for fid in self.fields if fid != "issuekey")
        self.navigable = tuple(fid for fid in self.rendered if self.fields[fid].navigable)

    def __getitem__(self, fid: str) -> FieldDef:
        return self.fields[fid]

    def __contains__(self, fid: object) -> bool:
        return fid in self.fields

    def id_of(self, name: str) -> str:
        """The id of the custom field with this name (KeyError naming it when there is none)."""
        try:
            return self.custom_ids[name]
        except KeyError:
            raise KeyError(f"the Jira sandbox has no custom field named {name!r}") from None

    def context_id(self, fid: str) -> str:
        """The id of the field's one (global, default) context."""
        return str(10100 + list(self.custom_ids.values()).index(fid))

    def details(self, fid: str) -> dict[str, Any]:
        """A `FieldDetails` object as `GET /field` returns it."""
        f = self.fields[fid]
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

    def select(self, tokens: list[str], default: str) -> list[str]:
        """Field ids to return for a `fields` parameter (repeated and/or comma-separated).

        `*all`, `*navigable`, `-field` exclusions, plain ids; `id`/`key` alone select no fields.
        """
        names = [t.strip() for token in tokens for t in token.split(",") if t.strip()] or [default]
        excluded = {n[1:] for n in names if n.startswith("-")}
        wanted: list[str] = []
        positives = [n for n in names if not n.startswith("-")] or ["*navigable"]
        for name in positives:
            if name == "*all":
                wanted.extend(self.rendered)
            elif name == "*navigable":
                wanted.extend(self.navigable)
            elif name in self.fields and name != "issuekey":
                wanted.append(name)
        # dict.fromkeys keeps the first occurrence of each id, in order
        return [f for f in dict.fromkeys(wanted) if f not in excluded]


def _custom_def(fid: str, number: int, spec: JiraField, options: tuple[str, ...]) -> FieldDef:
    schema: dict[str, Any] = {"type": spec.schema_type}
    if spec.items:
        schema["items"] = spec.items
    schema.update({"custom": spec.custom, "customId": number})
    kind = _kind(spec)
    return FieldDef(
        fid,
        spec.name,
        kind,
        schema,
        (f"cf[{number}]", spec.name),
        editable=spec.editable and kind not in (APPROVALS, RAW),
        options=options,
    )

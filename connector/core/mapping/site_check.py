"""`mappings check --live`, the pure part: compare one loaded mapping with one site description.

Rules, each giving one `Problem` naming the file and the dotted key:
- a mapped field is on the site, and its kind suits the converter (a text converter on a
  date-time field reads "2026-11-21T10:00:00.000+0000" as text: error);
- each `map` key is one of the field's allowed options (error); an allowed option without an
  entry (and no `"*"`) is a warning: a ticket with it is skipped;
- Jira: each status in `[status].map` is a status of the site (error); a site status without an
  entry is a warning; each action's transition exists and is offered from the statuses the
  worker uses the action from (offered from none of them: error; from some: warning), and a
  resolution it sends is one the transition's screen allows;
- ServiceNow: the state map, rule values, action states and choice fields written by actions
  are choice values of their column.
A field whose options the site did not show is not checked value by value. A warning that
tickets will be skipped (an option or a status without an entry) fails the check (exit 1)
although the mapping loads: the first sync would skip them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from connector.core.mapping.converters import CONVERTERS
from connector.core.mapping.schema import FieldRef, FieldSpec, Mapping, dotted
from connector.core.mapping.site import Site, SiteField
from connector.core.model import Status

# The connector statuses each worker action is planned from (see planner.steps); `cancelled`
# and the CAB's moves may come from any open status, so they are checked against those.
_OPEN = (
    Status.DRAFT,
    Status.AWAITING_INFO,
    Status.AWAITING_APPROVAL,
    Status.APPROVED,
    Status.SCHEDULED,
)
ACTION_FROM: dict[str, tuple[Status, ...]] = {
    "needs_info": (Status.AWAITING_APPROVAL,),
    "resubmit": (Status.AWAITING_INFO,),
    "approved": (Status.AWAITING_APPROVAL,),
    "scheduled": (Status.APPROVED,),
    "rejected": (Status.AWAITING_APPROVAL, Status.AWAITING_INFO),
    "cancelled": _OPEN,
    "unauthorized_revert": (Status.IMPLEMENTING,),
    "drift": (Status.APPROVED, Status.SCHEDULED),
}

# Which field kinds each converter reads correctly. Jira kinds are `schema.type` (arrays as
# `array:<items>`); ServiceNow kinds are dictionary internal types. A kind in no row (a plugin's
# own type) is not judged.
_JIRA_SCALAR = frozenset({"option", "resolution", "priority", "status", "issuetype", "project"})
_JIRA_TEXT = frozenset({"string", "number", "option-with-child", *_JIRA_SCALAR})
_SN_TEXT = frozenset({"string", "choice", "integer", "decimal", "float", "html", "url", "email"})
_SN_TEXT |= {"translated_text", "translated_field", "sys_class_name", "phone_number_e164"}
FITS: dict[str, frozenset[str]] = {
    "text": _JIRA_TEXT | _SN_TEXT,
    "wiki": frozenset({"string"}),
    "adf": frozenset({"string"}),
    "rich": frozenset({"string"}),
    "option": _JIRA_TEXT | _SN_TEXT | {"boolean"},
    "display": _SN_TEXT | {"reference", "glide_list", "boolean"},
    "number": frozenset({"number", "string", "integer", "decimal", "float", "longint"}),
    "boolean": frozenset({"option", "string", "boolean", "choice"}),
    "multi-option": frozenset({"array:option", "array:string", "array:checkbox"}),
    "labels": frozenset({"array:string"}),
    "components": frozenset({"array:component"}),
    "versions": frozenset({"array:version"}),
    "list": frozenset({"array:option", "array:string", "glide_list", "string", "choice"}),
    "cmdb-ci": frozenset({"reference", "glide_list"}),
    "user": frozenset({"user"}),
    "reference": frozenset({"reference"}),
    "datetime": frozenset({"datetime", "date", "glide_date_time", "glide_date", "due_date"}),
    "links": frozenset({"array:issuelinks"}),
    "sd-approvals": frozenset({"sd-approvals", "array:sd-approvals"}),
}
KNOWN_KINDS = frozenset().union(*FITS.values()) | {"array:user", "array:issuelinks", "any"}
KNOWN_KINDS |= {"timetracking", "securitylevel", "watches", "votes", "comments-page", "progress"}
KNOWN_KINDS |= {"array:attachment", "array:worklog", "array:component", "journal_input"}
KNOWN_KINDS |= {"journal", "glide_duration", "integer_date", "sys_id", "GUID", "array:json"}


# error: the mapping cannot work on this site; skips: tickets (or records) with some value will
# be skipped; warning: something works from some statuses only.
Severity = Literal["error", "skips", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding of the live check: `<file>: <key>: <what is wrong (site has: ...)>`."""

    file: str
    key: str
    message: str
    severity: Severity = "error"

    @property
    def error(self) -> bool:
        return self.severity == "error"

    @property
    def skips(self) -> bool:
        """A warning that tickets will be skipped: the mapping does not cover the site yet."""
        return self.severity == "skips"

    @property
    def line(self) -> str:
        prefix = "" if self.error else "warning: "
        return f"{self.file}: {self.key}: {prefix}{self.message}"


def check_site(mapping: Mapping, site: Site, *, file: str) -> list[Problem]:
    """Every problem of `mapping` against `site`, errors and warnings, in file order."""
    found = list(_fields(mapping, site))
    if site.system == "jira":
        found += _jira_statuses(mapping, site)
        found += _jira_actions(mapping, site)
    else:
        found += _sn_statuses(mapping, site)
        found += _sn_actions(mapping, site)
    return [Problem(file, key, message, severity) for key, message, severity in found]


Found = Iterator[tuple[str, str, Severity]]


def _fields(mapping: Mapping, site: Site) -> Found:
    for attr, spec in mapping.fields.items():
        key = dotted("fields", attr)
        if spec.converter == "sn-approvals":
            continue  # its source is the related approvals table, not a column
        tokens = spec.map is not None and CONVERTERS[spec.converter].output in ("one", "many")
        for ref in spec.source if isinstance(spec.source, tuple) else (spec.source,):
            field, problem = _source(key, spec, ref, site)
            if problem is not None:
                yield problem
            elif field is not None and tokens:
                yield from _value_map(key, spec, field)


def _source(
    key: str, spec: FieldSpec, ref: str | FieldRef, site: Site
) -> tuple[SiteField | None, tuple[str, str, Severity] | None]:
    """The site field a source reads (None for a path inside it), or the problem with it."""
    path, unresolved = _resolve(ref, site)
    if path is None:
        return None, (f"{key}.source", unresolved, "error")
    # Jira reaches inside a field with dots (`fixVersions.0`); a ServiceNow dot-walk
    # (`requested_by.email`) is read through its first column: either way the first part
    # must exist, and only a whole field has the kind of its schema.
    field_id = path.split(".", 1)[0]
    field = site.field(field_id)
    if field is None:
        return None, (
            f"{key}.source",
            f"no field {field_id!r} on the site{_near(field_id, site)}",
            "error",
        )
    if path != field_id:
        return None, None
    if field.kind in KNOWN_KINDS and field.kind not in FITS[spec.converter]:
        fits = ", ".join(sorted(n for n, kinds in FITS.items() if field.kind in kinds)) or "-"
        return None, (
            f"{key}.converter",
            f"converter {spec.converter!r} cannot read {field.describe()}, a {field.kind} "
            f"field (site has: {field.kind}; use: {fits})",
            "error",
        )
    return field, None


def _resolve(ref: str | FieldRef, site: Site) -> tuple[str | None, str]:
    """A source path, with a Jira field named by name replaced by its id on this site."""
    if isinstance(ref, str):
        return ref, ""
    named = site.named(ref.name)
    if len(named) != 1:
        ids = ", ".join(f.id for f in named)
        what = f"{len(named)} fields are named so: {ids}" if named else "no field of that name"
        return None, f"field name {ref.name!r}: {what} on the site (name it by id)"
    return (f"{named[0].id}.{ref.path}" if ref.path else named[0].id), ""


def _value_map(key: str, spec: FieldSpec, field: SiteField) -> Found:
    if field.options is None:
        return
    assert spec.map is not None
    folded = {o.casefold(): o for o in field.options}
    shown = _options(field)
    for raw in spec.map:
        if raw in ("*", "") or raw.casefold() in folded:
            continue
        yield (
            dotted(key, "map", raw),
            f"{raw!r} is not an option of {field.describe()} (site has: {shown})",
            "error",
        )
    if "*" in spec.map:
        return
    keys = {k.casefold() for k in spec.map}
    for option in field.options:
        if option.casefold() not in keys:
            yield (
                dotted(key, "map"),
                f"option {_label(field, option)} of {field.describe()} has no entry: tickets "
                'with it are skipped (add it, or "*" for the rest)',
                "skips",
            )


def _label(field: SiteField, value: str) -> str:
    label = field.label_of(value)
    return repr(value) if label == value else f"{value!r} ({label})"


def _options(field: SiteField) -> str:
    values = field.options or ()
    return ", ".join(_label(field, v) for v in values) or "no options"


def _near(field_id: str, site: Site) -> str:
    named = site.named(field_id)
    if named:
        return f" (site has a field named so: {', '.join(f.id for f in named)})"
    return ""


# ---- Jira workflow -------------------------------------------------------------------------


def _jira_statuses(mapping: Mapping, site: Site) -> Found:
    if mapping.status is None:
        return
    yield from _rules(mapping, site)
    if not site.statuses:
        return
    names = ", ".join(s.name for s in site.statuses)
    for native in mapping.status.map:
        if site.status(native) is None:
            key = dotted("status", "map", native)
            yield key, f"no status {native!r} in the workflow (site has: {names})", "error"
    if mapping.status.default is not None:
        return
    mapped = {n.casefold() for n in mapping.status.map}
    for status in site.statuses:
        if status.name.casefold() not in mapped:
            yield (
                "status.map",
                f"status {status.name!r} ({status.category or 'no category'}) has no entry: "
                "tickets in it are skipped",
                "skips",
            )


def native_statuses(mapping: Mapping, wanted: tuple[Status, ...]) -> list[str]:
    """The native statuses the status map sends to any of `wanted`, in map order."""
    if mapping.status is None:
        return []
    return [native for native, status in mapping.status.map.items() if status in wanted]


def _jira_actions(mapping: Mapping, site: Site) -> Found:
    for name, action in mapping.actions.items():
        key = dotted("actions", name, "transition")
        offered = site.transition(action.transition)
        if not offered:
            names = ", ".join(sorted({t.name for t in site.transitions})) or "none seen"
            yield key, f"no transition named {action.transition!r} (site has: {names})", "error"
            continue
        yield from _reachable(key, action.transition, mapping, site, name)
        yield from _resolution(dotted("actions", name, "fields"), action.fields, offered)


def _reachable(key: str, transition: str, mapping: Mapping, site: Site, action: str) -> Found:
    offered = site.transition(transition)
    sources = [s for s in native_statuses(mapping, ACTION_FROM[action]) if site.was_sampled(s)]
    if not sources:
        return
    missing = [s for s in sources if not any(t.offered_from(s) for t in offered)]
    if not missing:
        return
    froms = sorted({f for t in offered for f in t.from_statuses})
    where = "any status (global)" if any(t.is_global for t in offered) else ", ".join(froms)
    yield (
        key,
        f"transition {transition!r} is not offered from {', '.join(map(repr, missing))}, where "
        f"the worker uses {action!r} (site has it from: {where or 'no sampled status'})",
        "error" if len(missing) == len(sources) else "warning",
    )


def _resolution(key: str, fields: dict[str, Any], offered: list[Any]) -> Found:
    value = fields.get("resolution")
    name = value.get("name") if isinstance(value, dict) else None
    allowed = sorted({r for t in offered for r in t.resolutions})
    if not isinstance(name, str) or not allowed:
        if any(t.needs_resolution for t in offered) and value is None:
            yield key, "the transition needs a resolution: add fields.resolution", "error"
        return
    if name.casefold() not in {r.casefold() for r in allowed}:
        yield (
            dotted(key, "resolution"),
            f"resolution {name!r} is not allowed (site has: {', '.join(allowed)})",
            "error",
        )


# ---- ServiceNow choices --------------------------------------------------------------------


def _rules(mapping: Mapping, site: Site) -> Found:
    """Rule values of a column with known options (choices, Jira resolutions) are options."""
    assert mapping.status is not None
    for n, rule in enumerate(mapping.status.rules):
        for column, want in rule.when.items():
            for value in [want] if isinstance(want, str) else want:
                key = dotted("status", "rules", n, "when", column)
                yield from _choice(key, column, value, site)


def _sn_statuses(mapping: Mapping, site: Site) -> Found:
    if mapping.status is None:
        return
    source = mapping.status.source
    for native in mapping.status.map:
        yield from _choice(dotted("status", "map", native), source, native, site)
    yield from _rules(mapping, site)
    field = site.field(source)
    if mapping.status.default is None and field is not None and field.options is not None:
        mapped = {n.casefold() for n in mapping.status.map}
        for value in field.options:
            if value.casefold() not in mapped:
                yield (
                    "status.map",
                    f"{source} {_label(field, value)} has no entry: records in it are skipped",
                    "skips",
                )


def _sn_actions(mapping: Mapping, site: Site) -> Found:
    for name, action in mapping.actions.items():
        if action.state:
            yield from _choice(dotted("actions", name, "state"), "state", action.state, site)
        for column, value in action.fields.items():
            key = dotted("actions", name, "fields", column)
            if site.field(column) is None:
                yield key, f"no column {column!r} on {site.table or 'the table'}", "error"
            elif isinstance(value, str | int | bool):
                yield from _choice(key, column, _text(value), site)


def _choice(key: str, column: str, value: str, site: Site) -> Found:
    field = site.field(column)
    if field is None or field.options is None or field.kind == "boolean":
        return
    if value.casefold() not in {o.casefold() for o in field.options}:
        yield key, f"{value!r} is not a choice of {column} (site has: {_options(field)})", "error"


def _text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

"""Read a source's site description (`mapping.site.Site`) through its adapter: the shell of
`mappings init --live` and `mappings check --live`.

Jira: the fields (`GET /field`), the projects' statuses with their categories, one in-scope
issue per status as a sample (its transitions, with the resolutions their screens allow, and
its edit metadata's `allowedValues`), and the options of custom option fields the edit
metadata does not show, from field contexts when the user may read them (administrators only).
ServiceNow: the change table's dictionary and choice lists (its own and its parent `task`'s).
The pure parts (parsing, checking, rendering) live in `connector.core.mapping`.
"""

from __future__ import annotations

from collections.abc import Sequence

from connector.core.errors import ConfigError
from connector.core.mapping import Mapping
from connector.core.mapping import site_read as parse
from connector.core.mapping.site import Site, SiteField, SiteStatus, SiteTransition
from connector.systems import site_reads as read
from connector.systems.jira import JiraAdapter
from connector.systems.servicenow import ServiceNowAdapter
from connector.systems.servicenow_meta import TABLE_PARENTS

_OPTION_KINDS = frozenset({"option", "array:option", "option-with-child"})


def read_site(
    adapter: JiraAdapter | ServiceNowAdapter,
    *,
    mapping: Mapping | None = None,
    projects: Sequence[str] = (),
    issue_types: Sequence[str] = (),
) -> Site:
    """The site behind `adapter`, scoped by the mapping (check) or the given scope (init)."""
    if isinstance(adapter, JiraAdapter):
        scope = mapping.scope if mapping is not None else None
        return read_jira(
            adapter,
            projects=tuple(projects or (scope.projects if scope else ())),
            issue_types=tuple(issue_types or (scope.issue_types if scope else ()) or ("Change",)),
            jql=scope.jql if scope else "",
        )
    table = mapping.scope.table if mapping is not None else "change_request"
    return read_servicenow(adapter, table=table)


# ---- Jira ----------------------------------------------------------------------------------


def read_jira(
    adapter: JiraAdapter, *, projects: tuple[str, ...], issue_types: tuple[str, ...], jql: str
) -> Site:
    fields = parse.jira_fields(read.jira_fields(adapter))
    if not projects:  # init without --project: the projects that have the issue type
        projects = _projects_with(adapter, issue_types)
    statuses: dict[str, SiteStatus] = {}
    for key in projects:
        listed = read.jira_get(adapter, f"project/{key}/statuses")
        for found in parse.jira_statuses(listed, issue_types):
            statuses.setdefault(found.name, found)
    scope = _jql(projects, issue_types, jql)
    samples = _one_issue_per_status(adapter, scope, list(statuses))
    seen: list[SiteTransition] = []
    options: dict[str, tuple[str, ...]] = {}
    for status, key in samples.items():
        offered = read.jira_transitions(adapter, key)
        seen += parse.jira_transitions(status, offered)
        for target in parse.transition_statuses(offered):
            statuses.setdefault(target.name, target)
        for field_id, values in parse.editmeta_options(
            read.jira_get(adapter, f"issue/{key}/editmeta")
        ).items():
            options[field_id] = tuple(dict.fromkeys((*options.get(field_id, ()), *values)))
    transitions = parse.merge_transitions(seen)
    return Site(
        system="jira",
        source=adapter.name,
        projects=projects,
        issue_types=issue_types,
        fields=_with_options(adapter, fields, options, transitions),
        statuses=tuple(statuses.values()),
        transitions=transitions,
        sampled=tuple(samples),
    )


def _projects_with(adapter: JiraAdapter, issue_types: tuple[str, ...]) -> tuple[str, ...]:
    """Keys of the projects that have one of the issue types (`GET /project?expand=issueTypes`;
    a project listed without its issue types is asked for its statuses per issue type)."""
    wanted = {t.casefold() for t in issue_types}
    keys = []
    for project in read.jira_get(adapter, "project", {"expand": "issueTypes"}) or []:
        types = project.get("issueTypes")
        if types is None:
            types = read.jira_get(adapter, f"project/{project['key']}/statuses")
        if any(str(t.get("name", "")).casefold() in wanted for t in types):
            keys.append(str(project["key"]))
    return tuple(keys)


def _jql(projects: tuple[str, ...], issue_types: tuple[str, ...], jql: str) -> str:
    parts = []
    if projects:
        parts.append(f"project in ({', '.join(_quote(p) for p in projects)})")
    if issue_types:
        parts.append(f"issuetype in ({', '.join(_quote(t) for t in issue_types)})")
    if jql:
        parts.append(f"({jql})")
    return " AND ".join(parts)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _one_issue_per_status(adapter: JiraAdapter, scope: str, statuses: list[str]) -> dict[str, str]:
    """Status -> the key of one in-scope issue in it (statuses nobody is in are left out).

    One search per status, so a status with few issues is sampled as surely as a busy one."""
    out: dict[str, str] = {}
    for status in statuses:
        jql = f"{scope} AND status = {_quote(status)}" if scope else f"status = {_quote(status)}"
        first = next(iter(adapter.search(jql, fields="status")), None)
        if first is not None:
            out[status] = str(first["key"])
    return out


def _with_options(
    adapter: JiraAdapter,
    fields: list[SiteField],
    options: dict[str, tuple[str, ...]],
    transitions: tuple[SiteTransition, ...],
) -> tuple[SiteField, ...]:
    resolutions = tuple(dict.fromkeys(r for t in transitions for r in t.resolutions))
    if resolutions:
        options.setdefault("resolution", resolutions)
    contexts_readable = True
    out = []
    for field in fields:
        values = options.get(field.id)
        if values is None and contexts_readable and field.custom and field.kind in _OPTION_KINDS:
            raw = read.jira_context_options(adapter, field.id)
            contexts_readable = raw is not None  # refused once: refused for every field
            values = parse.context_options(raw) if raw is not None else None
        out.append(field.model_copy(update={"options": values}) if values is not None else field)
    return tuple(out)


# ---- ServiceNow ----------------------------------------------------------------------------


def read_servicenow(adapter: ServiceNowAdapter, *, table: str) -> Site:
    """The table's columns and choice lists, through the adapter's dictionary and choice reads
    (the table's own definitions first, then its parents')."""
    dictionary = adapter.dictionary(table)
    if not dictionary:
        # An instance answers a read its ACLs deny with no rows, not with an error.
        raise ConfigError(
            f"{adapter.name}: sys_dictionary lists no column of {table!r}: the table does not "
            "exist, or the integration user may not read sys_dictionary"
        )
    choices = [
        {"name": table, "element": element, **choice, "inactive": str(choice["inactive"]).lower()}
        for element, listed in adapter.choices(table).items()
        for choice in listed
    ]
    tables = (table, *TABLE_PARENTS.get(table, ()))
    return Site(
        system="servicenow",
        source=adapter.name,
        table=table,
        fields=parse.sn_fields(dictionary, choices, tables=tables),
    )

"""Issue routes: get, edit, create, delete, edit/create metadata and workflow transitions.

Every write that changes something bumps `updated` (ms precision, the sandbox clock),
appends a changelog history authored by the caller and fires a webhook; a write that
changes nothing does none of these, as in Jira. Each write route needs its project permission
(catalog.jira_permissions): the integration user may edit and transition, not create or delete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.sandbox.catalog import JIRA_ISSUE_TYPES, JIRA_PROJECTS
from connector.sandbox.jira import comment_text, render, workflow
from connector.sandbox.jira.edits import EditError, apply, parse_value, plan_edit
from connector.sandbox.jira.fieldset import OPTION, OPTIONS, FieldSet
from connector.sandbox.jira.http import NO_ISSUE, Ctx, JiraError
from connector.sandbox.jira.routes_properties import (
    body_properties,
    issue_properties,
    requested,
    set_properties,
)
from connector.sandbox.jira.store import Comment, Issue

if TYPE_CHECKING:
    from connector.sandbox.jira import JiraSimulator

_CREATE_REQUIRED = ("project", "issuetype", "summary")


def register(sim: JiraSimulator, version: str) -> None:
    key = "/issue/{issueIdOrKey}"
    sim.route("GET", version, key, lambda ctx: get_issue(sim, ctx))
    sim.route("PUT", version, key, lambda ctx: edit_issue(sim, ctx), permission="EDIT_ISSUES")
    sim.route("DELETE", version, key, lambda ctx: delete_issue(sim, ctx))
    sim.route(
        "POST",
        version,
        "/issue",
        lambda ctx: create_issue(sim, ctx),
        status=201,
        permission="CREATE_ISSUES",
    )
    sim.route("GET", version, key + "/editmeta", lambda ctx: editmeta(sim, ctx))
    meta = "/issue/createmeta/{projectIdOrKey}/issuetypes"
    sim.route("GET", version, meta, create_issue_types)
    sim.route("GET", version, meta + "/{issueTypeId}", create_fields)
    sim.route("GET", version, key + "/transitions", lambda ctx: get_transitions(sim, ctx))
    sim.route(
        "POST",
        version,
        key + "/transitions",
        lambda ctx: do_transition(sim, ctx),
        permission="TRANSITION_ISSUES",
    )


def find(sim: JiraSimulator, ctx: Ctx) -> Issue:
    issue = sim.store.get(str(ctx.request.path_params["issueIdOrKey"]))
    if issue is None:
        raise JiraError(404, [NO_ISSUE])
    return issue


def _expand(ctx: Ctx) -> set[str]:
    return {p.strip() for p in (ctx.param("expand") or "").split(",") if p.strip()}


def get_issue(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    issue = find(sim, ctx)
    expand = _expand(ctx)
    out = render.issue_json(
        issue, ctx.view, ctx.view.fs.select(ctx.params("fields"), "*all"), expand
    )
    if "transitions" in expand:
        out["transitions"] = sim.transitions_json(issue, ctx.view, with_fields=False)
    properties = requested(ctx.params("properties"))
    if properties:
        out["properties"] = issue_properties(issue, properties)
    return out


def _body(ctx: Ctx) -> dict[str, Any]:
    if not isinstance(ctx.body, dict):
        raise JiraError(400, ["Can not deserialize the request body: a JSON object is expected."])
    return ctx.body


def edit_issue(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any] | None:
    """Fields, comments added or edited through `update.comment` and issue properties, validated
    as a whole before anything is written (a refused edit writes nothing). Cloud's `returnIssue=
    true` answers 200 with the issue and the fields the edit named; else 204."""
    issue = find(sim, ctx)
    body = _body(ctx)
    properties = body_properties(body)
    update = dict(body.get("update") or {})
    adds, edits = comment_ops(issue, update.pop("comment", []), ctx)
    new = plan_edit(
        issue,
        {"fields": body.get("fields"), "update": update},
        version=ctx.view.version,
        cloud=ctx.view.cloud,
        fs=ctx.view.fs,
    )
    items = apply(issue, new, cloud=ctx.view.cloud, fs=ctx.view.fs)
    set_properties(issue, properties)
    sim.commit(issue, ctx.user.login, items, "issue_updated")
    for comment in adds:
        # Jira documents comment properties on the comment resource only: a comment an edit
        # adds keeps none (nor JSM's internal flag), whatever the body said.
        added = {k: v for k, v in comment.items() if k != "properties"}
        sim.add_comment(issue, ctx.user.login, added, ctx.view.version)
    for found, change in edits:
        sim.edit_comment(issue, found, ctx.user.login, change, ctx.view.version)
    if not (ctx.view.cloud and (ctx.param("returnIssue") or "").lower() == "true"):
        return None
    edited = [*(body.get("fields") or {}), *(body.get("update") or {})]
    return render.issue_json(issue, ctx.view, ctx.view.fs.select(edited, ""), _expand(ctx))


def comment_ops(
    issue: Issue, ops: Any, ctx: Ctx
) -> tuple[list[dict[str, Any]], list[tuple[Comment, dict[str, Any]]]]:
    """The comments an edit's `update.comment` adds (`{"add": {...}}`) and edits (`{"edit":
    {"id", "body"}}`), each checked as the comment routes check them (a body, properties within
    their limit, a comment of this issue the caller may edit) before the edit writes anything;
    `remove` is refused here (the connector never removes a comment)."""
    adds: list[dict[str, Any]] = []
    edits: list[tuple[Comment, dict[str, Any]]] = []
    for op in ops if isinstance(ops, list) else [ops]:
        verb = next(iter(op), None) if isinstance(op, dict) and len(op) == 1 else None
        if verb not in ("add", "edit") or not isinstance(op[verb], dict):
            raise EditError({"comment": "Operation must be a single {add|edit: comment} object"})
        comment_text(op[verb].get("body"), ctx.view.version)
        body_properties(op[verb])
        if verb == "add":
            adds.append(op[verb])
            continue
        wanted = str(op[verb].get("id", ""))
        found = next((c for c in issue.comments if str(c.id) == wanted), None)
        if found is None:
            raise EditError({"comment": f"Can not find a comment for the id: {wanted}."})
        own = found.author == ctx.user.login and ctx.allowed("EDIT_OWN_COMMENTS")
        if not own and not ctx.allowed("EDIT_ALL_COMMENTS"):
            raise JiraError(403, ["You do not have the permission to edit this comment."])
        edits.append((found, op[verb]))
    if adds:
        ctx.require("ADD_COMMENTS")
    return adds, edits


def delete_issue(sim: JiraSimulator, ctx: Ctx) -> None:
    """Browse + Delete issues; the issue is gone (404 on every read) and issue_deleted fires."""
    issue = find(sim, ctx)
    ctx.require("DELETE_ISSUES")
    sim.delete_issue(issue, ctx.user.login)


def create_issue(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    body = _body(ctx)
    raw = dict(body.get("fields") or {})
    fs = ctx.view.fs
    missing = {
        f: f"{fs[f].name} is required." if f in fs else f"{f} is required."
        for f in _CREATE_REQUIRED
        if not raw.get(f)
    }
    if missing:
        raise EditError(missing)
    project = _project_key(raw.pop("project"))
    unknown = {
        f: f"Field '{f}' cannot be set. It is not on the appropriate screen, or unknown."
        for f in raw
        if f not in fs or not fs[f].editable
    }
    if unknown:
        raise EditError(unknown)
    now = sim.state.now()
    fields: dict[str, Any] = {
        "status": "Draft",
        "priority": "Medium",
        "labels": [],
        "fixVersions": [],
        "resolution": None,
        "resolutiondate": None,
        "reporter": ctx.user.login,
        "assignee": None,
        fs.id_of("Approvals"): [],
        "created": now,
        "updated": now,
    }
    errors: dict[str, str] = {}
    for fid, value in raw.items():
        try:
            fields[fid] = parse_value(
                fid, value, version=ctx.view.version, cloud=ctx.view.cloud, fs=fs
            )
        except EditError as exc:
            errors.update(exc.errors)
    if errors:
        raise EditError(errors)
    fields["creator"] = ctx.user.login
    issue = sim.store.add(project, fields)
    sim.hooks.issue_event("jira:issue_created", "issue_created", issue, ctx.user.login)
    return {"id": str(issue.id), "key": issue.key, "self": f"{ctx.view.api}/issue/{issue.id}"}


def _project_key(raw: Any) -> str:
    wanted = raw if isinstance(raw, dict) else {}
    for key, _, pid in JIRA_PROJECTS:
        if wanted.get("key") == key or str(wanted.get("id")) == pid:
            return key
    raise EditError({"project": "valid project is required"})


def _field_meta(fid: str, fs: FieldSet, view: render.View) -> dict[str, Any]:
    """`FieldMetadata`: how to set the field, with its options when it has some."""
    f = fs[fid]
    out: dict[str, Any] = {
        "required": fid == "summary",
        "schema": f.schema,
        "name": f.name,
        "key": fid,
        "operations": ["set", "add", "remove"]
        if f.kind == OPTIONS or fid in ("labels", "fixVersions")
        else ["set"],
    }
    if f.kind in (OPTION, OPTIONS):
        out["allowedValues"] = [render.option(fid, value, view) for value in f.options]
    elif fid == "resolution":
        out["allowedValues"] = workflow.resolution_values(view)
    elif fid == "fixVersions":
        out["allowedValues"] = [render.version(name, view) for name in render.VERSION_IDS]
    return out


def _editable(fs: FieldSet) -> list[str]:
    return [fid for fid, f in fs.fields.items() if f.editable and f.schema is not None]


def editmeta(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    """The edit screen's fields for a caller who may edit the issue (Browse + Edit issues)."""
    find(sim, ctx)
    if not ctx.allowed("EDIT_ISSUES"):
        return {"fields": {}}
    return {
        "fields": {fid: _field_meta(fid, ctx.view.fs, ctx.view) for fid in _editable(ctx.view.fs)}
    }


def _creatable(ctx: Ctx) -> None:
    """Create metadata lists what the caller may create: without Create issues, nothing."""
    from connector.sandbox.jira.routes_meta import project_key

    project_key(ctx)
    if not ctx.allowed("CREATE_ISSUES"):
        raise JiraError(400, ["You do not have permission to create issues in this project."])


def create_issue_types(ctx: Ctx) -> dict[str, Any]:
    _creatable(ctx)
    types = [render.issuetype(name, ctx.view) for _, name in JIRA_ISSUE_TYPES]
    return {"maxResults": 50, "startAt": 0, "total": len(types), "issueTypes": types}


def create_fields(ctx: Ctx) -> dict[str, Any]:
    _creatable(ctx)
    wanted = str(ctx.request.path_params["issueTypeId"])
    if wanted not in {tid for tid, _ in JIRA_ISSUE_TYPES}:
        raise JiraError(400, [f"The issue type with id '{wanted}' does not exist."])
    fs = ctx.view.fs
    fields = [
        {**_field_meta(fid, fs, ctx.view), "fieldId": fid, "hasDefaultValue": False}
        for fid in ("project", "issuetype", *_editable(fs))
    ]
    for meta in fields:
        meta["required"] = meta["fieldId"] in _CREATE_REQUIRED
    start = max(ctx.int_param("startAt", 0), 0)
    limit = min(max(ctx.int_param("maxResults", 50), 1), 200)
    return {
        "maxResults": limit,
        "startAt": start,
        "total": len(fields),
        "fields": fields[start : start + limit],
    }


def get_transitions(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    issue = find(sim, ctx)
    with_fields = "transitions.fields" in _expand(ctx)
    transitions = sim.transitions_json(issue, ctx.view, with_fields=with_fields)
    wanted = ctx.param("transitionId")
    if wanted:
        transitions = [t for t in transitions if t["id"] == wanted]
    return {"expand": "transitions", "transitions": transitions}


def do_transition(sim: JiraSimulator, ctx: Ctx) -> None:
    issue = find(sim, ctx)
    body = _body(ctx)
    properties = body_properties(body)
    transition, new = workflow.plan(
        issue, body, version=ctx.view.version, cloud=ctx.view.cloud, fs=ctx.view.fs
    )
    values = workflow.target_values(transition, new, sim.state.now())
    if (body.get("update") or {}).get("comment"):
        ctx.require("ADD_COMMENTS")
    if transition.requires_resolution and not ctx.allowed("RESOLVE_ISSUES"):
        raise EditError({"resolution": "Field 'resolution' cannot be set."})
    items = apply(issue, values, cloud=ctx.view.cloud, fs=ctx.view.fs)
    set_properties(issue, properties)
    sim.commit(issue, ctx.user.login, items, "issue_generic")
    for op in (body.get("update") or {}).get("comment") or []:
        sim.add_comment(issue, ctx.user.login, (op.get("add") or {}), ctx.view.version)

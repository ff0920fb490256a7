"""Issue routes: get, edit, create, editmeta and workflow transitions.

Every write that changes something bumps `updated` (ms precision, the sandbox clock),
appends a changelog history authored by the caller and fires a webhook; a write that
changes nothing does none of these, as in Jira.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.sandbox.catalog import JIRA_PROJECTS
from connector.sandbox.jira import render, workflow
from connector.sandbox.jira.edits import EditError, apply, parse_value, plan_edit
from connector.sandbox.jira.fieldset import FIELDS, select
from connector.sandbox.jira.http import NO_ISSUE, Ctx, JiraError
from connector.sandbox.jira.routes_properties import (
    body_properties,
    issue_properties,
    requested,
    set_properties,
)
from connector.sandbox.jira.store import Issue

if TYPE_CHECKING:
    from connector.sandbox.jira import JiraSimulator

_CREATE_REQUIRED = ("project", "issuetype", "summary")


def register(sim: JiraSimulator, version: str) -> None:
    key = "/issue/{issueIdOrKey}"
    sim.route("GET", version, key, lambda ctx: get_issue(sim, ctx))
    sim.route("PUT", version, key, lambda ctx: edit_issue(sim, ctx))
    sim.route("POST", version, "/issue", lambda ctx: create_issue(sim, ctx), status=201)
    sim.route("GET", version, key + "/editmeta", lambda ctx: editmeta(sim, ctx))
    sim.route("GET", version, key + "/transitions", lambda ctx: get_transitions(sim, ctx))
    sim.route("POST", version, key + "/transitions", lambda ctx: do_transition(sim, ctx))


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
    out = render.issue_json(issue, ctx.view, select(ctx.params("fields"), "*all"), expand)
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


def edit_issue(sim: JiraSimulator, ctx: Ctx) -> None:
    issue = find(sim, ctx)
    body = _body(ctx)
    properties = body_properties(body)
    update = dict(body.get("update") or {})
    comment_ops = update.pop("comment", [])
    new = plan_edit(
        issue,
        {"fields": body.get("fields"), "update": update},
        version=ctx.view.version,
        cloud=ctx.view.cloud,
    )
    items = apply(issue, new, cloud=ctx.view.cloud)
    set_properties(issue, properties)
    sim.commit(issue, ctx.user.login, items, "issue_updated")
    for op in comment_ops:
        sim.add_comment(issue, ctx.user.login, (op.get("add") or {}), ctx.view.version)


def create_issue(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    body = _body(ctx)
    raw = dict(body.get("fields") or {})
    missing = {
        f: f"{FIELDS[f].name} is required." if f in FIELDS else f"{f} is required."
        for f in _CREATE_REQUIRED
        if not raw.get(f)
    }
    if missing:
        raise EditError(missing)
    project = _project_key(raw.pop("project"))
    unknown = {
        f: f"Field '{f}' cannot be set. It is not on the appropriate screen, or unknown."
        for f in raw
        if f not in FIELDS or not FIELDS[f].editable
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
        "customfield_10122": [],
        "created": now,
        "updated": now,
    }
    errors: dict[str, str] = {}
    for fid, value in raw.items():
        try:
            fields[fid] = parse_value(fid, value, version=ctx.view.version, cloud=ctx.view.cloud)
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


def editmeta(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    find(sim, ctx)
    return {
        "fields": {
            fid: {
                "required": fid == "summary",
                "schema": f.schema,
                "name": f.name,
                "key": fid,
                "operations": ["set", "add", "remove"]
                if f.kind == "options" or fid in ("labels", "fixVersions")
                else ["set"],
            }
            for fid, f in FIELDS.items()
            if f.editable and f.schema is not None
        }
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
    transition, new = workflow.plan(issue, body, version=ctx.view.version, cloud=ctx.view.cloud)
    values = workflow.target_values(transition, new, sim.state.now())
    items = apply(issue, values, cloud=ctx.view.cloud)
    set_properties(issue, properties)
    sim.commit(issue, ctx.user.login, items, "issue_generic")
    for op in (body.get("update") or {}).get("comment") or []:
        sim.add_comment(issue, ctx.user.login, (op.get("add") or {}), ctx.view.version)

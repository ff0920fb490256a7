"""Site routes: serverInfo (how jira 3.10 picks Cloud vs Data Center), myself, mypermissions,
field (+ Cloud field contexts and their options, Administer Jira only), project, statuses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.sandbox.catalog import (
    JIRA_PROJECTS,
    JIRA_STATUSES,
    PERMISSION_NAMES,
    RELEASES,
    jira_permissions,
)
from connector.sandbox.jira import render
from connector.sandbox.jira.http import Ctx, JiraError

if TYPE_CHECKING:
    from connector.sandbox.jira import JiraSimulator

CLOUD_VERSION = ("1001.0.0-SNAPSHOT", [1001, 0, 0])
DC_VERSION = ("9.12.0", [9, 12, 0])


def register(sim: JiraSimulator, version: str) -> None:
    sim.route("GET", version, "/serverInfo", lambda ctx: server_info(sim, ctx))
    sim.route("GET", version, "/myself", myself)
    sim.route("GET", version, "/mypermissions", my_permissions)
    sim.route(
        "GET", version, "/field", lambda ctx: [ctx.view.fs.details(f) for f in ctx.view.fs.fields]
    )
    if sim.cloud:
        context = "/field/{fieldId}/context"
        sim.route("GET", version, context, field_contexts, permission="ADMINISTER")
        sim.route(
            "GET",
            version,
            context + "/{contextId}/option",
            context_options,
            permission="ADMINISTER",
        )
    sim.route(
        "GET",
        version,
        "/project",
        lambda ctx: [project(key, ctx.view, full=False) for key, _, _ in JIRA_PROJECTS],
    )
    sim.route("GET", version, "/project/{projectIdOrKey}", get_project)
    sim.route("GET", version, "/project/{projectIdOrKey}/statuses", project_statuses)


def server_info(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    cloud = ctx.view.cloud
    name, numbers = CLOUD_VERSION if cloud else DC_VERSION
    now = sim.state.now()
    out: dict[str, Any] = {
        "baseUrl": sim.base_url,
        "displayUrl": sim.base_url,
        "version": name,
        "versionNumbers": numbers,
        "deploymentType": "Cloud" if cloud else "Server",
        "buildNumber": 100280 if cloud else 9120000,
        "buildDate": "2026-11-01T00:00:00.000+0000",
        "serverTime": render.timestamp(now, ctx.view.tz),
        "scmInfo": "5d0a1c6e3b2f",
        "serverTitle": "Sandbox Jira",
    }
    if cloud:
        out["serverTimeZone"] = "Etc/UTC"
    return out


def myself(ctx: Ctx) -> dict[str, Any]:
    out = render.user(ctx.user.login, ctx.view) or {}
    out.update(
        {
            "locale": "en_US",
            "groups": {"size": 1, "items": []},
            "applicationRoles": {"size": 1, "items": []},
            "expand": "groups,applicationRoles",
        }
    )
    return out


def project(key: str, view: render.View, *, full: bool) -> dict[str, Any]:
    ref = render.project_ref(key, view)
    out: dict[str, Any] = {
        "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
        **ref,
        "style": "classic",
        "isPrivate": False,
        "properties": {},
    }
    if full:
        out.update(
            {
                "description": f"{ref['name']} (sandbox)",
                "lead": render.user("admin", view),
                "components": [],
                "assigneeType": "UNASSIGNED",
                "roles": {},
                "issueTypes": [render.issuetype("Change", view)],
                "versions": [
                    render.version(name, view) | {"projectId": int(ref["id"])} for name in RELEASES
                ],
            }
        )
    return out


def project_key(ctx: Ctx) -> str:
    wanted = str(ctx.request.path_params["projectIdOrKey"])
    for key, _, pid in JIRA_PROJECTS:
        if wanted.upper() == key or wanted == pid:
            return key
    raise JiraError(404, [f"No project could be found with key '{wanted}'."])


def get_project(ctx: Ctx) -> dict[str, Any]:
    return project(project_key(ctx), ctx.view, full=True)


def project_statuses(ctx: Ctx) -> list[dict[str, Any]]:
    """`IssueTypeWithStatus` per issue type: its workflow's statuses with their categories."""
    project_key(ctx)
    change = render.issuetype("Change", ctx.view)
    return [
        {
            "self": change["self"],
            "id": change["id"],
            "name": change["name"],
            "subtask": False,
            "statuses": [render.status(name, ctx.view) for name in JIRA_STATUSES],
        }
    ]


def my_permissions(ctx: Ctx) -> dict[str, Any]:
    """Which of the asked `permissions` the caller holds (Cloud requires the parameter)."""
    raw = ctx.param("permissions")
    keys = [k.strip() for k in (raw or "").split(",") if k.strip()]
    if not keys and ctx.view.cloud:
        raise JiraError(400, ["The permissions parameter is required."])
    keys = keys or list(PERMISSION_NAMES)
    unknown = [k for k in keys if k not in PERMISSION_NAMES]
    if unknown:
        raise JiraError(400, [f"No project permissions found for permission keys: {unknown[0]}"])
    held = jira_permissions(ctx.user)
    return {
        "permissions": {
            k: {
                "id": str(10 + sorted(PERMISSION_NAMES).index(k)),
                "key": k,
                "name": PERMISSION_NAMES[k],
                "type": "GLOBAL" if k == "ADMINISTER" else "PROJECT",
                "description": "",
                "havePermission": k in held,
            }
            for k in keys
        }
    }


def _custom_field(ctx: Ctx) -> str:
    fid = str(ctx.request.path_params["fieldId"])
    if fid not in ctx.view.fs or not ctx.view.fs[fid].custom:
        raise JiraError(404, ["The custom field was not found."])
    return fid


def _page(values: list[dict[str, Any]], ctx: Ctx) -> dict[str, Any]:
    start = max(ctx.int_param("startAt", 0), 0)
    limit = min(max(ctx.int_param("maxResults", 100), 1), 1000)
    page = values[start : start + limit]
    return {
        "maxResults": limit,
        "startAt": start,
        "total": len(values),
        "isLast": start + limit >= len(values),
        "values": page,
    }


def field_contexts(ctx: Ctx) -> dict[str, Any]:
    """Each field has one global context for every issue type, as a field added by JSM has."""
    fid = _custom_field(ctx)
    context = {
        "id": ctx.view.fs.context_id(fid),
        "name": f"Default Configuration Scheme for {ctx.view.fs[fid].name}",
        "description": "Default configuration scheme generated by Jira",
        "isGlobalContext": True,
        "isAnyIssueType": True,
    }
    return _page([context], ctx)


def context_options(ctx: Ctx) -> dict[str, Any]:
    fid = _custom_field(ctx)
    if str(ctx.request.path_params["contextId"]) != ctx.view.fs.context_id(fid):
        raise JiraError(404, ["The context was not found."])
    options = ctx.view.fs.option_ids[fid]
    if not options:
        raise JiraError(400, ["The custom field doesn't support options."])
    return _page(
        [{"id": oid, "value": value, "disabled": False} for value, oid in options.items()], ctx
    )

"""Site routes: serverInfo (how jira 3.10 picks Cloud vs Data Center), myself, field, project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.sandbox.catalog import JIRA_PROJECTS, JIRA_STATUSES, RELEASES
from connector.sandbox.jira import render
from connector.sandbox.jira.fieldset import FIELDS, field_details
from connector.sandbox.jira.http import Ctx, JiraError

if TYPE_CHECKING:
    from connector.sandbox.jira import JiraSimulator

CLOUD_VERSION = ("1001.0.0-SNAPSHOT", [1001, 0, 0])
DC_VERSION = ("9.12.0", [9, 12, 0])


def register(sim: JiraSimulator, version: str) -> None:
    sim.route("GET", version, "/serverInfo", lambda ctx: server_info(sim, ctx))
    sim.route("GET", version, "/myself", myself)
    sim.route("GET", version, "/field", lambda ctx: [field_details(fid) for fid in FIELDS])
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


def get_project(ctx: Ctx) -> dict[str, Any]:
    return project(_project_key(ctx), ctx.view, full=True)


def project_statuses(ctx: Ctx) -> list[dict[str, Any]]:
    """`IssueTypeWithStatus` per issue type of the project (Browse projects)."""
    _project_key(ctx)
    change = render.issuetype("Change", ctx.view)
    statuses = [render.status(name, ctx.view) for name in JIRA_STATUSES]
    return [{k: change[k] for k in ("self", "id", "name", "subtask")} | {"statuses": statuses}]


def _project_key(ctx: Ctx) -> str:
    wanted = str(ctx.request.path_params["projectIdOrKey"])
    for key, _, pid in JIRA_PROJECTS:
        if wanted.upper() == key or wanted == pid:
            return key
    raise JiraError(404, [f"No project could be found with key '{wanted}'."])

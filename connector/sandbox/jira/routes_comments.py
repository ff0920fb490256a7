"""Comment and issue-property routes.

Comments are paged (startAt/maxResults/total), bodies are wiki in v2 and ADF in v3; adding
or editing one bumps the issue's `updated` and fires comment_created/comment_updated.
Issue properties hold any JSON up to 32 KB, are invisible to users and, as in Jira, do not
change `updated` or write history.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import Response

from connector.sandbox.jira import render
from connector.sandbox.jira.http import Ctx, JiraError
from connector.sandbox.jira.routes_issues import find

if TYPE_CHECKING:
    from connector.sandbox.jira import JiraSimulator

PROPERTY_MAX_BYTES = 32768


def register(sim: JiraSimulator, version: str) -> None:
    base = "/issue/{issueIdOrKey}"
    sim.route("GET", version, base + "/comment", lambda ctx: list_comments(sim, ctx))
    sim.route(
        "POST",
        version,
        base + "/comment",
        lambda ctx: add_comment(sim, ctx),
        status=201,
        permission="ADD_COMMENTS",
    )
    sim.route("GET", version, base + "/comment/{id}", lambda ctx: get_comment(sim, ctx))
    sim.route("PUT", version, base + "/comment/{id}", lambda ctx: edit_comment(sim, ctx))
    sim.route("GET", version, base + "/properties", lambda ctx: property_keys(sim, ctx))
    prop = base + "/properties/{propertyKey}"
    sim.route("GET", version, prop, lambda ctx: get_property(sim, ctx))
    # Setting or deleting an issue property needs Edit issues (Browse is enough to read).
    sim.route("PUT", version, prop, lambda ctx: put_property(sim, ctx), permission="EDIT_ISSUES")
    sim.route(
        "DELETE",
        version,
        prop,
        lambda ctx: delete_property(sim, ctx),
        permission="EDIT_ISSUES",
    )


def list_comments(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    issue = find(sim, ctx)
    start = max(ctx.int_param("startAt", 0), 0)
    limit = min(max(ctx.int_param("maxResults", 5000), 0), 5000)
    # `expand` documents only `renderedBody` here: comment properties are not served (they
    # are read with POST /comment/list), whatever the caller asks for.
    return render.comment_page(issue, ctx.view, start, limit, rendered=_rendered(ctx))


def add_comment(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    issue = find(sim, ctx)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    comment = sim.add_comment(issue, ctx.user.login, body, ctx.view.version)
    return render.comment_json(issue, comment, ctx.view)


def _comment(sim: JiraSimulator, ctx: Ctx) -> tuple[Any, Any]:
    issue = find(sim, ctx)
    wanted = str(ctx.request.path_params["id"])
    comment = next((c for c in issue.comments if str(c.id) == wanted), None)
    if comment is None:
        raise JiraError(404, [f"Can not find a comment for the id: {wanted}."])
    return issue, comment


def get_comment(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    issue, comment = _comment(sim, ctx)
    return render.comment_json(issue, comment, ctx.view, rendered=_rendered(ctx))


def _rendered(ctx: Ctx) -> bool:
    return "renderedBody" in (ctx.param("expand") or "").split(",")


def edit_comment(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    issue, comment = _comment(sim, ctx)
    own = comment.author == ctx.user.login and ctx.allowed("EDIT_OWN_COMMENTS")
    if not own and not ctx.allowed("EDIT_ALL_COMMENTS"):
        raise JiraError(403, ["You do not have the permission to edit this comment."])
    body = ctx.body if isinstance(ctx.body, dict) else {}
    sim.edit_comment(issue, comment, ctx.user.login, body, ctx.view.version)
    return render.comment_json(issue, comment, ctx.view)


def property_keys(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    issue = find(sim, ctx)
    return {
        "keys": [
            {"self": f"{ctx.view.api}/issue/{issue.id}/properties/{k}", "key": k}
            for k in issue.properties
        ]
    }


def get_property(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    issue = find(sim, ctx)
    key = str(ctx.request.path_params["propertyKey"])
    if key not in issue.properties:
        raise JiraError(404, [f"The property with key '{key}' does not exist."])
    return {"key": key, "value": issue.properties[key]}


def put_property(sim: JiraSimulator, ctx: Ctx) -> Response:
    issue = find(sim, ctx)
    key = str(ctx.request.path_params["propertyKey"])
    if len(key) > 255:
        raise JiraError(400, ["The property key cannot be longer than 255 characters."])
    if ctx.body is None:
        raise JiraError(400, ["The property value must be a valid JSON."])
    if len(json.dumps(ctx.body, separators=(",", ":")).encode()) > PROPERTY_MAX_BYTES:
        raise JiraError(
            400,
            [
                f"The property value for key '{key}' is too long. "
                f"The maximum allowed length is {PROPERTY_MAX_BYTES} bytes."
            ],
        )
    created = key not in issue.properties
    issue.properties[key] = ctx.body
    return Response(status_code=201 if created else 200)


def delete_property(sim: JiraSimulator, ctx: Ctx) -> None:
    issue = find(sim, ctx)
    key = str(ctx.request.path_params["propertyKey"])
    if key not in issue.properties:
        raise JiraError(404, [f"The property with key '{key}' does not exist."])
    del issue.properties[key]

"""Entity properties where Jira documents them beyond the property routes themselves.

- Issue properties returned with each issue of a search page (`properties`, up to 5 keys) and
  of `GET /issue/{key}` (`properties=k1,k2`), as the IssueBean's `properties` object.
- Issue properties written inside a transition or an edit (`IssueUpdateDetails.properties`, a
  list of `{key, value}`), each held to the same 32 KB limit as a property PUT.
- Comment properties: `POST /comment/list` with `expand=properties` (Cloud, v2 and v3: up to
  1000 ids, only comments the caller may see) and `GET /comment/{id}/properties[/{key}]`
  (Cloud and Data Center).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from connector.sandbox.jira import render
from connector.sandbox.jira.http import Ctx, JiraError
from connector.sandbox.jira.store import Comment, Issue

if TYPE_CHECKING:
    from connector.sandbox.jira import JiraSimulator

PROPERTY_MAX_BYTES = 32768
SEARCH_PROPERTIES_MAX = 5
COMMENT_LIST_MAX = 1000


def register(sim: JiraSimulator, version: str) -> None:
    if sim.cloud:
        sim.route("POST", version, "/comment/list", lambda ctx: comment_list(sim, ctx))
    base = "/comment/{commentId}/properties"
    sim.route("GET", version, base, lambda ctx: comment_property_keys(sim, ctx))
    sim.route("GET", version, base + "/{propertyKey}", lambda ctx: comment_property(sim, ctx))


def requested(raw: Any, *, limit: int | None = None) -> list[str]:
    """Property keys from a `properties` parameter: comma strings, repeated or as a list."""
    items = raw if isinstance(raw, list) else [raw] if raw else []
    keys = [k.strip() for item in items for k in str(item).split(",") if k.strip()]
    if limit is not None and len(keys) > limit:
        raise JiraError(400, [f"At most {limit} issue properties can be requested."])
    return keys


def issue_properties(issue: Issue, keys: list[str]) -> dict[str, Any]:
    """The IssueBean's `properties`: each requested key the issue has, with its value."""
    return {k: issue.properties[k] for k in keys if k in issue.properties}


def check_size(key: str, value: Any) -> None:
    if len(key) > 255:
        raise JiraError(400, ["The property key cannot be longer than 255 characters."])
    if len(json.dumps(value, separators=(",", ":")).encode()) > PROPERTY_MAX_BYTES:
        raise JiraError(
            400,
            [
                f"The property value for key '{key}' is too long. "
                f"The maximum allowed length is {PROPERTY_MAX_BYTES} bytes."
            ],
        )


def body_properties(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """The `properties` of a transition or edit body, validated before anything is written."""
    raw = body.get("properties")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise JiraError(400, ["Can not deserialize 'properties': a list is expected."])
    out = []
    for item in raw:
        if not isinstance(item, dict) or not item.get("key") or "value" not in item:
            raise JiraError(400, ["Each property needs a key and a value."])
        check_size(str(item["key"]), item["value"])
        out.append((str(item["key"]), item["value"]))
    return out


def set_properties(issue: Issue, properties: list[tuple[str, Any]]) -> None:
    """Write them; as with a property PUT, neither `updated` nor the history changes."""
    for key, value in properties:
        issue.properties[key] = value


def _visible(sim: JiraSimulator, comment_id: int) -> tuple[Issue, Comment] | None:
    for issue in sim.store.issues.values():
        for comment in issue.comments:
            if comment.id == comment_id:
                return issue, comment
    return None


def comment_list(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise JiraError(400, ["The list of comment ids is required."])
    if len(ids) > COMMENT_LIST_MAX:
        raise JiraError(400, [f"A maximum of {COMMENT_LIST_MAX} ids can be specified."])
    expand = {p.strip() for p in (ctx.param("expand") or "").split(",")}
    found = [hit for i in sorted(set(ids)) if (hit := _visible(sim, i)) is not None]
    values = [
        render.comment_json(issue, c, ctx.view, properties="properties" in expand)
        for issue, c in found
    ]
    return {
        "isLast": True,
        "maxResults": COMMENT_LIST_MAX,
        "startAt": 0,
        "total": len(values),
        "values": values,
    }


def _comment(sim: JiraSimulator, ctx: Ctx) -> Comment:
    raw = str(ctx.request.path_params["commentId"])
    hit = _visible(sim, int(raw)) if raw.isdigit() else None
    if hit is None:
        raise JiraError(404, [f"Can not find a comment for the id: {raw}."])
    return hit[1]


def comment_property_keys(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    comment = _comment(sim, ctx)
    api = ctx.view.api
    return {
        "keys": [
            {"self": f"{api}/comment/{comment.id}/properties/{p['key']}", "key": p["key"]}
            for p in comment.properties
            if isinstance(p, dict) and p.get("key")
        ]
    }


def comment_property(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    comment = _comment(sim, ctx)
    key = str(ctx.request.path_params["propertyKey"])
    for p in comment.properties:
        if isinstance(p, dict) and p.get("key") == key:
            return {"key": key, "value": p.get("value")}
    raise JiraError(404, [f"The property with key '{key}' does not exist."])

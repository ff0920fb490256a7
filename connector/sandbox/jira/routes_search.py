"""Search routes, as each deployment has them.

Cloud: `GET/POST search/jql` pages with an opaque `nextPageToken` (offset + a hash of the
query and caller, so a token cannot be replayed on another query), has no `total`, returns
only `id` unless `fields` is sent, refuses an unbounded query and more than 50
`reconcileIssues`; the old `search` is 410 Gone. Data Center: `GET/POST /rest/api/2/search`
with startAt/maxResults/total; no search/jql. Cloud also reads up to 100 named issues at once
(`POST issue/bulkfetch`): those not found or not visible are left out, in ascending id order.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

from connector.sandbox.jira import render
from connector.sandbox.jira.http import Ctx, JiraError
from connector.sandbox.jira.jql import JqlError, Query, parse
from connector.sandbox.jira.routes_properties import (
    SEARCH_PROPERTIES_MAX,
    issue_properties,
    requested,
)

if TYPE_CHECKING:
    from connector.sandbox.jira import JiraSimulator

GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)
UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
BAD_TOKEN = "The provided next page token is invalid or does not match the query."
CLOUD_PAGE_MAX = 100  # pages carrying fields; id/key-only pages may hold up to 5000
ID_ONLY_PAGE_MAX = 5000
RECONCILE_MAX = 50
BULK_FETCH_MAX = 100


def register(sim: JiraSimulator, version: str) -> None:
    if sim.cloud:
        for method in ("GET", "POST"):
            sim.route(method, version, "/search/jql", lambda ctx: search_jql(sim, ctx))
            sim.route(method, version, "/search", _gone)
        sim.route("POST", version, "/issue/bulkfetch", lambda ctx: bulk_fetch(sim, ctx))
    elif version == "2":
        for method in ("GET", "POST"):
            sim.route(method, version, "/search", lambda ctx: search_dc(sim, ctx))


def _gone(ctx: Ctx) -> None:
    raise JiraError(410, [GONE])


class _Params:
    """Search parameters from the query string (GET) or the JSON body (POST)."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.body = ctx.body if isinstance(ctx.body, dict) else {}
        self.post = ctx.request.method == "POST"

    def get(self, name: str) -> Any:
        return self.body.get(name) if self.post else self.ctx.param(name)

    def text(self, name: str) -> str:
        value = self.get(name)
        return "" if value is None else str(value)

    def integer(self, name: str, default: int) -> int:
        value = self.get(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise JiraError(400, [f"The value '{value}' is invalid for {name}."]) from None

    def fields(self) -> list[str]:
        if not self.post:
            return self.ctx.params("fields")
        raw = self.body.get("fields")
        return [raw] if isinstance(raw, str) else [str(f) for f in raw or []]

    def properties(self) -> list[str]:
        raw = self.body.get("properties") if self.post else self.ctx.params("properties")
        return requested(raw, limit=SEARCH_PROPERTIES_MAX)

    def reconcile(self) -> list[int]:
        """`reconcileIssues` (Cloud): issue ids the search must show as they are now; the
        sandbox's search is never stale, so they are only checked (at most 50 ids)."""
        raw = self.body.get("reconcileIssues") if self.post else self.ctx.params("reconcileIssues")
        items = raw if isinstance(raw, list) else [raw] if raw else []
        try:
            ids = [int(i) for i in items]
        except (TypeError, ValueError):
            raise JiraError(400, ["reconcileIssues takes issue ids."]) from None
        if len(ids) > RECONCILE_MAX:
            raise JiraError(400, [f"reconcileIssues accepts at most {RECONCILE_MAX} ids."])
        return ids

    def expand(self) -> set[str]:
        raw = self.get("expand")
        parts = raw if isinstance(raw, list) else str(raw or "").split(",")
        return {p.strip() for p in parts if p and p.strip()}


def _compile(sim: JiraSimulator, ctx: Ctx, jql: str) -> Query:
    try:
        return parse(jql, tz=ctx.view.tz, now=sim.state.now(), known=sim.known_values())
    except JqlError as exc:
        raise JiraError(400, [str(exc)]) from None


def _token(offset: int, query_hash: str) -> str:
    raw = json.dumps({"o": offset, "q": query_hash}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token: str, query_hash: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["q"] == query_hash and isinstance(data["o"], int) and data["o"] >= 0:
            return int(data["o"])
    except (ValueError, KeyError, TypeError):
        pass
    raise JiraError(400, [BAD_TOKEN])


def _cache_key(sim: JiraSimulator, ctx: Ctx, jql: str) -> tuple[str, str]:
    # Relative dates ("-15m") move with the clock: a cached result lives one minute at most.
    minute = int(sim.state.now().timestamp()) // 60
    return (f"{ctx.user.login}@{minute}", jql)


def search_jql(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    params = _Params(ctx)
    jql = params.text("jql")
    query = _compile(sim, ctx, jql)
    if query.where is None:
        raise JiraError(400, [UNBOUNDED])
    params.reconcile()
    query_hash = hashlib.sha256(f"{ctx.user.login}\n{jql}".encode()).hexdigest()[:16]
    token = params.text("nextPageToken")
    offset = _offset(token, query_hash) if token else 0
    tokens = params.fields()
    fields = ctx.view.fs.select(tokens, "id")
    cap = ID_ONLY_PAGE_MAX if not fields else CLOUD_PAGE_MAX
    limit = min(max(params.integer("maxResults", 50), 0) or 50, cap)
    ids = sim.store.search(_cache_key(sim, ctx, jql), query)
    page = ids[offset : offset + limit]
    expand = params.expand()
    keys_only = "key" in {t.strip() for tok in tokens for t in tok.split(",")}
    props = params.properties()
    out: dict[str, Any] = {
        "issues": [_issue(sim, i, ctx.view, fields, expand, keys_only, props) for i in page]
    }
    if offset + limit < len(ids):
        out["nextPageToken"] = _token(offset + limit, query_hash)
    out["isLast"] = "nextPageToken" not in out
    _add_names(out, fields, expand, ctx.view)
    return out


def _issue(
    sim: JiraSimulator,
    issue_id: int,
    view: render.View,
    fields: list[str],
    expand: set[str],
    keys_only: bool,
    properties: list[str],
) -> dict[str, Any]:
    issue = sim.store.issues[issue_id]
    if not fields and not expand:
        out: dict[str, Any] = {"id": str(issue.id)}
        if keys_only:
            out["key"] = issue.key
    else:
        out = render.issue_json(issue, view, fields, expand - {"names", "schema"})
    if "transitions" in expand:
        out["transitions"] = sim.transitions_json(issue, view, with_fields=False)
    if properties:
        out["properties"] = issue_properties(issue, properties)
    return out


def _add_names(out: dict[str, Any], fields: list[str], expand: set[str], view: render.View) -> None:
    if "names" in expand:
        out["names"] = render.names(fields, view.fs)
    if "schema" in expand:
        out["schema"] = render.schemas(fields, view.fs)


def search_dc(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    params = _Params(ctx)
    jql = params.text("jql")
    query = _compile(sim, ctx, jql)
    start = max(params.integer("startAt", 0), 0)
    # The site's maximum (jira.search.views.default.max) caps the page whatever was asked;
    # `maxResults` in the answer says what was applied and `total` still counts every match.
    limit = min(max(params.integer("maxResults", 50), 0), sim.state.options.max_results)
    fields = ctx.view.fs.select(params.fields(), "*navigable")
    expand = params.expand()
    props = params.properties()
    ids = sim.store.search(_cache_key(sim, ctx, jql), query)
    out: dict[str, Any] = {
        "expand": "schema,names",
        "startAt": start,
        "maxResults": limit,
        "total": len(ids),
        "issues": [
            _issue(sim, i, ctx.view, fields, expand, False, props)
            for i in ids[start : start + limit]
        ],
    }
    _add_names(out, fields, expand, ctx.view)
    return out


def bulk_fetch(sim: JiraSimulator, ctx: Ctx) -> dict[str, Any]:
    """`POST issue/bulkfetch`: the issues `issueIdsOrKeys` names (1 to 100, ids and keys
    mixed), ascending by id, each as a search renders it (`fields` defaults to the navigable
    ones, `expand` is a list, at most 5 `properties`). One not found or not visible is not
    returned, and is no error either (`issueErrors` is for retriable failures)."""
    body = ctx.body if isinstance(ctx.body, dict) else {}
    wanted = body.get("issueIdsOrKeys")
    if not isinstance(wanted, list) or not wanted or not all(isinstance(i, str) for i in wanted):
        raise JiraError(400, ["issueIdsOrKeys must name at least one issue id or key."])
    if len(wanted) > BULK_FETCH_MAX:
        raise JiraError(400, [f"You can request at most {BULK_FETCH_MAX} issues."])
    params = _Params(ctx)
    if not isinstance(body.get("expand", []), list):
        raise JiraError(400, ["Can not deserialize 'expand': a list is expected."])
    fields = ctx.view.fs.select(params.fields(), "*navigable")
    expand, props = params.expand(), params.properties()
    found = sorted({issue.id for name in wanted if (issue := sim.store.get(name)) is not None})
    return {
        "issues": [_issue(sim, i, ctx.view, fields, expand, False, props) for i in found],
        "issueErrors": [],
    }

"""Jira REST API simulator: the routes the connector and the `jira` client use, per mode.

    Cloud (SandboxOptions.mode="cloud"): /rest/api/2 and /rest/api/3, email + API token,
        search/jql with page tokens, /search answers 410 Gone.
    Data Center ("datacenter"): /rest/api/2 only, user name + token, /search with totals.

Modules: http (auth, errors, lock), routes_* (endpoints), store (records), render (JSON per
version/mode/caller), edits + workflow (writes), tasks (Cloud's bulk property write and its
asynchronous task), jql (query language), seed (scenario -> issues), webhooks (outbound
events), fieldset (field catalog), adf (v3 rich text).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from connector.sandbox.catalog import (
    JIRA_ISSUE_TYPES,
    JIRA_PROJECTS,
    JIRA_RESOLUTIONS,
    JIRA_STATUSES,
)
from connector.sandbox.jira import adf, render, workflow
from connector.sandbox.jira.edits import EditError
from connector.sandbox.jira.fieldset import FieldSet
from connector.sandbox.jira.http import Handler, endpoint
from connector.sandbox.jira.seed import seed as seed_store
from connector.sandbox.jira.store import ChangeItem, Comment, History, Issue, Store
from connector.sandbox.jira.tasks import Tasks
from connector.sandbox.jira.webhooks import JiraWebhooks
from connector.sandbox.scenario_model import SeedChange
from connector.sandbox.state import SandboxState
from connector.sandbox.webhooks_out import WebhookDispatcher


class JiraSimulator:
    def __init__(self, state: SandboxState, *, base_url: str, webhooks: WebhookDispatcher) -> None:
        from connector.sandbox.jira import (
            routes_comments,
            routes_issues,
            routes_meta,
            routes_properties,
            routes_search,
            routes_servicedesk,
            tasks,
        )

        self.state = state
        self.base_url = base_url
        self.webhooks = webhooks
        self.cloud = state.options.mode == "cloud"
        self.store = Store()
        self.tasks = Tasks()  # asynchronous tasks (bulk property writes), Cloud only
        self.fields = FieldSet(random_seed=state.options.random_seed, cloud=self.cloud)
        self.hooks = JiraWebhooks(state, webhooks, base_url, self.fields)
        self.router = APIRouter()
        for version in ("2", "3") if self.cloud else ("2",):
            for module in (
                routes_meta,
                routes_search,
                routes_issues,
                routes_comments,
                routes_properties,
                tasks,
            ):
                module.register(self, version)
        routes_servicedesk.register(self)

    def seed(self, changes: list[SeedChange]) -> None:
        with self.state.lock:
            seed_store(self.store, changes, self.fields, cloud=self.cloud)

    def index_lag(self, key: str, *, lagging: bool) -> None:
        """Hide an issue from search (the index lags behind) or let the index catch up."""
        with self.state.lock:
            issue = self.store.get(key)
            if issue is None:
                raise KeyError(key)
            if lagging:
                self.store.unindexed.add(issue.id)
            else:
                self.store.unindexed.discard(issue.id)
            self.store.changed()

    def delete(self, key: str, actor: str = "admin") -> None:
        """Delete an issue as `actor` would with DELETE /issue/{key} (sandbox control)."""
        with self.state.lock:
            issue = self.store.get(key)
            if issue is None:
                raise KeyError(key)
            self.delete_issue(issue, actor)

    def delete_issue(self, issue: Issue, actor: str) -> None:
        self.hooks.issue_deleted(issue, actor)
        self.store.remove(issue)

    def route(
        self,
        method: str,
        version: str,
        path: str,
        handler: Handler,
        status: int = 200,
        *,
        permission: str | None = None,
    ) -> None:
        self.router.add_api_route(
            f"/rest/api/{version}{path}",
            endpoint(
                self.state,
                self.base_url,
                version,
                handler,
                status,
                fs=self.fields,
                permission=permission,
            ),
            methods=[method],
            include_in_schema=False,
        )

    def route_at(self, method: str, path: str, handler: Handler, status: int = 200) -> None:
        """A route outside /rest/api/{version} (Jira Service Management's own API)."""
        self.router.add_api_route(
            path,
            endpoint(self.state, self.base_url, "2", handler, status, fs=self.fields),
            methods=[method],
            include_in_schema=False,
        )

    def known_values(self) -> dict[str, list[str]]:
        """Values JQL accepts per field; anything else is a 400, as in Jira."""
        return {
            "project": [key for key, _, _ in JIRA_PROJECTS] + [p for _, _, p in JIRA_PROJECTS],
            "status": list(JIRA_STATUSES),
            "issuetype": [name for _, name in JIRA_ISSUE_TYPES],
            "resolution": [name for _, name in JIRA_RESOLUTIONS],
        }

    def transitions_json(
        self, issue: Issue, view: render.View, *, with_fields: bool
    ) -> list[dict[str, Any]]:
        return [workflow.transition_json(t, view, with_fields) for t in workflow.available(issue)]

    def commit(self, issue: Issue, actor: str, items: list[ChangeItem], type_name: str) -> None:
        """Record a change that happened: updated, history, webhook. No-op when nothing did."""
        if not items:
            return
        now = self.state.now()
        history = History(self.store.new_history_id(), actor, now, items)
        issue.histories.append(history)
        issue.touch(now)
        self.store.changed()
        self.hooks.issue_event("jira:issue_updated", type_name, issue, actor, history=history)

    def add_comment(self, issue: Issue, actor: str, body: dict[str, Any], version: str) -> Comment:
        now = self.state.now()
        comment = Comment(
            self.store.new_comment_id(),
            actor,
            actor,
            comment_text(body.get("body"), version),
            now,
            now,
            visibility=body.get("visibility"),
            properties=list(body.get("properties") or []),
        )
        comment.jsd_public = not _internal(comment.properties)
        issue.comments.append(comment)
        issue.touch(now)
        self.store.changed()
        self.hooks.comment_event("comment_created", issue, comment)
        self.hooks.issue_event(
            "jira:issue_updated", "issue_commented", issue, actor, comment=comment
        )
        return comment

    def edit_comment(
        self, issue: Issue, comment: Comment, actor: str, body: dict[str, Any], version: str
    ) -> None:
        now = self.state.now()
        if "body" in body:
            comment.body = comment_text(body.get("body"), version)
        if "visibility" in body:
            comment.visibility = body.get("visibility")
        comment.update_author = actor
        comment.updated = now
        issue.touch(now)
        self.store.changed()
        self.hooks.comment_event("comment_updated", issue, comment)


def comment_text(raw: Any, version: str) -> str:
    if version == "3":
        if not adf.is_adf(raw):
            raise EditError({"comment": "Comment body is not valid!"})
        text = adf.from_adf(raw)
    elif isinstance(raw, str):
        text = raw
    else:
        raise EditError({"comment": "Comment body is not valid!"})
    if not text.strip():
        raise EditError({"comment": "Comment body can not be empty!"})
    return text


def _internal(properties: list[dict[str, Any]]) -> bool:
    """JSM's `sd.public.comment` property with `internal: true` makes a comment internal."""
    return any(
        p.get("key") == "sd.public.comment" and (p.get("value") or {}).get("internal")
        for p in properties
        if isinstance(p, dict)
    )
